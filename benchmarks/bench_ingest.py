"""Ingest of a large whole-slide image into OME-Zarr: medtk beside a hand-written loop.

Generates (once) a pyramidal, JPEG-tiled RGB TIFF of SIZE × SIZE pixels with
``medtk.datasets.write_slide``, then in one run:

- ``medtk preprocess ingest`` (all levels of the pyramid, statistics, checksum);
- the naive loop: OpenSlide ``read_region`` per 1024² tile → zarr, level 0 only.

Each runs in its own process; the table gives wall time, megapixels per second, peak
resident memory and the throughput ratio. Needs a few GB of free disk for 40,000².

    python benchmarks/bench_ingest.py [--size 40000] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import run_with_peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=40_000)
    parser.add_argument("--workdir", type=Path, default=None)
    args, _ = parser.parse_known_args()
    workdir = args.workdir or Path(tempfile.gettempdir()) / "medtk-bench"
    workdir.mkdir(parents=True, exist_ok=True)
    slide = workdir / f"slide-{args.size}.tif"
    if not slide.exists():
        from medtk.datasets import write_slide

        start = time.perf_counter()
        write_slide(slide, width=args.size, height=args.size)
        print(f"generated {slide} in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    megapixels = args.size * args.size / 1e6
    for old in ("medtk.zarr", "naive.zarr"):
        shutil.rmtree(workdir / old, ignore_errors=True)

    medtk = run_with_peak(
        [
            sys.executable,
            "-m",
            "medtk",
            "preprocess",
            "ingest",
            str(slide),
            "-o",
            str(workdir / "medtk.zarr"),
        ]
    )
    naive = run_with_peak(
        [
            sys.executable,
            str(Path(__file__).with_name("naive_openslide_to_zarr.py")),
            str(slide),
            str(workdir / "naive.zarr"),
        ]
    )
    cores = len(os.sched_getaffinity(0))
    print(
        f"Ingest of a {args.size:,} × {args.size:,} RGB JPEG-tiled TIFF "
        f"({slide.stat().st_size / 2**20:.0f} MiB), {cores} cores, "
        f"Python {platform.python_version()}\n"
    )
    print("| tool | seconds | MP/s | peak RSS (MiB) | throughput ÷ naive |")
    print("|---|---:|---:|---:|---:|")
    for name, run in (
        ("medtk preprocess ingest (all pyramid levels)", medtk),
        ("naive OpenSlide tile loop → zarr (level 0 only)", naive),
    ):
        print(
            f"| {name} | {run.seconds:.1f} | {megapixels / run.seconds:.1f} | "
            f"{run.peak_rss_mib:.0f} | {naive.seconds / run.seconds:.2f} |"
        )
    check_equal(workdir / "medtk.zarr", workdir / "naive.zarr")


def check_equal(medtk_store: Path, naive_store: Path) -> None:
    """Both decoders see the same JPEG tiles; report how far their pixels differ."""
    import numpy as np
    import zarr

    ours = zarr.open_group(str(medtk_store), mode="r")["0"]
    theirs = zarr.open_array(str(naive_store), mode="r")
    window = (slice(None), slice(4096, 6144), slice(4096, 6144))
    diff = np.abs(ours[window].astype(int) - theirs[window].astype(int))
    print(
        f"\nlevel-0 pixels, medtk vs OpenSlide decode: max |Δ| = {diff.max()}, "
        f"mean |Δ| = {diff.mean():.3f}"
    )


if __name__ == "__main__":
    main()
