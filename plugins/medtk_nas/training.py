"""What ``medtk train nas`` and ``nas-patch`` hand to the engine for one fold.

Patients are split by the bags' folds (patient-level, so no patient's instances straddle
training and validation). The frozen trunk's features come from the cache (computed once
per weights and instance size), or are recomputed per step with ``--no-cache``; the model
trains on them through the last ResNet stage and the fusion classifier.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from medtk.errors import BadInputError
from medtk_nas.bags import MODALITIES, BagStore
from medtk_nas.models import NasNet, bag_loss, check_variant
from medtk_nas.targets import merge_for

if TYPE_CHECKING:
    from medtk.engine.session import TrainSetup
    from medtk.tasks import TaskContext
    from medtk_nas.options import NasOptions

Features = Callable[[str, str], torch.Tensor]


def held_out_patients(bags: BagStore, labels: np.ndarray, config: NasOptions, fold: int | None):
    """Boolean mask of validation patients: the bags' fold, or a seeded stratified share."""
    if fold is not None:
        if bags.folds != config.folds:
            raise BadInputError(
                f"the bags hold {bags.folds} folds; use --folds {bags.folds} (or 0 for one "
                "split), or rebuild the cohort table with 'medtk preprocess cohort --folds'"
            )
        return np.array([p.fold == fold for p in bags.patients])
    rng = np.random.default_rng(config.seed)
    held = np.zeros(len(labels), dtype=bool)
    for value in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == value))
        held[members[: max(1, round(len(members) * config.val_fraction))]] = True
    return held


def trunk_and_blocks(config: NasOptions, modalities: tuple[str, ...]):
    """The frozen trunk and one trainable block per modality (same starting weights)."""
    from medtk_nas.backbone import resnet18, split

    backbone = resnet18(pretrained=config.pretrained, weights=config.weights, seed=config.seed)
    trunk, block = split(backbone, config.train_blocks)
    for parameter in trunk.parameters():
        parameter.requires_grad_(False)
    return trunk.eval(), {m: copy.deepcopy(block) for m in modalities}


def feature_source(config: NasOptions, ctx: TaskContext, bags: BagStore, trunk) -> Features:
    """``(patient, modality) → trunk features``: from the cache, or recomputed each call."""
    from medtk.engine.device import resolve_device
    from medtk_nas.backbone import fingerprint
    from medtk_nas.cache import feature_cache, read_features, trunk_features

    device = resolve_device(config.device)
    if not config.cache:
        trunk = trunk.to(device)
        return lambda patient, modality: torch.from_numpy(
            trunk_features(trunk, bags.instances(patient, modality), device)
        )
    present = tuple(m for m in MODALITIES if any(m in c for c in bags.counts.values()))
    items = [item for item in bags.items(present) if item[1] in bags.counts[item[0]]]
    key = fingerprint(trunk, bags.size)
    with ctx.progress(transient=True) as progress:
        cache = feature_cache(
            bags.path, key, trunk, items, device, progress=progress, total=len(items)
        )
    memory: dict[tuple[str, str], torch.Tensor] = {}

    def cached(patient: str, modality: str) -> torch.Tensor:
        if (patient, modality) not in memory:
            memory[patient, modality] = torch.from_numpy(read_features(cache, patient, modality))
        return memory[patient, modality]

    return cached


def _subset(instances: torch.Tensor, most: int) -> torch.Tensor:
    """At most ``most`` instances drawn with torch's (seeded, resumable) generator."""
    if not most or len(instances) <= most:
        return instances
    return instances[torch.randperm(len(instances))[:most]]


def scores_metrics(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    """AUC (one-vs-rest macro over classes present) and accuracy of patient predictions."""
    from medtk.metrics.roc import roc_auc

    aucs = []
    for k in range(probabilities.shape[1]):
        positive = labels == k
        if positive.any() and (~positive).any():
            aucs.append(roc_auc(positive.astype(int), probabilities[:, k]))
    if probabilities.shape[1] == 2 and aucs:
        aucs = aucs[1:]  # binary: the AUC of class 1 (class 0's is the same)
    return {
        "val_auc": float(np.mean(aucs)) if aucs else 0.5,
        "val_accuracy": float((probabilities.argmax(1) == labels).mean()),
    }


def prediction_rows(ids: list[str], labels: np.ndarray, probabilities: np.ndarray) -> list[dict]:
    """``predictions.csv`` rows: ``score`` for two classes, ``score_0 …`` for more."""
    rows = []
    for patient, label, p in zip(ids, labels.tolist(), probabilities, strict=True):
        row: dict[str, Any] = {"patient": patient, "label": int(label)}
        if len(p) == 2:
            row["score"] = float(p[1])
        else:
            row.update({f"score_{k}": float(v) for k, v in enumerate(p)})
        rows.append(row)
    return rows


def nas_setup(config: NasOptions, ctx: TaskContext, fold: int | None) -> TrainSetup:
    """The fusion model, its patients and its loss for ``fold``."""
    from torch.utils.data import TensorDataset

    from medtk.engine.session import TrainSetup

    bags = BagStore.open(config.bags)
    modalities = check_variant(config.fusion, config.loss)
    lacking = [p.id for p in bags.patients if any(m not in bags.counts[p.id] for m in modalities)]
    if lacking:
        raise BadInputError(
            f"--fusion {config.fusion} needs {' and '.join(modalities)} instances; "
            f"{len(lacking)} patient(s) lack them, e.g. {lacking[0]}"
        )
    merge = merge_for(config.target, config.merge)
    labels = np.array([merge(p.scores[config.target]) for p in bags.patients])
    held = held_out_patients(bags, labels, config, fold)
    ids = [p.id for p in bags.patients]
    trunk, blocks = trunk_and_blocks(config, modalities)
    features = feature_source(config, ctx, bags, trunk)
    model = NasNet(
        blocks, fusion=config.fusion, loss=config.loss, classes=merge.classes,
        dropout=config.dropout,
    )  # fmt: skip
    train_index = np.flatnonzero(~held)
    val_index = np.flatnonzero(held)
    train_set = TensorDataset(
        torch.from_numpy(train_index), torch.from_numpy(labels[train_index]).long()
    )

    def bags_of(index: list[int], device: torch.device, most: int) -> list[dict[str, torch.Tensor]]:
        return [
            {m: _subset(features(ids[i], m), most).to(device).float() for m in modalities}
            for i in index
        ]

    def batch_loss(net: NasNet, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        index, target = batch
        return bag_loss(net(bags_of(index.tolist(), target.device, config.max_instances)), target)

    def probabilities(net: NasNet) -> tuple[np.ndarray, torch.Tensor]:
        device = next(net.parameters()).device
        logits = torch.cat(
            [net(bags_of([i], device, 0))["joint"].float().cpu() for i in val_index.tolist()]
        )
        return torch.softmax(logits, 1).numpy(), logits

    def validate(net: NasNet) -> dict[str, float]:
        p, logits = probabilities(net)
        target = torch.from_numpy(labels[val_index]).long()
        loss = float(torch.nn.functional.cross_entropy(logits, target))
        return {"val_loss": loss, **scores_metrics(labels[val_index], p)}

    def predict(net: NasNet) -> list[dict]:
        p, _ = probabilities(net)
        return prediction_rows([ids[i] for i in val_index], labels[val_index], p)

    ctx.log(
        f"{config.target} ({merge.text}, {merge.classes} classes) · fusion {config.fusion} · "
        f"loss {config.loss} · {len(train_index)} training / {len(val_index)} validation patients"
    )
    return TrainSetup(model, train_set, batch_loss, validate, predict)
