"""The block-wise pyramid: planning, downsampling, and equality with a whole-image result."""

from __future__ import annotations

import itertools
import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from medtk.io.journal import Journal
from medtk.io.pyramid import (
    PyramidWriter,
    block_stats,
    downsample,
    merge_stats,
    plan_passes,
    plan_pyramid,
)


def whole_pyramid(image: np.ndarray, factors, method: str) -> list[np.ndarray]:
    levels = [image]
    for step in factors:
        levels.append(downsample(levels[-1], step, method))
    return levels


def test_plan_halves_yx_until_min_size():
    plan = plan_pyramid((3, 40_000, 30_000), "cyx", (0.25, 0.25), (3, 1024, 1024), min_size=256)
    assert plan.shapes[1] == (3, 20_000, 15_000)
    assert max(plan.shapes[-1][1:]) <= 256 < max(plan.shapes[-2][1:])
    assert all(f[0] == 1 for f in plan.factors)  # channels never shrink
    assert plan.scales[2] == (1.0, 1.0, 1.0)


def test_anisotropic_ct_keeps_slices_until_in_plane_catches_up():
    plan = plan_pyramid((60, 4096, 4096), "zyx", (5.0, 0.7, 0.7), (32, 256, 256), min_size=256)
    z_factors = [f[0] for f in plan.factors]
    # in plane 0.7 → 1.4 → 2.8 → 5.6 mm; z (5 mm) shrinks once 5 <= 1.5 × in-plane spacing
    assert z_factors[:4] == [1, 1, 1, 2]
    assert plan.scales[1] == (5.0, 1.4, 1.4)


def test_isotropic_volume_shrinks_evenly():
    plan = plan_pyramid((512, 512, 512), "zyx", (1.0, 1.0, 1.0), (64, 64, 64), min_size=128)
    assert plan.shapes == ((512, 512, 512), (256, 256, 256), (128, 128, 128))


def test_mean_downsample_matches_numpy_on_even_and_odd_shapes():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 255, (5, 7), dtype=np.uint8)
    small = downsample(image, (2, 2), "mean")
    assert small.shape == (3, 4)
    assert small[0, 0] == round(image[:2, :2].astype(float).mean())
    assert small[2, 3] == image[4, 6]  # the odd corner averages over the one pixel it has
    assert small[2, 0] == round(image[4, :2].astype(float).mean())


def reference_mean(image: np.ndarray, factors) -> np.ndarray:
    """Each cell's mean over the pixels it has (edge cells may have fewer), rounded half up."""
    shape = [math.ceil(n / f) for n, f in zip(image.shape, factors, strict=True)]
    out = np.empty(shape, dtype=np.float64)
    for index in itertools.product(*(range(n) for n in shape)):
        cell = tuple(slice(i * f, (i + 1) * f) for i, f in zip(index, factors, strict=True))
        out[index] = image[cell].astype(np.float64).mean()
    if np.issubdtype(image.dtype, np.integer):
        return np.floor(out + 0.5).astype(image.dtype)
    return out.astype(image.dtype)


@settings(max_examples=60, deadline=None)
@given(
    dtype=st.sampled_from([np.uint8, np.uint16, np.int16, np.float32]),
    shape=st.lists(st.integers(1, 9), min_size=2, max_size=3),
    halve=st.lists(st.booleans(), min_size=3, max_size=3),
    seed=st.integers(0, 2**16),
)
def test_mean_downsample_equals_cell_means_rounded_half_up(dtype, shape, halve, seed):
    rng = np.random.default_rng(seed)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        image = rng.integers(info.min, int(info.max) + 1, shape, dtype=dtype)
    else:
        image = rng.normal(0, 100, shape).astype(dtype)
    factors = tuple(2 if h else 1 for h in halve[: len(shape)])
    small = downsample(image, factors, "mean")
    assert small.dtype == image.dtype
    np.testing.assert_allclose(small, reference_mean(image, factors), rtol=1e-6)


def test_nearest_downsample_keeps_label_values():
    labels = np.arange(16, dtype=np.uint16).reshape(4, 4)
    assert downsample(labels, (2, 2), "nearest").tolist() == [[0, 2], [8, 10]]


def test_passes_respect_the_block_budget():
    plan = plan_pyramid((3, 8192, 8192), "cyx", (1.0, 1.0), (3, 512, 512), min_size=64)
    passes = plan_passes(plan, itemsize=1, budget=3 * 2048 * 2048)
    assert passes[0][0] == 0
    assert passes[-1][1] == plan.levels - 1
    for (_, last), (source, _) in itertools.pairwise(passes):
        assert source == last  # each pass starts from the previous pass's last level


def test_merged_block_stats_equal_whole_image_stats():
    rng = np.random.default_rng(2)
    image = rng.normal(100, 20, (3, 64, 48)).astype(np.float32)
    parts = [block_stats(image[:, :32], 0), block_stats(image[:, 32:], 0)]
    stats = merge_stats(parts)
    flat = image.reshape(3, -1).astype(np.float64)
    np.testing.assert_allclose(stats["mean"], flat.mean(1), rtol=1e-9)
    np.testing.assert_allclose(stats["std"], flat.std(1), rtol=1e-6)
    assert stats["min"] == flat.min(1).tolist()


class ListArray:
    """A stand-in for a zarr array level: numpy with item assignment."""

    def __init__(self, shape, dtype):
        self.data = np.zeros(shape, dtype)

    def __setitem__(self, key, value):
        self.data[key] = value

    def __getitem__(self, key):
        return self.data[key]


@settings(max_examples=40, deadline=None)
@given(
    height=st.integers(1, 300),
    width=st.integers(1, 300),
    chunk=st.sampled_from([16, 32, 48, 64]),
    budget=st.sampled_from([256, 4096, 1 << 20]),
    workers=st.integers(1, 3),
    method=st.sampled_from(["mean", "nearest"]),
)
def test_blockwise_pyramid_equals_whole_image_pyramid(
    tmp_path_factory, height, width, chunk, budget, workers, method
):
    rng = np.random.default_rng(height * 1000 + width)
    image = rng.integers(0, 255, (height, width), dtype=np.uint8)
    plan = plan_pyramid(image.shape, "yx", (1.0, 1.0), (chunk, chunk), min_size=8)
    arrays = [ListArray(shape, np.uint8) for shape in plan.shapes]
    journal = Journal(tmp_path_factory.mktemp("j") / "journal.jsonl", {"t": 1})
    with journal:
        writer = PyramidWriter(
            name="image",
            plan=plan,
            read=lambda region: image[region],
            arrays=arrays,
            method=method,
            journal=journal,
            workers=workers,
            budget=budget,
        )
        done = []
        writer.run(done.append)
    expected = whole_pyramid(image, plan.factors, method)
    for level, (array, want) in enumerate(zip(arrays, expected, strict=True)):
        np.testing.assert_array_equal(array.data, want, err_msg=f"level {level}")
    assert sum(done) == writer.total_blocks()
    assert math.prod(plan.shapes[-1]) > 0


@settings(max_examples=30, deadline=None)
@given(
    dtype=st.sampled_from(["uint8", "int16", "uint16"]),
    split=st.integers(1, 99),
    seed=st.integers(0, 1000),
)
def test_histogram_stats_merge_to_exact_percentiles(dtype, split, seed):
    rng = np.random.default_rng(seed)
    info = np.iinfo(dtype)
    low, high = max(info.min, -3000), min(info.max, 3000)
    image = rng.integers(low, high, (2, 10, 10), endpoint=True).astype(dtype)
    flat = image.reshape(2, -1)
    parts = [block_stats(flat[:, :split], 0), block_stats(flat[:, split:], 0)]
    stats = merge_stats(parts, (0.5, 1, 50, 99, 99.5))
    for pct in (0.5, 1, 50, 99, 99.5):
        np.testing.assert_allclose(
            stats["percentiles"][f"{pct:g}"], np.percentile(flat, pct, axis=1), rtol=1e-9
        )
    np.testing.assert_allclose(stats["mean"], flat.mean(axis=1))
    np.testing.assert_allclose(stats["std"], flat.std(axis=1))
    assert stats["min"] == flat.min(axis=1).tolist()
