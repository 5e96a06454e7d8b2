"""The peer of `medtk preprocess ingest`: the loop people write by hand.

Read the slide tile by tile with OpenSlide (``read_region`` at level 0), drop alpha, and
assign each tile into a zarr v3 array with zarr's default codec — one thread, level 0
only (no pyramid), so the comparison flatters the loop.

    python benchmarks/naive_openslide_to_zarr.py SLIDE OUT.zarr [--tile 1024]
"""

from __future__ import annotations

import argparse

import numpy as np
import openslide
import zarr


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("slide")
    parser.add_argument("out")
    parser.add_argument("--tile", type=int, default=1024)
    args = parser.parse_args()
    slide = openslide.OpenSlide(args.slide)
    width, height = slide.dimensions
    tile = args.tile
    array = zarr.create_array(
        args.out, shape=(3, height, width), chunks=(3, tile, tile), dtype="uint8"
    )
    for y in range(0, height, tile):
        for x in range(0, width, tile):
            w, h = min(tile, width - x), min(tile, height - y)
            rgba = np.asarray(slide.read_region((x, y), 0, (w, h)))
            array[:, y : y + h, x : x + w] = np.moveaxis(rgba[..., :3], -1, 0)
    print(width * height)


if __name__ == "__main__":
    main()
