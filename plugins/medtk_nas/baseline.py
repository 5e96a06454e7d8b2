"""The patch-level baseline (after Heinemann et al.): every patch carries its patient's label.

A patch classifier is trained on single H&E patches labelled with their patient's class,
and a patient's score is the mean of its patches' class probabilities. The source used
Inception-v3; here the classifier is the same ResNet-18 (last stage trainable, frozen
features cached) with a linear head, so the comparison with the multiple-instance models
isolates what patient-level pooling and fusion add.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from medtk.tasks import Task, TaskContext, TaskResult
from medtk_nas.options import PatchBaselineOptions, StudyOptions

if TYPE_CHECKING:
    from medtk.engine.session import TrainSetup
    from medtk_nas.models import PatchClassifier


def patch_setup(config: PatchBaselineOptions, ctx: TaskContext, fold: int | None) -> TrainSetup:
    """Patches of the training patients with their patients' labels; patient-level scoring."""
    import numpy as np
    import torch
    from torch import nn
    from torch.utils.data import TensorDataset

    from medtk.engine.session import TrainSetup
    from medtk.errors import BadInputError
    from medtk_nas.bags import BagStore
    from medtk_nas.models import PatchClassifier
    from medtk_nas.targets import merge_for
    from medtk_nas.training import (
        feature_source,
        held_out_patients,
        prediction_rows,
        scores_metrics,
        trunk_and_blocks,
    )

    bags = BagStore.open(config.bags)
    lacking = [p.id for p in bags.patients if not bags.counts[p.id].get("he")]
    if lacking:
        raise BadInputError(
            f"the patch baseline needs H&E patches; {len(lacking)} patient(s) have none, "
            f"e.g. {lacking[0]}"
        )
    merge = merge_for(config.target, config.merge)
    labels = np.array([merge(p.scores[config.target]) for p in bags.patients])
    held = held_out_patients(bags, labels, config, fold)
    ids = [p.id for p in bags.patients]
    trunks, blocks = trunk_and_blocks(config, bags, ("he",))
    features = feature_source(config, ctx, bags, trunks)
    model = PatchClassifier(blocks["he"], merge.classes, config.dropout, config.feature_norm)
    pairs = [(i, j) for i in np.flatnonzero(~held) for j in range(bags.counts[ids[i]]["he"])]
    index = torch.tensor(pairs, dtype=torch.long)
    train_set = TensorDataset(index, torch.from_numpy(labels[index[:, 0].numpy()]).long())
    val_index = np.flatnonzero(held)

    def batch_loss(net: PatchClassifier, batch: tuple[torch.Tensor, torch.Tensor]):
        where, target = batch
        x = torch.stack([features(ids[i], "he")[j] for i, j in where.tolist()])
        return nn.functional.cross_entropy(net(x.to(target.device).float()), target)

    def patient_probabilities(net: PatchClassifier) -> np.ndarray:
        device = next(net.parameters()).device
        means = [
            torch.softmax(net(features(ids[i], "he").to(device).float()), 1).mean(0).cpu()
            for i in val_index.tolist()
        ]
        return torch.stack(means).numpy()

    def validate(net: PatchClassifier) -> dict[str, float]:
        p = patient_probabilities(net)
        target = labels[val_index]
        loss = float(-np.log(np.clip(p[np.arange(len(p)), target], 1e-7, 1)).mean())
        return {"val_loss": loss, **scores_metrics(target, p)}

    def predict(net: PatchClassifier) -> list[dict]:
        return prediction_rows([ids[i] for i in val_index], labels[val_index],
                               patient_probabilities(net))  # fmt: skip

    ctx.log(
        f"patch baseline · {config.target} ({merge.classes} classes) · "
        f"{len(pairs)} training patches from {int((~held).sum())} patients"
    )
    return TrainSetup(model, train_set, batch_loss, validate, predict)


class PatchTask(Task):
    """Patch-level baseline: patches labelled with their patient's class, scores averaged."""

    options: ClassVar = {"train": PatchBaselineOptions, "evaluate": StudyOptions}

    def train(self, config: PatchBaselineOptions, ctx: TaskContext) -> TaskResult:
        """Train a patch classifier on H&E patches that carry their patient's label (the
        Heinemann-style baseline); a patient's score is the mean of its patch scores."""
        from medtk.engine.session import check_run_target, train_task
        from medtk_nas.targets import merge_for

        merge_for(config.target, config.merge)
        check_run_target(config)
        return train_task(config, ctx, patch_setup)

    def evaluate(self, config: StudyOptions, ctx: TaskContext) -> TaskResult:
        """Score a baseline run like any run: AUC per fold with a bootstrap interval."""
        from medtk.evaluate.predictions import evaluate_source

        return evaluate_source(config, ctx)
