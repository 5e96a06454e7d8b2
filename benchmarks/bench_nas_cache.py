"""The nas family's frozen-feature cache: epoch time with it and without it.

``medtk train nas`` trains only the last ResNet-18 stage (``--train-blocks 1``); the
frozen trunk's output per instance (a CT slice, an H&E patch) never changes, so by
default (``--cache``) it is computed once, kept as float16 in the bags store and read
back by every epoch, fold and variant. ``--no-cache`` recomputes the trunk every step.

One bags store is built once through the real path: per patient a synthetic CT
(``medtk.datasets.ct_phantom``, in-plane 224 px, liver mask as label) and a pink H&E
image with fat vacuoles at 5× (2 µm/px), ingested with ``write_store``, then
``medtk preprocess nas-bags`` (liver-masked slices, 224 px tissue patches). The cache is
then built once and timed on its own, with ``medtk_nas.training.feature_source``, the
function ``medtk train nas`` calls. Then ``medtk train nas BAGS --fusion mid
--train-blocks 1 --folds 0 --device cpu`` (the source's settings otherwise: 4 patients
per batch, Adam, all instances) runs in this process through ``medtk.cli.main.main``,
``--cache`` and ``--no-cache`` alternating, several rounds, one torch thread; each
epoch's seconds (training and validation) come from the run's ``metrics.csv``. The
table gives the median epoch time of each.

    python benchmarks/bench_nas_cache.py [--patients 12] [--ct-slices 28] [--patches 16]
        [--size 224] [--epochs 2] [--rounds 3]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from medtk.cli.main import main as _main


def medtk(args: list[str]) -> int:
    """``medtk ARGS`` in this process; what it prints on stdout (paths) goes to stderr."""
    with contextlib.redirect_stdout(sys.stderr):
        return _main(args)


def ct_store(path: Path, patient: str, slices: int, seed: int, fat: float) -> tuple[Path, int]:
    """A 224² abdominal CT in HU with its liver mask as label ``liver``."""
    from medtk.datasets import ct_phantom
    from medtk.io.ingest import IngestOptions, write_store
    from medtk.io.source import array_source

    hu, liver = ct_phantom(slices=slices, size=224, seed=seed, liver_hu=60.0 - 80.0 * fat)
    spacing = (2.5, 0.8, 0.8)
    source = array_source(hu, path=path, axes=("z", "y", "x"), spacing=spacing, unit="mm")
    mask = array_source(liver, path=path, axes=("z", "y", "x"), spacing=spacing, unit="mm")
    options = IngestOptions(workers=1, modality="CT", subject=patient, label_name="liver")
    return write_store(source, path, labels={"liver": mask}, options=options).path, len(hu)


def slide_store(path: Path, patient: str, patches: int, seed: int, fat: float) -> Path:
    """Pink tissue with white round fat vacuoles at 5× (2 µm/px), sized to hold about
    ``patches`` non-overlapping 224 px patches."""
    from medtk.io.ingest import IngestOptions, write_store
    from medtk.io.source import array_source

    rng = np.random.default_rng(seed)
    columns = max(1, round(patches**0.5))
    rows = max(1, -(-patches // columns))
    height, width = 224 * rows, 224 * columns
    base = np.array([200, 120, 170], dtype=np.float32)[:, None, None]
    rgb = np.clip(base + rng.normal(0, 12, (3, height, width)), 0, 255).astype(np.uint8)
    yy, xx = np.mgrid[0:height, 0:width]
    for _ in range(int(60 * patches * fat)):
        cy, cx, r = int(rng.integers(0, height)), int(rng.integers(0, width)), 3
        box = (slice(max(cy - r, 0), cy + r), slice(max(cx - r, 0), cx + r))
        disc = (yy[box] - cy) ** 2 + (xx[box] - cx) ** 2 <= r * r
        for c in range(3):
            rgb[c][box][disc] = 245
    source = array_source(
        rgb, path=path, axes=("c", "y", "x"), spacing=(2.0, 2.0), unit="micrometer",
        metadata={"mpp": 2.0, "magnification": 5.0},
    )  # fmt: skip
    options = IngestOptions(workers=1, modality="WSI", subject=patient)
    return write_store(source, path, options=options).path


def build_bags(folder: Path, patients: int, slices: int, patches: int, size: int) -> Path:
    """A cohort table with CT and slide stores, made into a bags store by nas-bags."""
    rows = []
    for i in range(patients):
        patient = f"P{i + 1:03d}"
        steatosis = (0, 1, 2, 3)[i % 4]
        fat = steatosis / 3
        ct, _ = ct_store(folder / "ct" / f"{patient}.zarr", patient, slices, i, fat)
        he = slide_store(folder / "he" / f"{patient}.zarr", patient, patches, i, fat)
        rows.append({"patient": patient, "steatosis": steatosis, "lobular": i % 3,
                     "ballooning": i % 3, "fibrosis": (0, 1, 3, 4)[i % 4],
                     "store_ct": str(ct.relative_to(folder)),
                     "store_wsi": str(he.relative_to(folder)), "fold": i % 3})  # fmt: skip
    table = folder / "cohort.csv"
    with table.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    bags = folder / "bags.zarr"
    code = medtk(["preprocess", "nas-bags", str(table), "-o", str(bags), "--size", str(size)])
    if code:
        raise SystemExit(f"medtk preprocess nas-bags failed with exit code {code}")
    return bags


def build_cache(bags: Path, train_blocks: int) -> tuple[float, float, list[Path]]:
    """Wall and CPU seconds to build the frozen-feature cache the way ``medtk train nas``
    does (same options, so the same keys: the cohort's batch-norm statistics, then the
    features of each modality), and its folders."""
    from medtk_nas.bags import BagStore
    from medtk_nas.options import NasOptions
    from medtk_nas.training import feature_source, trunk_and_blocks
    from rich.console import Console

    from medtk.tasks import TaskContext

    config = NasOptions(bags=bags, fusion="mid", train_blocks=train_blocks, folds=0, device="cpu")
    ctx = TaskContext(registries=None, console=Console(stderr=True), verb="train", task="nas")  # type: ignore[arg-type]
    store = BagStore.open(bags)
    start, cpu = time.perf_counter(), time.process_time()
    trunks, _ = trunk_and_blocks(config, store, ("ct", "he"))
    feature_source(config, ctx, store, trunks)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return seconds, cpu, caches(bags)


def caches(bags: Path) -> list[Path]:
    """The feature caches in the bags store (one per modality)."""
    return [p for p in (bags / "features").iterdir() if p.is_dir() and not p.name.startswith(".")]


def train(
    bags: Path, run: Path, epochs: int, cache: bool, train_blocks: int
) -> tuple[list[float], float, float]:
    """One ``medtk train nas`` run: its epochs' seconds, and the whole call's wall and CPU
    seconds (CPU time says what the work took when other processes share the cores)."""
    args = ["train", "nas", str(bags), "-o", str(run), "--fusion", "mid",
            "--train-blocks", str(train_blocks), "--epochs", str(epochs), "--folds", "0",
            "--device", "cpu", "--cache" if cache else "--no-cache"]  # fmt: skip
    start, cpu = time.perf_counter(), time.process_time()
    code = medtk(args)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    if code:
        raise SystemExit(f"medtk {' '.join(args[:2])} failed with exit code {code}")
    with (run / "metrics.csv").open(newline="") as handle:
        return [float(row["seconds"]) for row in csv.DictReader(handle)], wall, cpu


def mib(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=12)
    parser.add_argument("--ct-slices", type=int, default=28, help="CT slices before masking")
    parser.add_argument("--patches", type=int, default=16, help="H&E patches per patient")
    parser.add_argument("--size", type=int, default=224, help="instance size in pixels")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per run")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each arm, alternating")
    parser.add_argument(
        "--train-blocks", type=int, default=1, help="trainable stages (1: the method's; 0: none)"
    )
    args, _ = parser.parse_known_args()
    torch.set_num_threads(1)
    from medtk_nas.bags import BagStore

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        bags = build_bags(folder, args.patients, args.ct_slices, args.patches, args.size)
        print(f"bags store built in {time.perf_counter() - start:.1f} s", file=sys.stderr)
        store = BagStore.open(bags)
        ct = [store.counts[p.id]["ct"] for p in store.patients]
        he = [store.counts[p.id]["he"] for p in store.patients]
        bags_mib = mib(bags)
        build_s, build_cpu, built = build_cache(bags, args.train_blocks)
        cache_mib = sum(mib(cache) for cache in built)
        # untimed: the first run in a process pays one-off imports (plots, TensorBoard)
        train(bags, folder / "warm-up", 1, True, args.train_blocks)

        epochs: dict[str, list[float]] = {"cache": [], "no-cache": []}
        walls: dict[str, list[float]] = {"cache": [], "no-cache": []}
        cpus: dict[str, list[float]] = {"cache": [], "no-cache": []}
        for r in range(args.rounds):
            for arm in ("cache", "no-cache"):
                seconds, wall, cpu = train(
                    bags, folder / f"{arm}-{r}", args.epochs, arm == "cache", args.train_blocks
                )
                epochs[arm] += seconds
                walls[arm].append(wall)
                cpus[arm].append(cpu)
                if len(caches(bags)) != len(built):
                    raise SystemExit("a run built a second feature cache: the keys differ")
    print({k: [round(t, 2) for t in v] for k, v in epochs.items()}, file=sys.stderr)
    print({k: [round(t, 2) for t in v] for k, v in walls.items()}, file=sys.stderr)
    print({k: [round(t, 2) for t in v] for k, v in cpus.items()}, file=sys.stderr)

    cached, recomputed = (statistics.median(epochs[k]) for k in ("cache", "no-cache"))
    cached_run, recomputed_run = (statistics.median(walls[k]) for k in ("cache", "no-cache"))
    cached_cpu, recomputed_cpu = (statistics.median(cpus[k]) for k in ("cache", "no-cache"))
    instances = sum(ct) + sum(he)
    print(
        f"{len(ct)} patients, {sum(ct)} CT slices ({min(ct)}–{max(ct)} each) and {sum(he)} "
        f"H&E patches ({min(he)}–{max(he)} each) at {store.size} px; --fusion mid "
        f"--train-blocks {args.train_blocks} --folds 0, batch 4 patients, {args.epochs} "
        f"epochs × {args.rounds} "
        f"runs per arm, alternating, {torch.get_num_threads()} torch thread, CPU\n"
    )
    print(f"| features | s per epoch (median) | ÷ cached | run of {args.epochs} epochs: wall s | "
          "CPU s | ÷ cached |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|")
    print(f"| `--cache`: fp16 trunk output read from the bags store | {cached:.2f} | 1.00 | "
          f"{cached_run:.1f} | {cached_cpu:.1f} | 1.00 |")  # fmt: skip
    print(f"| `--no-cache`: frozen trunk recomputed every step | {recomputed:.2f} | "
          f"{recomputed / cached:.2f} | {recomputed_run:.1f} | {recomputed_cpu:.1f} | "
          f"{recomputed_cpu / cached_cpu:.2f} |")  # fmt: skip
    print(
        f"\ncache: built once in {build_s:.1f} s ({build_cpu:.1f} s CPU; {instances} instances, "
        f"{1000 * build_s / instances:.0f} ms each; {build_s / recomputed:.2f} no-cache epochs), "
        f"{cache_mib:.1f} MiB on disk ({cache_mib * 2**20 / instances / 1024:.0f} KiB per "
        f"instance) beside {bags_mib:.1f} MiB of uint8 instances"
    )
    print(f"speed-up per epoch with the cache: {recomputed / cached:.2f}×")


if __name__ == "__main__":
    main()
