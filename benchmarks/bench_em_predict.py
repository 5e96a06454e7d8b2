"""Blockwise ``medtk predict em`` beside MONAI's ``sliding_window_inference`` on a large
EM volume.

The volume: a 64 × 256 × 256 ``medtk preprocess em-phantom`` store repeated (a dask
``tile``) to the size asked for (default 256 × 1024 × 1024 uint8, 256 MiB), written chunk
by chunk with ``medtk.io.ingest.write_store``. The network: the em task's 3D U-Net at its
defaults (depth 3, width 16, instance norm, 8 classes, sigmoid outputs), from a run that
``medtk train em`` trains for one short epoch on the 64 × 256 × 256 phantom (its weights
do not matter for speed).

Both arms do the same job: read the store, normalise (÷ 255), run the network on tiles of
32 × 64 × 64 (the em default patch), overlap 0.25, 4 tiles per batch, a sigmoid on each
tile, Gaussian blending (σ = tile / 8), and write the float32 probabilities of the 8
classes and the argmax labels to zarr.

- **medtk**: ``medtk predict em STORE -r RUN --device cpu`` (run in-process, so the clock
  starts after the imports), i.e. :func:`medtk.engine.inference.infer` with its defaults:
  one worker thread per core with one torch thread each, channels-last.
- **MONAI**: as its documentation shows: the whole volume as one float32 tensor, the
  same network (loaded from the same run), ``sliding_window_inference(..., mode=
  "gaussian")`` with torch's default threads (one per core), then the probabilities and
  their argmax written to zarr. It holds the input (4 B/voxel), the blended output
  (4 B × classes/voxel) and the weight sums (4 B/voxel) in memory at once.

Each arm runs in its own process (peak RSS from the kernel, see ``_measure.py``); the
arms alternate within a round, and the table gives medians over rounds. Throughput is
voxels of the volume per second of wall time; the CPU seconds (user + system of the
process, all threads) stay meaningful when other work shares the machine, and the load
column (the 5-minute load average as the arm ends) says how much other work there was.

Then flat memory: ``medtk predict em`` over volumes of growing depth (``--flat``, at
``--flat-xy`` in y and x; ``--flat ""`` skips it): its peak RSS stays flat; MONAI's grows
with the volume. Results and what they mean: docs/em.md, "Large volumes".

    python benchmarks/bench_em_predict.py [--shape 256 1024 1024] [--rounds 1]
        [--flat 64,128,256] [--flat-xy 1024] [--monai-flat 3] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

#: The em-phantom the volumes are tiled from, and the run's network.
BASE_SHAPE = (64, 256, 256)
TILE, OVERLAP, BATCH, CLASSES = (32, 64, 64), 0.25, 4, 8


def medtk_command() -> list[str]:
    """The ``medtk`` executable beside this interpreter (the venv's), or ``python -m``."""
    exe = Path(sys.executable).with_name("medtk")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "medtk"]


# --------------------------------------------------------------------------------------
# children: one job each, timed from inside (imports excluded), JSON on stdout


def child_medtk(args: argparse.Namespace) -> dict[str, float]:
    # imported before the clock starts, as the MONAI child imports MONAI and zarr
    import dask.threaded  # noqa: F401
    import medtk_em.task  # noqa: F401
    import torch  # noqa: F401
    import zarr  # noqa: F401

    import medtk.engine.inference  # noqa: F401
    from medtk.cli.main import main

    argv = ["predict", "em", args.input, "-r", args.run, "-o", args.out, "--device", "cpu"]
    start, cpu = time.perf_counter(), time.process_time()
    code = main(argv)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    if code:
        raise SystemExit(code)
    return {"seconds": seconds, "cpu": cpu}


def child_monai(args: argparse.Namespace) -> dict[str, float]:
    import numpy as np
    import torch
    import zarr
    from medtk_em.config import EmTrainOptions
    from medtk_em.models import build_network
    from medtk_em.task import activation
    from monai.inferers import sliding_window_inference

    from medtk.engine.predicting import load_run_model, read_run_config
    from medtk.io.store import Store, compressor

    trained = read_run_config(Path(args.run), EmTrainOptions)
    net = load_run_model(Path(args.run), build_network, trained)
    assert activation(trained) == "sigmoid"

    def predictor(x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(net(x))

    store = Store.open(Path(args.input))
    start, cpu = time.perf_counter(), time.process_time()
    volume = torch.from_numpy(np.asarray(store.array(0)[...], dtype=np.float32))
    volume = (volume / 255.0)[None, None]  # the run's normalisation: uint8 range → [0, 1]
    with torch.inference_mode():
        out = sliding_window_inference(volume, TILE, BATCH, predictor, overlap=OVERLAP,
                                       mode="gaussian")  # fmt: skip
    del volume
    probabilities = out[0].numpy()
    labels = probabilities.argmax(axis=0).astype(np.uint8)
    group = zarr.open_group(args.out, mode="w")
    chunks = (32, 256, 256)
    for name, data, chunk in (("probabilities", probabilities, (CLASSES, *chunks)),
                              ("labels", labels, chunks)):  # fmt: skip
        array = group.create_array(name, shape=data.shape, chunks=chunk, dtype=data.dtype,
                                   compressors=compressor())  # fmt: skip
        array[...] = data
    return {"seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu}


# --------------------------------------------------------------------------------------
# the parent


def make_base(workdir: Path) -> tuple[Path, Path]:
    """The em-phantom the volumes repeat, and a run of ``medtk train em`` on it."""
    base, run = workdir / "base.zarr", workdir / "run"
    medtk = medtk_command()
    if not base.exists():
        shape = [str(n) for n in BASE_SHAPE]
        subprocess.run([*medtk, "preprocess", "em-phantom", "-o", str(base), "--shape", *shape],
                       check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    if not (run / "model.safetensors").exists():
        shutil.rmtree(run, ignore_errors=True)
        quick = ["--epochs", "1", "--samples-per-epoch", "4", "--val-patches", "1",
                 "--val-fraction", "0.5", "--device", "cpu"]  # fmt: skip
        subprocess.run([*medtk, "train", "em", str(base), "-o", str(run), *quick], check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
    return base, run


def make_volume(base: Path, shape: tuple[int, int, int], path: Path) -> Path:
    """``base``'s image repeated to ``shape``, written chunk by chunk (a uint8 EM store)."""
    import dask.array as da

    from medtk.io.ingest import IngestOptions, write_store
    from medtk.io.source import array_source
    from medtk.io.store import Store

    if path.exists():
        return path
    store = Store.open(base)
    image = da.from_zarr(store.array(0)).rechunk((32, 256, 256))
    reps = [math.ceil(n / b) for n, b in zip(shape, image.shape, strict=True)]
    volume = da.tile(image, reps)[: shape[0], : shape[1], : shape[2]]
    source = array_source(volume, path=path, axes=("z", "y", "x"), spacing=store.spacing,
                          unit=store.unit)  # fmt: skip
    start = time.perf_counter()
    write_store(source, path, options=IngestOptions(modality="EM", min_size=1 << 30, workers=2))
    print(f"made {path.name} {shape} in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return path


def run(tool: str, source: Path, model: Path, out: Path) -> dict[str, float]:
    from _measure import run_with_peak

    shutil.rmtree(out, ignore_errors=True)
    done = run_with_peak([sys.executable, __file__, "--child", tool, "--input", str(source),
                          "--run", str(model), "--out", str(out)])  # fmt: skip
    record = json.loads(done.stdout.strip().splitlines()[-1])
    load = os.getloadavg()[1]  # the 5-minute load average as the arm ends: other work
    return {**record, "wall": done.seconds, "rss": done.peak_rss_mib, "load": load}


def compare(medtk: Path, monai: Path) -> tuple[float, float]:
    """Largest probability difference and the share of voxels whose labels differ."""
    import dask.array as da
    import zarr

    ours = zarr.open_group(str(medtk), mode="r")
    theirs = zarr.open_group(str(monai), mode="r")
    p1, p2 = da.from_zarr(ours["0"]), da.from_zarr(theirs["probabilities"])
    l1 = da.from_zarr(ours["labels"]["prediction"]["0"])
    l2 = da.from_zarr(theirs["labels"])
    diff, labels = da.compute(abs(p1 - p2).max(), (l1 != l2).mean())
    return float(diff), float(labels)


def gib(n: float) -> str:
    return f"{n / 2**30:.2f}"


def monai_memory(shape: tuple[int, ...]) -> float:
    """Bytes MONAI holds at once: float32 input, output of CLASSES channels, weight sums."""
    return 4.0 * math.prod(shape) * (1 + CLASSES + 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", default=None)
    parser.add_argument("--input", default=None)
    parser.add_argument("--run", default=None)
    parser.add_argument("--out", default=None)
    parser.add_argument("--shape", type=int, nargs=3, default=(256, 1024, 1024),
                        metavar=("Z", "Y", "X"), help="the volume of the comparison")  # fmt: skip
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--flat", default="64,128,256", help="Z sizes of the flat-memory runs")
    parser.add_argument("--flat-xy", type=int, default=1024, help="Y and X of the flat runs")
    parser.add_argument("--monai-flat", type=int, default=3, help="MONAI on this many of them")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    if args.child:
        tools = {"medtk": child_medtk, "monai": child_monai}
        print(json.dumps(tools[args.child](args)))
        return

    import torch

    workdir = args.workdir or Path(tempfile.gettempdir()) / "medtk-bench-em-predict"
    workdir.mkdir(parents=True, exist_ok=True)
    base, model = make_base(workdir)
    shape = tuple(args.shape)
    volume = make_volume(base, shape, workdir / f"em{'x'.join(map(str, shape))}.zarr")
    flat = [(z, args.flat_xy, args.flat_xy) for z in (int(s) for s in args.flat.split(",") if s)]
    flat_volumes = [make_volume(base, s, workdir / f"em{'x'.join(map(str, s))}.zarr") for s in flat]

    cores = len(os.sched_getaffinity(0))
    voxels = math.prod(shape)
    print(f"`predict em` on the CPU ({cores} cores, torch {torch.__version__}, Python "
          f"{platform.python_version()}): em 3D U-Net (depth 3, width 16, 8 classes), tile "
          f"{' × '.join(map(str, TILE))}, overlap {OVERLAP}, gaussian, batch {BATCH}; "
          f"medians of {args.rounds} alternating round(s)\n")  # fmt: skip
    print(
        "| volume | tool | seconds | Mvoxel/s | CPU s | load | peak RSS (MiB) "
        "| throughput ÷ MONAI | CPU time: MONAI ÷ tool |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    tools = ("medtk", "monai")
    records: dict[str, list[dict[str, float]]] = {t: [] for t in tools}
    for _ in range(args.rounds):
        for tool in tools:
            records[tool].append(run(tool, volume, model, workdir / f"main-{tool}.zarr"))
    median = {
        t: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for t, rs in records.items()
    }
    names = {"medtk": "medtk predict em", "monai": "MONAI sliding_window_inference"}
    for tool in tools:
        m = median[tool]
        print(f"| {' × '.join(map(str, shape))} uint8 | {names[tool]} | {m['seconds']:.0f} | "
              f"{voxels / 1e6 / m['seconds']:.3f} | {m['cpu']:.0f} | {m['load']:.1f} | "
              f"{m['rss']:.0f} | {median['monai']['seconds'] / m['seconds']:.2f} | "
              f"{median['monai']['cpu'] / m['cpu']:.2f} |")  # fmt: skip
    diff, labels = compare(workdir / "main-medtk.zarr", workdir / "main-monai.zarr")
    print(f"| | max abs difference of the probabilities {diff:.1e}, labels differing "
          f"{100 * labels:.4f} % | | | | | | | |")  # fmt: skip
    for tool in tools:
        shutil.rmtree(workdir / f"main-{tool}.zarr", ignore_errors=True)
    issue = (256, 1024, 1024)
    print(f"\nMONAI's tensors in memory (float32 input + {CLASSES}-class output + weight "
          f"sums): {gib(monai_memory(shape))} GiB here, {gib(monai_memory(issue))} GiB for "
          f"{' × '.join(map(str, issue))}")  # fmt: skip

    if not flat:
        return
    print(f"\nFlat memory: `predict em` over Z × {args.flat_xy} × {args.flat_xy} volumes\n")
    print(
        "| volume | voxels | MONAI's tensors (GiB) | tool | seconds | CPU s | load "
        "| peak RSS (MiB) |"
    )
    print("|---|---:|---:|---|---:|---:|---:|---:|")
    for i, (size, path) in enumerate(zip(flat, flat_volumes, strict=True)):
        n = math.prod(size)
        for tool in tools if i < args.monai_flat else ("medtk",):
            r = run(tool, path, model, workdir / f"flat-{tool}.zarr")
            print(f"| {' × '.join(map(str, size))} | {n / 1e6:.1f} M | "
                  f"{gib(monai_memory(size))} | {tool} | {r['seconds']:.0f} | {r['cpu']:.0f} | "
                  f"{r['load']:.1f} | {r['rss']:.0f} |",
                  flush=True)  # fmt: skip
            shutil.rmtree(workdir / f"flat-{tool}.zarr", ignore_errors=True)


if __name__ == "__main__":
    main()
