"""PatchReader: any box, in any order and window size, equals a cut of the level."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from medtk.io.ingest import IngestOptions, write_store
from medtk.io.patch_reader import PatchReader
from medtk.io.source import array_source
from medtk.io.store import Store

HEIGHT, WIDTH = 150, 230


def make_store(folder: Path, image: np.ndarray, axes: tuple[str, ...]) -> Store:
    source = array_source(image, path=folder / "src", axes=axes, spacing=(1.0, 1.0), unit="")
    out = folder / "image.zarr"
    write_store(source, out, options=IngestOptions(chunk_xy=32, min_size=1024, workers=2))
    return Store.open(out)


@pytest.fixture(scope="module")
def rgb(tmp_path_factory):
    image = np.random.default_rng(5).integers(0, 256, (3, HEIGHT, WIDTH), dtype=np.uint8)
    return make_store(tmp_path_factory.mktemp("rgb"), image, ("c", "y", "x")), image


@pytest.fixture(scope="module")
def grey(tmp_path_factory):
    image = np.random.default_rng(6).integers(0, 4096, (HEIGHT, WIDTH), dtype=np.uint16)
    return make_store(tmp_path_factory.mktemp("grey"), image, ("y", "x")), image


boxes = st.tuples(st.integers(0, WIDTH - 1), st.integers(0, HEIGHT - 1)).flatmap(
    lambda corner: st.tuples(
        st.just(corner[0]),
        st.just(corner[1]),
        st.integers(1, WIDTH - corner[0]),
        st.integers(1, HEIGHT - corner[1]),
    )
)


@settings(max_examples=40, deadline=None)
@given(many=st.lists(boxes, min_size=1, max_size=30), cache_chunks=st.integers(1, 40))
def test_read_many_equals_cuts_of_the_level_in_the_order_asked(rgb, grey, many, cache_chunks):
    for store, image in (rgb, grey):
        planes = image if image.ndim == 3 else image[None]
        chunk_bytes = planes.shape[0] * 32 * 32 * image.dtype.itemsize
        reader = PatchReader(store, 0, workers=2, cache_bytes=cache_chunks * chunk_bytes)
        got = list(reader.read_many(many))
        assert len(got) == len(many)
        for (x, y, w, h), patch in zip(many, got, strict=True):
            np.testing.assert_array_equal(patch, planes[:, y : y + h, x : x + w])
            np.testing.assert_array_equal(reader.read(x, y, w, h), patch)


def test_a_raster_grid_decodes_each_chunk_once(rgb, monkeypatch):
    store, image = rgb
    # room for two rows of chunks (8 across): a row of patches straddles at most two
    reader = PatchReader(store, 0, workers=1, cache_bytes=16 * 3 * 32 * 32)
    decoded: list[tuple[slice, ...]] = []
    original = reader.array

    class Counting:
        chunks, shape, dtype = original.chunks, original.shape, original.dtype

        def __getitem__(self, key):
            decoded.append(key)
            return original[key]

    monkeypatch.setattr(reader, "array", Counting())
    grid = [(x, y, 20, 20) for y in range(0, HEIGHT - 20, 20) for x in range(0, WIDTH - 20, 20)]
    patches = list(reader.read_many(grid))
    np.testing.assert_array_equal(patches[-1], image[:, 120:140, 200:220])
    chunks_touched = {(y // 32, x // 32) for x, y, _, _ in grid} | {
        ((y + 19) // 32, (x + 19) // 32) for x, y, _, _ in grid
    }
    assert len(decoded) == len(chunks_touched)


@pytest.mark.parametrize("box", [(-1, 0, 10, 10), (0, 0, WIDTH + 1, 5), (5, 5, 0, 3)])
def test_boxes_outside_the_image_are_refused(rgb, box):
    reader = PatchReader(rgb[0], 0)
    with pytest.raises(ValueError, match=r"patch at"):
        list(reader.read_many([box]))
