"""Optimisers, learning-rate schedules and frozen parameters, from ``TrainOptions``."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from medtk.errors import BadInputError

if TYPE_CHECKING:
    import torch

    from medtk.engine.options import TrainOptions


def freeze(model: torch.nn.Module, prefixes: list[str]) -> int:
    """Stop gradients for parameters whose names start with a prefix; returns how many.

    A prefix that matches nothing is a typo, and an error (not a silent no-op).
    """
    frozen = 0
    for prefix in prefixes:
        matched = [p for name, p in model.named_parameters() if name.startswith(prefix)]
        if not matched:
            names = sorted({n.split(".")[0] for n, _ in model.named_parameters()})
            raise BadInputError(
                f"--freeze {prefix!r} matches no parameter; top-level names: {', '.join(names)}"
            )
        for parameter in matched:
            parameter.requires_grad_(False)
        frozen += len(matched)
    return frozen


def build_optimizer(model: torch.nn.Module, options: TrainOptions) -> torch.optim.Optimizer:
    """Adam, AdamW or SGD over the trainable parameters.

    Weight decay applies to weights, not to biases and normalisation parameters (the
    usual practice: decaying a bias or a norm's scale only hurts).
    """
    import torch

    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        (no_decay if parameter.ndim <= 1 or name.endswith(".bias") else decay).append(parameter)
    if not decay and not no_decay:
        raise BadInputError("every parameter is frozen; nothing would train")
    groups = [
        {"params": decay, "weight_decay": options.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    name = options.optimizer.value
    if name == "sgd":
        return torch.optim.SGD(groups, lr=options.lr, momentum=options.momentum)
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=options.lr)
    return torch.optim.Adam(groups, lr=options.lr)


class EpochSchedule:
    """A learning-rate schedule stepped once per epoch, with an optional linear warm-up.

    Kinds: ``cosine`` (SGDR: cosine decay to 0 over cycles of ``restart_epochs``, each
    ``restart_mult`` times longer; Loshchilov & Hutter 2017), ``step`` (× ``gamma`` every
    ``step_epochs``), ``plateau`` (× ``gamma`` after ``patience`` epochs without
    improvement of the monitored metric) and ``none``. Its state is plain numbers, saved
    with the run.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, options: TrainOptions) -> None:
        self.optimizer = optimizer
        self.kind = options.scheduler.value
        self.base = [group["lr"] for group in optimizer.param_groups]
        self.warmup = options.warmup
        self.cycle = options.restart_epochs
        self.mult = options.restart_mult
        self.step_epochs = options.step_epochs
        self.gamma = options.gamma
        self.plateau_patience = max(1, options.patience // 2) if options.patience else 3
        self.minimise = options.minimise()
        self.best: float | None = None
        self.bad_epochs = 0
        self.plateau_scale = 1.0
        self.apply(0)

    def factor(self, epoch: int) -> float:
        """Multiplier of the base learning rate during ``epoch`` (counted from 0)."""
        if epoch < self.warmup:
            return (epoch + 1) / (self.warmup + 1)
        t = epoch - self.warmup
        if self.kind == "cosine":
            length = self.cycle
            while t >= length:
                t -= length
                length *= self.mult
            return 0.5 * (1 + math.cos(math.pi * t / length))
        if self.kind == "step":
            return self.gamma ** (t // self.step_epochs)
        if self.kind == "plateau":
            return self.plateau_scale
        return 1.0

    def apply(self, epoch: int) -> None:
        """Set each group's learning rate for ``epoch``."""
        factor = self.factor(epoch)
        for group, base in zip(self.optimizer.param_groups, self.base, strict=True):
            group["lr"] = base * factor

    def end_epoch(self, epoch: int, monitored: float | None) -> None:
        """Record the epoch's monitored value (plateau) and set the next epoch's rate."""
        if self.kind == "plateau" and monitored is not None and epoch >= self.warmup:
            better = self.best is None or (
                monitored < self.best if self.minimise else monitored > self.best
            )
            if better:
                self.best, self.bad_epochs = monitored, 0
            else:
                self.bad_epochs += 1
                if self.bad_epochs >= self.plateau_patience:
                    self.plateau_scale *= self.gamma
                    self.bad_epochs = 0
        self.apply(epoch + 1)

    def state_dict(self) -> dict[str, Any]:
        return {
            "best": self.best,
            "bad_epochs": self.bad_epochs,
            "plateau_scale": self.plateau_scale,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = state["best"]
        self.bad_epochs = int(state["bad_epochs"])
        self.plateau_scale = float(state["plateau_scale"])
