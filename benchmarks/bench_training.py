"""Training-loop overhead: medtk's ``Trainer`` beside a bare PyTorch loop.

Same model (``TinyCNN``, width 16), same generated images (``make_shapes``: 64 × 64,
2,048 per epoch), same batch size, optimiser and per-epoch validation. The bare loop is
what one writes by hand: a shuffled ``DataLoader``, forward, loss, backward, step, then a
validation pass. medtk adds what a run needs: seeded per-epoch data order, progress
bars, metrics.csv, best-epoch weights and the full training state after every epoch.
The two alternate, several rounds, in one process; the table gives the median epoch time.

    python benchmarks/bench_training.py [--epochs 3] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.progress import Progress
from torch.utils.data import DataLoader, TensorDataset

from medtk.engine.options import TrainOptions
from medtk.engine.trainer import Trainer, seed_everything
from medtk.nn.models.tiny_cnn import TinyCNN
from medtk.train.shapes import make_shapes

BATCH, LR = 64, 1e-2


def data() -> tuple[TensorDataset, torch.Tensor, torch.Tensor]:
    images, labels = make_shapes(1280, 64, 0.3, seed=0)
    train = TensorDataset(torch.from_numpy(images[:2048]), torch.from_numpy(labels[:2048]))
    return train, torch.from_numpy(images[2048:]), torch.from_numpy(labels[2048:])


def validation(val_x: torch.Tensor, val_y: torch.Tensor):
    loss = torch.nn.BCEWithLogitsLoss()

    def validate(model: torch.nn.Module) -> dict[str, float]:
        return {"val_loss": float(loss(model(val_x), val_y))}

    return validate


def bare(train: TensorDataset, validate, epochs: int) -> float:
    """The hand-written loop; returns seconds per epoch."""
    seed_everything(0)
    model = TinyCNN(1, 1, 16)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    start = time.perf_counter()
    for _ in range(epochs):
        model.train()
        for x, y in DataLoader(train, batch_size=BATCH, shuffle=True):
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.inference_mode():
            validate(model)
    return (time.perf_counter() - start) / epochs


def medtk(train: TensorDataset, validate, epochs: int) -> float:
    """The same through medtk's Trainer, into a run folder, with progress bars on stderr."""
    seed_everything(0)
    options = TrainOptions(epochs=epochs, batch_size=BATCH, lr=LR, monitor="val_loss")
    bce = torch.nn.BCEWithLogitsLoss()
    trainer = Trainer(
        TinyCNN(1, 1, 16), options, batch_loss=lambda m, b: bce(m(b[0]), b[1]), validate=validate
    )
    with tempfile.TemporaryDirectory() as run, Progress(console=Console(stderr=True)) as bars:
        start = time.perf_counter()
        trainer.fit(train, Path(run), bars)
        return (time.perf_counter() - start) / epochs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    args, _ = parser.parse_known_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    train, val_x, val_y = data()
    validate = validation(val_x, val_y)
    times: dict[str, list[float]] = {"bare": [], "medtk": []}
    for _ in range(args.rounds):
        times["bare"].append(bare(train, validate, args.epochs))
        times["medtk"].append(medtk(train, validate, args.epochs))
    print({k: [round(t, 3) for t in v] for k, v in times.items()}, file=sys.stderr)
    plain, ours = statistics.median(times["bare"]), statistics.median(times["medtk"])
    print(
        f"TinyCNN on 2,048 images of 64², batch {BATCH}, {args.epochs} epochs × "
        f"{args.rounds} rounds, {torch.get_num_threads()} torch threads\n"
    )
    print("| loop | seconds per epoch (median) | ÷ bare |")
    print("|---|---:|---:|")
    print(f"| bare PyTorch loop | {plain:.3f} | 1.00 |")
    print(f"| medtk Trainer (progress, metrics.csv, best weights, state) | {ours:.3f} | "
          f"{ours / plain:.3f} |")  # fmt: skip
    print(f"\nmedtk overhead: {100 * (ours / plain - 1):+.1f}%", file=sys.stdout)


if __name__ == "__main__":
    main()
