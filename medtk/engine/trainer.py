"""One training loop for every task: epochs, accumulation, mixed precision, schedules,
best-epoch keeping, early stopping, per-epoch state for resuming, progress bars.

A task supplies the model, the training dataset, how a batch becomes a loss, and how the
model is scored on validation data; the loop does the rest the same way for all of them.
Determinism: the data order of epoch ``e`` comes from a generator seeded by
``(seed, e)``, and the global generators' states are saved after every epoch, so a run
resumed from epoch ``e`` continues exactly as the uninterrupted run did.
"""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medtk.engine.checkpoint import load_state, rng_state, save_state, save_weights, set_rng_state
from medtk.errors import BadInputError, Interrupted

if TYPE_CHECKING:
    import torch
    from rich.progress import Progress

    from medtk.engine.options import TrainOptions

METRICS_FILE = "metrics.csv"
WEIGHTS_FILE = "model.safetensors"

BatchLoss = Callable[["torch.nn.Module", Any], "torch.Tensor"]
Validate = Callable[["torch.nn.Module"], Mapping[str, float]]


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch, so weight initialisation repeats for a seed."""
    import random

    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def to_device(batch: Any, device: torch.device) -> Any:
    """Move the tensors of a batch (tensor, tuple, list or dict) to ``device``."""
    import torch

    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        return {key: to_device(value, device) for key, value in batch.items()}
    if isinstance(batch, list | tuple):
        return type(batch)(to_device(value, device) for value in batch)
    return batch


@dataclass
class FitResult:
    """How training ended: every epoch's row, and the best epoch by the monitored metric."""

    rows: list[dict[str, float]]
    best_epoch: int
    best_value: float
    stopped_early: bool
    device: str
    precision: str
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self, monitor: str) -> dict[str, Any]:
        """The numbers ``summary.json`` keeps."""
        return {
            "epochs": len(self.rows),
            "best_epoch": self.best_epoch,
            f"best_{monitor}": self.best_value,
            "stopped_early": self.stopped_early,
            "device": self.device,
            "precision": self.precision,
            "last": self.rows[-1] if self.rows else {},
            **self.extra,
        }


class Trainer:
    """Trains ``model`` with ``options`` into a run folder.

    :param batch_loss: ``(model, batch on device) → scalar loss``.
    :param validate: ``model → {metric: value}``, called in eval and inference mode
        after every epoch; its keys (and ``train_loss``) are what ``--monitor`` may name.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        options: TrainOptions,
        *,
        batch_loss: BatchLoss,
        validate: Validate,
    ) -> None:
        from medtk.engine.device import autocast_dtype, resolve_device
        from medtk.engine.optim import EpochSchedule, build_optimizer, freeze

        self.options = options
        self.device = resolve_device(options.device)
        self.dtype = autocast_dtype(options.precision.value, self.device)
        self.model = model.to(self.device)
        freeze(self.model, options.freeze)
        self.optimizer = build_optimizer(self.model, options)
        self.schedule = EpochSchedule(self.optimizer, options)
        self.scaler = self._scaler()
        self.batch_loss = batch_loss
        self.validate = validate
        self.rows: list[dict[str, float]] = []
        self.best_value = math.nan
        self.best_epoch = 0
        self.bad_epochs = 0
        self.start_epoch = 0
        self.board: Any = None  # TensorBoard writer, opened at the first epoch's end

    def _scaler(self) -> Any:
        import torch

        enabled = self.dtype is torch.float16
        return torch.amp.GradScaler(self.device.type, enabled=enabled)

    def resume(self, folder: Path) -> None:
        """Continue from the state saved after the last finished epoch of ``folder``."""
        state = load_state(folder, self.model)
        self.model.to(self.device)
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        self.scaler.load_state_dict(state["scaler"])
        self.rows = [dict(row) for row in state["rows"]]
        self.best_value, self.best_epoch = float(state["best_value"]), int(state["best_epoch"])
        self.bad_epochs = int(state["bad_epochs"])
        self.start_epoch = int(state["epoch"])
        self.schedule.apply(self.start_epoch)
        set_rng_state(state["rng"])

    def fit(self, train_set: Any, run: Path, progress: Progress) -> FitResult:
        """Train until ``options.epochs`` or early stopping; keep the best weights in ``run``.

        Ctrl-C raises :class:`Interrupted` after the last finished epoch's state was saved.
        """
        options = self.options
        stopped = self.start_epoch > 0 and self._patience_ran_out()
        epochs = progress.add_task("epochs", total=options.epochs, status="")
        progress.update(epochs, completed=self.start_epoch)
        try:
            for epoch in range(self.start_epoch, options.epochs):
                if stopped:
                    break
                row = self._epoch(train_set, epoch, progress)
                stopped = self._end_epoch(epoch, row, run)
                progress.update(epochs, advance=1, status=self._status(row))
        except KeyboardInterrupt:
            done = len(self.rows)
            kept = f"the state after epoch {done} is kept" if done else "no epoch had finished"
            raise Interrupted(f"interrupted in epoch {done + 1}; {kept}") from None
        finally:
            if self.board:
                self.board.close()
            self.board = None
        return FitResult(
            rows=self.rows,
            best_epoch=self.best_epoch,
            best_value=self.best_value,
            stopped_early=stopped and len(self.rows) < options.epochs,
            device=str(self.device),
            precision=str(self.dtype).removeprefix("torch.") if self.dtype else "float32",
        )

    def best_predictions(self, run: Path, predict: Callable[[torch.nn.Module], Any]) -> Any:
        """``predict(model)`` with the best epoch's weights (the last epoch's are restored
        after, so the saved state stays the state to resume from)."""
        import torch

        from medtk.engine.checkpoint import load_weights

        last = {key: value.clone() for key, value in self.model.state_dict().items()}
        load_weights(self.model, run / WEIGHTS_FILE)
        self.model.eval()
        try:
            with torch.inference_mode():
                return predict(self.model)
        finally:
            self.model.load_state_dict(last)

    def _loader(self, train_set: Any, epoch: int) -> Any:
        import torch
        from torch.utils.data import DataLoader

        generator = torch.Generator().manual_seed(self.options.seed * 1_000_003 + epoch)
        return DataLoader(
            train_set,
            batch_size=self.options.batch_size,
            shuffle=True,
            generator=generator,
            num_workers=self.options.workers,
            pin_memory=self.device.type == "cuda",
            persistent_workers=False,
        )

    def _epoch(self, train_set: Any, epoch: int, progress: Progress) -> dict[str, float]:
        import torch

        from medtk.engine.device import autocast

        loader = self._loader(train_set, epoch)
        batches = progress.add_task(f"epoch {epoch + 1}", total=len(loader), status="")
        accumulate = self.options.accumulate
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        start, total, count = time.perf_counter(), 0.0, 0
        for index, batch in enumerate(loader):
            with autocast(self.device, self.dtype):
                loss = self.batch_loss(self.model, to_device(batch, self.device))
            value = loss.item()  # one host sync per batch, for the check and the bar
            if not math.isfinite(value):
                raise RuntimeError(f"the loss became {value} in epoch {epoch + 1}")
            self.scaler.scale(loss / accumulate if accumulate > 1 else loss).backward()
            if (index + 1) % accumulate == 0 or index + 1 == len(loader):
                self.scaler.step(self.optimizer)
                self.scaler.update()
                self.optimizer.zero_grad(set_to_none=True)
            total += value
            count += 1
            progress.update(batches, advance=1, status=f"loss {total / count:.4f}")
        progress.remove_task(batches)
        self.model.eval()
        with torch.inference_mode():
            scores = {key: float(value) for key, value in self.validate(self.model).items()}
        return {
            "epoch": epoch + 1,
            "train_loss": total / max(count, 1),
            "lr": self.optimizer.param_groups[0]["lr"],
            "seconds": round(time.perf_counter() - start, 3),
            **scores,
        }

    def _end_epoch(self, epoch: int, row: dict[str, float], run: Path) -> bool:
        monitor = self.options.monitor
        if monitor not in row:
            known = ", ".join(k for k in row if k not in ("epoch", "lr", "seconds"))
            raise BadInputError(
                f"--monitor {monitor!r} is not reported; this task reports: {known}"
            )
        value = row[monitor]
        minimise = self.options.minimise()
        better = math.isnan(self.best_value) or (
            value < self.best_value if minimise else value > self.best_value
        )
        self.rows.append(row)
        if better:
            self.best_value, self.best_epoch, self.bad_epochs = value, epoch + 1, 0
            save_weights(self.model, run / WEIGHTS_FILE)
        else:
            self.bad_epochs += 1
        self.schedule.end_epoch(epoch, value)
        write_rows(run / METRICS_FILE, self.rows)
        if self.board is None:
            self.board = open_tensorboard(run) or False
        if self.board:
            log_epoch(self.board, row)
        save_state(run, self.model, self._state(epoch + 1))
        return self._patience_ran_out()

    def _patience_ran_out(self) -> bool:
        return bool(self.options.patience) and self.bad_epochs >= self.options.patience

    def _state(self, epoch: int) -> dict[str, Any]:
        return {
            "epoch": epoch,
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rows": self.rows,
            "best_value": self.best_value,
            "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs,
            "rng": rng_state(),
        }

    def _status(self, row: Mapping[str, float]) -> str:
        """The epoch bar's text: loss, the monitored metric and the best so far."""
        monitor = self.options.monitor
        return (
            f"loss {row['train_loss']:.4f} · {monitor} {row[monitor]:.4f} "
            f"(best {self.best_value:.4f} @ {self.best_epoch})"
        )


def write_rows(path: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    """A CSV of ``rows`` (``metrics.csv``, ``predictions.csv``), columns in first-seen
    order, written aside and renamed, so a reader never sees half a table."""
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    temporary = path.with_name(f".{path.name}.tmp")
    with temporary.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    temporary.replace(path)


def open_tensorboard(run: Path) -> Any:
    """A TensorBoard writer for ``run/tensorboard``, or ``None`` when TensorBoard is not
    installed: medtk does not depend on it, and ``metrics.csv`` holds the same numbers."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is not installed
        return None
    return SummaryWriter(log_dir=str(run / "tensorboard"))


def log_epoch(board: Any, row: Mapping[str, float]) -> None:
    """The epoch's numbers as TensorBoard scalars, at the epoch as the step."""
    for key, value in row.items():
        if key != "epoch":
            board.add_scalar(key, value, global_step=int(row["epoch"]))
    board.flush()
