"""``medtk train shapes``: the engine end to end on a task that takes seconds.

Generated grey images hold one bright shape on a noisy background: a disc (class 0) or a
square (class 1), of random size, position and brightness. A tiny CNN learns to tell
them apart; the task exercises every engine option (devices, precision, accumulation,
schedules, early stopping, freezing, resuming) and is what the engine's tests train.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from medtk.config import option
from medtk.engine.options import TrainOptions
from medtk.evaluate.predictions import EvaluateOptions, evaluate_source
from medtk.tasks import Task, TaskContext, TaskResult

if TYPE_CHECKING:
    import numpy as np

    from medtk.engine.session import TrainSetup


class ShapesOptions(TrainOptions):
    """Options of ``medtk train shapes``: the engine's, plus the generated data's."""

    samples: int = option(256, "generated images per class", gt=3)
    size: int = option(32, "image width and height in pixels", ge=16)
    noise: float = option(0.3, "standard deviation of the background noise", ge=0)
    val_fraction: float = option(0.25, "share of the images held out for validation", gt=0, lt=1)
    width: int = option(8, "channels of the network's first stage", gt=0)
    epochs: int = option(12, "passes over the training data", gt=0)
    batch_size: int = option(32, "samples per optimisation step (before accumulation)", gt=0)
    lr: float = option(1e-2, "learning rate", gt=0)
    monitor: str = option("val_auc", "metric that picks the best epoch and stops early")


def make_shapes(samples: int, size: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``samples`` discs and ``samples`` squares, shuffled: images ``(n, 1, size, size)``
    float32 and labels ``(n,)`` float32 (1 for a square)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    n = 2 * samples
    labels = np.repeat(np.array([0.0, 1.0], dtype=np.float32), samples)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    images = rng.normal(0.0, noise, (n, 1, size, size)).astype(np.float32)
    for i in range(n):
        half = rng.uniform(size * 0.12, size * 0.25)
        cy, cx = rng.uniform(half + 1, size - half - 1, 2)
        if labels[i]:
            shape = (np.abs(yy - cy) <= half * 0.886) & (np.abs(xx - cx) <= half * 0.886)
        else:
            shape = (yy - cy) ** 2 + (xx - cx) ** 2 <= half**2  # the same area as the square
        images[i, 0][shape] += rng.uniform(0.7, 1.3)
    order = rng.permutation(n)
    return images[order], labels[order]


class ShapesTask(Task):
    """A tiny CNN tells discs from squares in generated images (the engine's demo)."""

    options: ClassVar = {"train": ShapesOptions, "evaluate": EvaluateOptions}

    def train(self, config: ShapesOptions, ctx: TaskContext) -> TaskResult:
        """Train a tiny CNN to tell generated discs from squares; writes a run folder
        (config, model.safetensors, metrics.csv, state/ for --resume, summary.json), or
        with --folds K one run per fold and their summary."""
        from medtk.engine.crossval import check_folds
        from medtk.engine.session import check_run_target, train_task

        check_run_target(config)
        if config.folds:
            check_folds(config.folds, 2 * config.samples)
        return train_task(config, ctx, _setup)

    def evaluate(self, config: EvaluateOptions, ctx: TaskContext) -> TaskResult:
        """Score a shapes run (or each fold of a cross-validation) on its held-out images:
        AUC with bootstrap interval, accuracy, F1, confusion matrix, ROC and confusion plots.
        """
        return evaluate_source(config, ctx)


def _setup(config: ShapesOptions, ctx: TaskContext, fold: int | None) -> TrainSetup:
    """The generated data split for ``fold`` (or by --val-fraction), the model, the loss."""
    import numpy as np
    import torch
    from torch.utils.data import TensorDataset

    from medtk.engine.session import TrainSetup
    from medtk.metrics.roc import roc_auc
    from medtk.ops.folds import assign_folds

    images, labels = make_shapes(config.samples, config.size, config.noise, config.seed)
    if fold is None:
        held_out = np.arange(len(images)) >= int(len(images) * (1 - config.val_fraction))
    else:
        folds = assign_folds(labels.tolist(), list(range(len(labels))), config.folds, config.seed)
        held_out = folds == fold
    train = TensorDataset(torch.from_numpy(images[~held_out]), torch.from_numpy(labels[~held_out]))
    val_x, val_y = torch.from_numpy(images[held_out]), torch.from_numpy(labels[held_out])
    model = ctx.registries.models.load("tiny-cnn")(in_channels=1, classes=1, width=config.width)
    bce = torch.nn.BCEWithLogitsLoss()

    def batch_loss(net: torch.nn.Module, batch: tuple) -> torch.Tensor:
        x, y = batch
        return bce(net(x), y)

    def validate(net: torch.nn.Module) -> dict[str, float]:
        device = next(net.parameters()).device
        logits = torch.cat([net(x.to(device)).float().cpu() for x in val_x.split(256)])
        scores = torch.sigmoid(logits).numpy()
        return {
            "val_loss": float(bce(logits, val_y)),
            "val_auc": roc_auc(val_y.numpy(), scores),
            "val_accuracy": float(((scores > 0.5) == (val_y.numpy() > 0.5)).mean()),
        }

    def predict(net: torch.nn.Module) -> list[dict[str, float]]:
        scores = torch.sigmoid(net(val_x.to(next(net.parameters()).device)).float().cpu())
        index = np.flatnonzero(held_out)
        return [
            {"sample": int(i), "label": int(y), "score": float(p)}
            for i, y, p in zip(index, val_y.tolist(), scores.tolist(), strict=True)
        ]

    return TrainSetup(model, train, batch_loss, validate, predict)
