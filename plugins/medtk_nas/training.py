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
from medtk_nas.bags import BagStore
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


def uses_cohort_statistics(config: NasOptions) -> bool:
    """``--bn-stats auto``: the cohort's statistics for random weights, else the weights'."""
    if config.bn_stats == "auto":
        return not (config.pretrained or config.weights)
    return config.bn_stats == "cohort"


def trunk_and_blocks(config: NasOptions, bags: BagStore, modalities: tuple[str, ...]):
    """Per modality, the frozen trunk and the trainable block (same starting weights).

    With cohort statistics (``--bn-stats``) each modality's copy of the backbone gets the
    batch-norm statistics of that modality's instances; otherwise the copies are equal.
    """
    from medtk_nas.backbone import resnet18, split

    backbone = resnet18(pretrained=config.pretrained, weights=config.weights, seed=config.seed)
    trunks, blocks = {}, {}
    for modality in modalities:
        model = copy.deepcopy(backbone)
        if uses_cohort_statistics(config):
            cohort_statistics(model, bags, modality, config.device)
        trunk, blocks[modality] = split(model, config.train_blocks)
        for parameter in trunk.parameters():
            parameter.requires_grad_(False)
        trunks[modality] = trunk.eval()
    return trunks, blocks


#: Instances per modality the batch-norm statistics are measured on (seeded draw).
STATISTICS_INSTANCES = 512


def cohort_statistics(
    backbone: torch.nn.Module, bags: BagStore, modality: str, device: str
) -> None:
    """Give ``backbone`` the batch-norm statistics of up to 512 of the bags' ``modality``
    instances (all patients, no labels), kept beside the feature cache for later runs."""
    from safetensors.torch import load_file, save_file

    from medtk.engine.device import resolve_device
    from medtk_nas.backbone import Normalise, adapt_batchnorm, batchnorm_state, fingerprint
    from medtk_nas.cache import FEATURES_GROUP

    key = fingerprint(backbone, bags.size)
    path = bags.path / FEATURES_GROUP / f"batchnorm-{key}-{modality}.safetensors"
    if path.is_file():
        backbone.load_state_dict(load_file(str(path)), strict=False)
        return
    counts = [(p.id, bags.counts[p.id].get(modality, 0)) for p in bags.patients]
    where = [(patient, j) for patient, n in counts for j in range(n)]
    if not where:
        return
    rng = np.random.default_rng(0)
    chosen = sorted(rng.permutation(len(where))[:STATISTICS_INSTANCES].tolist())
    by_patient: dict[str, list[int]] = {}
    for i in chosen:
        by_patient.setdefault(where[i][0], []).append(where[i][1])
    images = np.concatenate(
        [bags.instances(patient, modality)[rows] for patient, rows in by_patient.items()]
    )
    images = images[np.random.default_rng(1).permutation(len(images))]  # mixed batches
    device = resolve_device(device)
    backbone.to(device)
    normalise = Normalise().to(device)
    batches = (
        normalise(torch.from_numpy(images[i : i + 64]).to(device))
        for i in range(0, len(images), 64)
    )
    adapt_batchnorm(backbone, batches)
    backbone.cpu()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    save_file({k: v.contiguous() for k, v in batchnorm_state(backbone).items()}, str(partial))
    partial.replace(path)


def feature_source(config: NasOptions, ctx: TaskContext, bags: BagStore, trunks) -> Features:
    """``(patient, modality) → trunk features``: from the cache, or recomputed each call.

    :param trunks: the frozen trunk of each modality (``trunk_and_blocks``).
    """
    from medtk.engine.device import resolve_device
    from medtk_nas.backbone import fingerprint
    from medtk_nas.cache import feature_cache, read_features, trunk_features

    device = resolve_device(config.device)
    if not config.cache:
        trunks = {m: trunk.to(device) for m, trunk in trunks.items()}
        return lambda patient, modality: torch.from_numpy(
            trunk_features(trunks[modality], bags.instances(patient, modality), device)
        )
    caches = {}
    for modality, trunk in trunks.items():
        items = [item for item in bags.items((modality,)) if modality in bags.counts[item[0]]]
        # one cache per modality: equal trunks (the weights' own statistics) share no key
        key = f"{fingerprint(trunk, bags.size)}-{modality}"
        with ctx.progress(transient=True) as progress:
            caches[modality] = feature_cache(
                bags.path, key, trunk, items, device, progress=progress, total=len(items)
            )
    memory: dict[tuple[str, str], torch.Tensor] = {}

    def cached(patient: str, modality: str) -> torch.Tensor:
        if (patient, modality) not in memory:
            features = read_features(caches[modality], patient, modality)
            memory[patient, modality] = torch.from_numpy(features)
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
    trunks, blocks = trunk_and_blocks(config, bags, modalities)
    features = feature_source(config, ctx, bags, trunks)
    model = NasNet(
        blocks, fusion=config.fusion, loss=config.loss, classes=merge.classes,
        dropout=config.dropout, norm=config.feature_norm,
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
