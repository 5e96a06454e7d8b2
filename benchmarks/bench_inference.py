"""Tiled inference: medtk's ``infer`` beside MONAI's ``sliding_window_inference``.

Same network (a small two-level U-Net, width 16, seeded), same tile, overlap 0.25,
Gaussian blending (σ = tile / 8) and 4 tiles per batch, on the CPU:

- 2D: an RGB store of 2048 × 2048 pixels, tiles of 256 × 256, 2 classes;
- 3D: a volume store of 32 × 512 × 512 voxels, tiles of 32 × 128 × 128, 2 classes.

Each tool runs in its own process (peak RSS from the kernel, see ``_measure.py``) and
does the whole job: read the store, predict, write float32 probabilities to zarr. MONAI
runs as its documentation shows (the model as given, the image as one tensor in memory),
and once more with the model and image in channels-last memory format, the trick medtk
applies by itself. The rounds alternate; the table gives medians.

Then flat memory: a tiny 3D network over uint8 volumes of 512 × 512 × Z for growing Z
(each 4× the last), labels written. medtk's peak RSS stays flat; MONAI's grows with the
volume (it holds the image, the output and the weight sums in memory), so it runs only
on the smaller ones.

    python benchmarks/bench_inference.py [--rounds 3] [--flat 128,512,2048] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))

CASES = {
    "2d": {"shape": (3, 2048, 2048), "axes": ("c", "y", "x"), "tile": (256, 256)},
    "3d": {"shape": (32, 512, 512), "axes": ("z", "y", "x"), "tile": (32, 128, 128)},
}
FLAT_TILE = (32, 128, 128)
OVERLAP, BATCH = 0.25, 4


def unet(dims: int, cin: int, classes: int = 2, width: int = 16) -> nn.Module:
    """A small two-level U-Net with a softmax head, seeded."""
    torch.manual_seed(0)
    conv = nn.Conv2d if dims == 2 else nn.Conv3d
    pool = nn.MaxPool2d(2) if dims == 2 else nn.MaxPool3d(2)
    mode = "bilinear" if dims == 2 else "trilinear"

    def block(a: int, b: int) -> nn.Module:
        return nn.Sequential(
            conv(a, b, 3, padding=1), nn.ReLU(), conv(b, b, 3, padding=1), nn.ReLU()
        )

    class UNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.down, self.pool = block(cin, width), pool
            self.bottom = block(width, 2 * width)
            self.up = nn.Sequential(conv(3 * width, width, 3, padding=1), nn.ReLU())
            self.head = conv(width, classes, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            skip = self.down(x)
            deep = self.bottom(self.pool(skip))
            deep = nn.functional.interpolate(deep, scale_factor=2, mode=mode)
            return torch.softmax(self.head(self.up(torch.cat([skip, deep], 1))), 1)

    return UNet().eval()


def tiny(classes: int = 2) -> nn.Module:
    """Two 3×3×3 convolutions, for the flat-memory runs (there, I/O matters more)."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv3d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv3d(4, classes, 3, padding=1),
        nn.Softmax(1),
    ).eval()  # fmt: skip


# --------------------------------------------------------------------------------------
# children: one job each, timed from inside (imports excluded), JSON on stdout


def child_medtk(args: argparse.Namespace) -> dict[str, float]:
    # imported before the clock starts, as the MONAI child imports zarr and MONAI
    import dask.threaded  # noqa: F401
    import zarr  # noqa: F401

    from medtk.engine.inference import infer

    if args.case == "flat":
        model, tile, output = tiny(), FLAT_TILE, "labels"
    else:
        case = CASES[args.case]
        model, tile, output = (
            unet(len(case["tile"]), 3 if "c" in case["axes"] else 1),
            case["tile"],
            "probabilities",
        )
    start = time.perf_counter()
    infer(args.input, model, args.out, tile=tile, overlap=OVERLAP, blending="gaussian",
          batch_size=BATCH, output=output)  # fmt: skip
    return {"seconds": time.perf_counter() - start}


def child_monai(args: argparse.Namespace, channels_last: bool) -> dict[str, float]:
    import numpy as np
    import zarr
    from monai.inferers import sliding_window_inference

    from medtk.io.store import Store, compressor

    store = Store.open(args.input)
    if args.case == "flat":
        model, tile = tiny(), FLAT_TILE
    else:
        case = CASES[args.case]
        model, tile = unet(len(case["tile"]), 3 if "c" in case["axes"] else 1), case["tile"]
    start = time.perf_counter()
    image = torch.from_numpy(np.asarray(store.array(0)[...], dtype=np.float32))
    image = image[None] if "c" in store.axes else image[None, None]
    if channels_last:
        layout = torch.channels_last if image.ndim == 4 else torch.channels_last_3d
        model = model.to(memory_format=layout)
        image = image.contiguous(memory_format=layout)
    with torch.inference_mode():
        out = sliding_window_inference(image, tile, BATCH, model, overlap=OVERLAP, mode="gaussian")
    out = out[0].contiguous().numpy()
    if args.case == "flat":
        out = np.argmax(out, axis=0).astype(np.uint8)
        chunks = (32, 256, 256)
    else:
        chunks = (2, 1024, 1024) if out.ndim == 3 else (2, 32, 256, 256)
    array = zarr.create_array(args.out, shape=out.shape, chunks=chunks, dtype=out.dtype,
                              compressors=compressor())  # fmt: skip
    array[...] = out
    return {"seconds": time.perf_counter() - start}


# --------------------------------------------------------------------------------------
# the parent


def make_inputs(workdir: Path, flat: list[int]) -> dict[str, Path]:
    """The 2D and 3D stores and the flat-memory volumes, made once."""
    import dask.array as da

    from medtk.io.ingest import IngestOptions, write_store
    from medtk.io.source import array_source

    paths = {}
    jobs = [(name, case["shape"], case["axes"], "uint8" if name == "2d" else "int16")
            for name, case in CASES.items()]  # fmt: skip
    jobs += [(f"flat{z}", (z, 512, 512), ("z", "y", "x"), "uint8") for z in flat]
    for name, shape, axes, dtype in jobs:
        path = workdir / f"{name}.zarr"
        paths[name] = path
        if path.exists():
            continue
        high = 255 if dtype == "uint8" else 2000
        chunks = (3, 1024, 1024) if len(shape) == 3 and axes[0] == "c" else (32, 256, 256)
        image = da.random.default_rng(0).integers(0, high, shape, dtype=dtype, chunks=chunks)
        spacing = (1.0,) * sum(a != "c" for a in axes)
        source = array_source(image, path=path, axes=axes, spacing=spacing, unit="")
        start = time.perf_counter()
        write_store(source, path, options=IngestOptions(min_size=1 << 30))
        print(f"made {path.name} {shape} in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return paths


def run(tool: str, case: str, source: Path, out: Path) -> dict[str, float]:
    from _measure import run_with_peak

    shutil.rmtree(out, ignore_errors=True)
    done = run_with_peak([sys.executable, __file__, "--child", tool, "--case", case,
                          "--input", str(source), "--out", str(out)])  # fmt: skip
    record = json.loads(done.stdout.strip().splitlines()[-1])
    return {**record, "wall": done.seconds, "rss": done.peak_rss_mib}


def compare(medtk: Path, monai: Path) -> float:
    import numpy as np
    import zarr

    ours = zarr.open_group(str(medtk), mode="r")["0"][...]
    theirs = zarr.open_array(str(monai), mode="r")[...]
    return float(np.abs(ours - theirs).max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", default=None)
    parser.add_argument("--case", default=None)
    parser.add_argument("--input", default=None)
    parser.add_argument("--out", default=None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--flat", default="128,512,2048", help="Z sizes of the 512² volumes")
    parser.add_argument("--monai-flat", type=int, default=2, help="MONAI on this many of them")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    if args.child:
        tools = {
            "medtk": child_medtk,
            "monai": lambda a: child_monai(a, channels_last=False),
            "monai-cl": lambda a: child_monai(a, channels_last=True),
        }
        print(json.dumps(tools[args.child](args)))
        return

    workdir = args.workdir or Path(tempfile.gettempdir()) / "medtk-bench-inference"
    workdir.mkdir(parents=True, exist_ok=True)
    flat = [int(z) for z in args.flat.split(",") if z]
    inputs = make_inputs(workdir, flat)
    cores = len(os.sched_getaffinity(0))
    print(f"Tiled inference on the CPU ({cores} cores, torch {torch.__version__}, "
          f"Python {platform.python_version()}), overlap {OVERLAP}, gaussian blending, "
          f"batch {BATCH}; medians of {args.rounds} alternating rounds\n")  # fmt: skip
    print("| case | tool | seconds | Mpx/s | wall s | peak RSS (MiB) | throughput ÷ MONAI |")
    print("|---|---|---:|---:|---:|---:|---:|")
    tools = ("medtk", "monai", "monai-cl")
    for case, spec in CASES.items():
        records: dict[str, list[dict[str, float]]] = {t: [] for t in tools}
        for _ in range(args.rounds):
            for tool in tools:
                records[tool].append(run(tool, case, inputs[case], workdir / f"{case}-{tool}.zarr"))
        pixels = spec["shape"][-2] * spec["shape"][-1] * (spec["shape"][0] if case == "3d" else 1)
        median = {
            t: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for t, rs in records.items()
        }
        for tool in tools:
            m = median[tool]
            name = {"medtk": "medtk infer", "monai": "MONAI sliding_window_inference",
                    "monai-cl": "MONAI, channels-last by hand"}[tool]  # fmt: skip
            print(f"| {case} {' × '.join(map(str, spec['shape'][-3 if case == '3d' else -2:]))}, "
                  f"tile {' × '.join(map(str, spec['tile']))} | {name} | {m['seconds']:.1f} | "
                  f"{pixels / 1e6 / m['seconds']:.2f} | {m['wall']:.1f} | {m['rss']:.0f} | "
                  f"{median['monai']['seconds'] / m['seconds']:.2f} |")  # fmt: skip
        diff = compare(workdir / f"{case}-medtk.zarr", workdir / f"{case}-monai.zarr")
        print(f"| | max abs difference medtk − MONAI: {diff:.1e} | | | | | |")

    print("\nFlat memory: tiny 3D net, uint8 volumes, tile 32 × 128 × 128, labels written\n")
    print(
        "| volume (z × 512 × 512) | voxels | float32 size (GiB) | tool | seconds | peak RSS (MiB) |"
    )
    print("|---|---:|---:|---|---:|---:|")
    for i, z in enumerate(flat):
        name = f"flat{z}"
        voxels = z * 512 * 512
        for tool in ("medtk", "monai") if i < args.monai_flat else ("medtk",):
            r = run(tool, "flat", inputs[name], workdir / f"{name}-{tool}.zarr")
            print(f"| {z} × 512 × 512 | {voxels / 1e6:.0f} M | {voxels * 4 / 2**30:.2f} | "
                  f"{tool} | {r['seconds']:.1f} | {r['rss']:.0f} |")  # fmt: skip
            shutil.rmtree(workdir / f"{name}-{tool}.zarr", ignore_errors=True)


if __name__ == "__main__":
    main()
