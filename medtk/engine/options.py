"""Training options every task shares; a family's train config subclasses ``TrainOptions``.

One place declares ``--epochs``, ``--lr``, ``--optimizer`` … so that every
``medtk train TASK`` spells them the same way and a config file from one task reads the
same in another.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from medtk.config import TaskConfig, option


class OptimizerName(StrEnum):
    adam = "adam"
    adamw = "adamw"
    sgd = "sgd"


class SchedulerName(StrEnum):
    none = "none"
    cosine = "cosine"  # cosine with warm restarts (SGDR), after a linear warm-up
    step = "step"  # multiply by --gamma every --step-epochs
    plateau = "plateau"  # multiply by --gamma when the monitored metric stops improving


class Precision(StrEnum):
    auto = "auto"  # 16-bit autocast on CUDA, 32-bit elsewhere
    fp32 = "32"
    fp16 = "16"
    bf16 = "bf16"


class TrainOptions(TaskConfig):
    """The engine's options: devices, optimisation, schedules, stopping, resuming."""

    out: Path | None = option(None, "run folder to create", short="-o")
    resume: Path | None = option(
        None, "continue this run where it stopped (more --epochs extends it)"
    )
    epochs: int = option(30, "passes over the training data", gt=0)
    batch_size: int = option(16, "samples per optimisation step (before accumulation)", gt=0)
    accumulate: int = option(1, "batches whose gradients add up before each step", gt=0)
    lr: float = option(1e-3, "learning rate", gt=0)
    optimizer: OptimizerName = option(OptimizerName.adam, "optimiser")
    weight_decay: float = option(0.0, "weight decay (decoupled for adamw)", ge=0)
    momentum: float = option(0.9, "momentum of sgd", ge=0, lt=1)
    scheduler: SchedulerName = option(SchedulerName.none, "learning-rate schedule")
    warmup: int = option(0, "epochs of linear warm-up before the schedule", ge=0)
    restart_epochs: int = option(10, "cosine: epochs of the first cycle", gt=0)
    restart_mult: int = option(1, "cosine: growth of each later cycle", gt=0)
    step_epochs: int = option(10, "step: epochs between decays", gt=0)
    gamma: float = option(
        0.1, "step and plateau: factor the learning rate is multiplied by", gt=0, lt=1
    )
    monitor: str = option("val_loss", "metric that picks the best epoch and stops early")
    patience: int = option(0, "stop after this many epochs without improvement (0: never)", ge=0)
    freeze: list[str] = option([], "freeze parameters whose names start with this (repeatable)")
    device: str = option("auto", "auto, cpu, cuda, cuda:N or mps")
    precision: Precision = option(Precision.auto, "arithmetic: auto, 32, 16 or bf16")
    workers: int = option(0, "data-loading processes (0: load in the main process)", ge=0)
    folds: int = option(
        0,
        "k-fold cross-validation: one run per fold in RUN/fold-N, and their summary (0: off)",
        ge=0,
    )
    seed: int = option(0, "seed of weights, data order and augmentation")
    overwrite: bool = option(False, "replace an existing run folder")

    def minimise(self) -> bool:
        """Losses and errors fall; scores such as AUC, accuracy or Dice rise."""
        name = self.monitor.lower()
        return any(word in name for word in ("loss", "error", "mae", "mse"))
