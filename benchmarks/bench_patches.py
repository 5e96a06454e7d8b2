"""Tissue-patch extraction at 5× (224 px): medtk beside per-patch OpenSlide and TIAToolbox.

On the same generated slide as ``bench_ingest.py`` (SIZE × SIZE, 20×, 0.5 µm/px), every
tool lays the same non-overlapping 5× grid, drops background patches (mean > 220, the
NAFLD rule) and hands over the tissue patches as 224 × 224 RGB arrays:

- medtk: its Python API on the store (``patch_grid``, then ``PatchReader.read_many``,
  each chunk decoded once, with the mean rule applied while reading; and in two passes,
  ``drop_background`` first); the CLI step is timed apart;
- the per-patch loop: ``OpenSlide.read_region`` at the best level for 5× per grid cell,
  mean, keep or drop;
- TIAToolbox's ``SlidingWindowPatchExtractor`` at 5× (``units="power"``), when it is
  installed (``--tiatoolbox-python`` names an interpreter that has it).

The ingest itself is timed by ``bench_ingest.py``; here the store exists already, as it
does in any workflow that extracts patches more than once.

    python benchmarks/bench_patches.py [--size 40000] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PATCH, MAGNIFICATION, BACKGROUND = 224, 5.0, 220.0

OPENSLIDE_LOOP = r"""
import json, sys, time
import numpy as np, openslide
slide = openslide.OpenSlide(sys.argv[1])
patch, background = int(sys.argv[2]), float(sys.argv[3])
power = float(slide.properties.get("openslide.objective-power", 20))
downsample = power / float(sys.argv[4])
level = slide.get_best_level_for_downsample(downsample + 1e-6)
scale = downsample / slide.level_downsamples[level]
read = round(patch * scale)
footprint = round(patch * downsample)
width, height = slide.dimensions
start = time.perf_counter()
kept = candidates = 0
for y in range(0, height - footprint + 1, footprint):
    for x in range(0, width - footprint + 1, footprint):
        candidates += 1
        region = slide.read_region((x, y), level, (read, read)).convert("RGB")
        if read != patch:
            region = region.resize((patch, patch))
        array = np.asarray(region)
        if array.mean() <= background:
            kept += 1
print(json.dumps({"seconds": time.perf_counter() - start, "kept": kept,
                  "candidates": candidates}))
"""

TIATOOLBOX_LOOP = r"""
import json, sys, time
import numpy as np
from tiatoolbox.tools.patchextraction import get_patch_extractor
from tiatoolbox.wsicore.wsireader import WSIReader
patch, background, power = int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
start = time.perf_counter()
reader = WSIReader.open(sys.argv[1])
extractor = get_patch_extractor("slidingwindow", input_img=reader,
    patch_size=(patch, patch), resolution=power, units="power")
kept = candidates = 0
for array in extractor:
    candidates += 1
    if np.asarray(array).mean() <= background:
        kept += 1
print(json.dumps({"seconds": time.perf_counter() - start, "kept": kept,
                  "candidates": candidates}))
"""


def run_json(command: list[str]) -> dict:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-3000:])
        raise SystemExit(f"{command[:3]} failed")
    return json.loads(done.stdout)


def medtk_patches(store_path: Path, *, one_pass: bool) -> dict:
    """The medtk way through its Python API, timed like the loops (after imports).

    One pass: read every grid patch with ``PatchReader.read_many`` (each chunk decoded
    once) and keep those whose mean is at most 220, as the loops do. Two passes: patch
    means from the level first (``drop_background``), then read only the tissue patches,
    which is what ``medtk preprocess patches`` followed by training does.
    """
    from medtk.io.patch_reader import PatchReader
    from medtk.io.store import Store
    from medtk.ops.patches import drop_background, patch_grid

    start = time.perf_counter()
    store = Store.open(store_path)
    grid = patch_grid(
        [level.shape for level in store.levels],
        [store.downsample(i)[-1] for i in range(len(store.levels))],
        store.medtk.get("mpp"),
        store.medtk.get("magnification"),
        size=PATCH,
        magnification=MAGNIFICATION,
    )
    candidates = len(grid)
    if not one_pass:
        grid = drop_background(store.dask(grid.level), grid, BACKGROUND)
    reader = PatchReader(store, grid.level)
    size = grid.level_size
    boxes = [(x, y, size, size) for x, y in zip(grid.level_x, grid.level_y, strict=True)]
    kept = sum(1 for patch in reader.read_many(boxes) if patch.mean() <= BACKGROUND)
    return {"seconds": time.perf_counter() - start, "kept": kept, "candidates": candidates}


def cli_seconds(store: Path, workdir: Path) -> float:
    """Wall time of ``medtk preprocess patches`` (start-up, grid, table and thumbnail)."""
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "medtk", "preprocess", "patches", str(store),
         "--magnification", str(MAGNIFICATION), "--size", str(PATCH),
         "--background", str(BACKGROUND), "-o", str(workdir / "grid"), "--overwrite"],
        check=True, capture_output=True,
    )  # fmt: skip
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=40_000)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--tiatoolbox-python", default=None)
    args, _ = parser.parse_known_args()
    workdir = args.workdir or Path(tempfile.gettempdir()) / "medtk-bench"
    workdir.mkdir(parents=True, exist_ok=True)
    slide = workdir / f"slide-{args.size}.tif"
    store = workdir / "medtk.zarr"
    if not slide.exists():
        from medtk.datasets import write_slide

        write_slide(slide, width=args.size, height=args.size)
    if not store.exists():
        subprocess.run(
            [sys.executable, "-m", "medtk", "preprocess", "ingest", str(slide), "-o", str(store)],
            check=True,
        )
    results = {
        "medtk, one pass (grid → read → mean rule)": medtk_patches(store, one_pass=True),
        "medtk, two passes (patch means, then read tissue)": medtk_patches(store, one_pass=False),
    }
    results["OpenSlide read_region per patch"] = run_json(
        [sys.executable, "-c", OPENSLIDE_LOOP, str(slide), str(PATCH), str(BACKGROUND),
         str(MAGNIFICATION)]
    )  # fmt: skip
    tia = args.tiatoolbox_python
    if tia:
        results["TIAToolbox SlidingWindowPatchExtractor"] = run_json(
            [tia, "-c", TIATOOLBOX_LOOP, str(slide), str(PATCH), str(BACKGROUND),
             str(MAGNIFICATION)]
        )  # fmt: skip
    loop = results["OpenSlide read_region per patch"]["seconds"]
    loop_rate = results["OpenSlide read_region per patch"]["kept"] / loop
    print(
        f"Tissue patches at {MAGNIFICATION:g}× ({PATCH} px) from a {args.size:,}² slide, "
        f"{len(os.sched_getaffinity(0))} cores\n"
    )
    print("| tool | candidates | tissue patches | seconds | patches/s | ÷ OpenSlide loop |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, record in results.items():
        rate = record["kept"] / record["seconds"]
        print(
            f"| {name} | {record['candidates']} | {record['kept']} | "
            f"{record['seconds']:.2f} | {rate:.0f} | {rate / loop_rate:.2f} |"
        )
    print(
        f"\n`medtk preprocess patches` on the command line (start-up, grid, patches.csv and "
        f"thumbnail.png): {cli_seconds(store, workdir):.2f} s"
    )


if __name__ == "__main__":
    main()
