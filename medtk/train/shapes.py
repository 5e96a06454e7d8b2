"""``medtk train shapes``: the engine end to end on a task that takes seconds.

Generated grey images hold one bright shape on a noisy background: a disc (class 0) or a
square (class 1), of random size, position and brightness. A tiny CNN learns to tell
them apart; the task exercises every engine option (devices, precision, accumulation,
schedules, early stopping, freezing, resuming) and is what the engine's tests train.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from medtk.config import option
from medtk.engine.options import TrainOptions
from medtk.errors import BadInputError
from medtk.tasks import Task, TaskContext, TaskResult

if TYPE_CHECKING:
    import numpy as np


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

    options: ClassVar = {"train": ShapesOptions}

    def train(self, config: ShapesOptions, ctx: TaskContext) -> TaskResult:
        """Train a tiny CNN to tell generated discs from squares; writes a run folder
        (config, model.safetensors, metrics.csv, state/ for --resume, summary.json)."""
        from medtk.atomic import check_new_output

        if (config.out is None) == (config.resume is None):
            raise BadInputError("give either -o RUN (a new run) or --resume RUN")
        if config.out is not None:
            check_new_output(config.out, overwrite=config.overwrite, directory=True)
        return run_training(config, ctx, self._setup)

    @staticmethod
    def _setup(config: ShapesOptions, ctx: TaskContext) -> tuple:
        import torch
        from sklearn.metrics import roc_auc_score
        from torch.utils.data import TensorDataset

        images, labels = make_shapes(config.samples, config.size, config.noise, config.seed)
        split = int(len(images) * (1 - config.val_fraction))
        train = TensorDataset(torch.from_numpy(images[:split]), torch.from_numpy(labels[:split]))
        val_x, val_y = torch.from_numpy(images[split:]), torch.from_numpy(labels[split:])
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
                "val_auc": float(roc_auc_score(val_y.numpy(), scores)),
                "val_accuracy": float(((scores > 0.5) == (val_y.numpy() > 0.5)).mean()),
            }

        return model, train, batch_loss, validate


def run_training(config: TrainOptions, ctx: TaskContext, setup) -> TaskResult:
    """Build (seeded), train into a new or resumed run, write the summary and the plot."""
    from medtk.engine.trainer import Trainer, seed_everything
    from medtk.runs import create_run, resume_run

    seed_everything(config.seed)
    model, train_set, batch_loss, validate = setup(config, ctx)
    trainer = Trainer(model, config, batch_loss=batch_loss, validate=validate)
    invocation = f"medtk train {ctx.task}"
    if config.resume is not None:
        opened = resume_run(config.resume, config=config, invocation=invocation)
        trainer.resume(config.resume)
        target = Path(config.resume)
    else:
        assert config.out is not None
        opened = create_run(
            config.out,
            config=config,
            invocation=invocation,
            overwrite=config.overwrite,
            keep_interrupted=True,
        )
        target = Path(config.out)
    with opened as run, ctx.progress() as progress:
        if trainer.start_epoch >= config.epochs:
            raise BadInputError(
                f"{str(target)!r} already trained {trainer.start_epoch} epochs; "
                f"pass --epochs above {trainer.start_epoch} to extend it"
            )
        result = trainer.fit(train_set, run.path, progress)
        summary = result.summary(config.monitor)
        run.write_summary(summary)
    ctx.log(
        f"best {config.monitor} {result.best_value:.4f} at epoch {result.best_epoch} "
        f"of {len(result.rows)} ({result.device}, {result.precision})"
    )
    return TaskResult(path=target, record=summary)
