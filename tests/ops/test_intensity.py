"""Windowing, normalisation and channel statistics against numpy on the whole array."""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from medtk.errors import BadInputError
from medtk.ops.intensity import (
    channel_stats,
    minmax_normalise,
    percentile_normalise,
    window,
    zscore_normalise,
)

FAST = settings(max_examples=20, deadline=None)
PCTS = (0.5, 1, 99, 99.5)


def numpy_stats(image: np.ndarray, channel_axis: int | None) -> dict:
    """The stats mapping computed the obvious way, on the whole array in memory."""
    if channel_axis is None:
        flat = image.reshape(1, -1).astype(np.float64)
    else:
        flat = np.moveaxis(image, channel_axis, 0).reshape(image.shape[channel_axis], -1)
        flat = flat.astype(np.float64)
    pct = np.percentile(flat, PCTS, axis=1)
    return {
        "min": flat.min(axis=1).tolist(),
        "max": flat.max(axis=1).tolist(),
        "mean": flat.mean(axis=1).tolist(),
        "std": flat.std(axis=1).tolist(),
        "percentiles": {f"{p:g}": pct[i].tolist() for i, p in enumerate(PCTS)},
    }


# --- window -------------------------------------------------------------------------------


def test_window_by_hand():
    hu = np.array([-1000, -200, 25, 250, 3000], dtype=np.int16)
    # 25 HU is the middle of [-200, 250]: 0.5 · 255 = 127.5, rounded half to even → 128
    np.testing.assert_array_equal(window(hu, -200, 250).compute(), [0, 0, 128, 255, 255])
    np.testing.assert_allclose(
        window(hu, -200, 250, out_dtype="float32").compute(), [0, 0, 0.5, 1, 1]
    )
    assert window(hu, -200, 250).dtype == np.uint8
    assert window(hu, -200, 250, out_dtype="float32").dtype == np.float32


@FAST
@given(
    bounds=st.tuples(
        st.floats(-3000, 3000, allow_nan=False), st.floats(0.5, 4000, allow_nan=False)
    ),
    values=hnp.arrays(np.float64, st.integers(1, 200), elements=st.floats(-5000, 5000)),
)
def test_window_matches_the_formula(bounds, values):
    low, width = bounds
    high = low + width
    t = (np.minimum(np.maximum(values, low), high) - low) / (high - low)
    np.testing.assert_array_equal(
        window(values, low, high).compute(), np.rint(t * 255).astype(np.uint8)
    )
    np.testing.assert_allclose(
        window(values, low, high, out_dtype="float32").compute(), t, rtol=1e-6, atol=1e-7
    )


@FAST
@given(
    chunks=st.tuples(st.integers(1, 9), st.integers(3, 17), st.integers(3, 23)),
    seed=st.integers(0, 2**16),
)
def test_window_chunked_equals_unchunked(chunks, seed):
    hu = np.random.default_rng(seed).integers(-1024, 3072, (9, 17, 23)).astype(np.int16)
    lazy = window(da.from_array(hu, chunks=chunks), -200, 250)
    assert lazy.chunks == da.from_array(hu, chunks=chunks).chunks
    np.testing.assert_array_equal(lazy.compute(), window(hu, -200, 250).compute())


@pytest.mark.parametrize(("low", "high"), [(250, -200), (100, 100), (float("nan"), 1)])
def test_window_refuses_empty_or_reversed_bounds(low, high):
    with pytest.raises(BadInputError, match="window"):
        window(np.zeros(3), low, high)


def test_window_refuses_other_dtypes():
    with pytest.raises(BadInputError, match="out_dtype"):
        window(np.zeros(3), 0, 1, out_dtype="int16")


# --- normalisation ------------------------------------------------------------------------


@pytest.fixture
def rgb() -> np.ndarray:
    rng = np.random.default_rng(7)
    image = rng.integers(0, 256, (3, 40, 50)).astype(np.uint8)
    image[1] //= 4  # channels with different ranges
    return image


def test_percentile_normalise_matches_numpy_per_channel(rgb):
    stats = numpy_stats(rgb, 0)
    got = percentile_normalise(
        da.from_array(rgb, chunks=(1, 16, 16)), stats, 1, 99, axes=("c", "y", "x")
    )
    lo = np.percentile(rgb.reshape(3, -1), 1, axis=1)[:, None, None]
    hi = np.percentile(rgb.reshape(3, -1), 99, axis=1)[:, None, None]
    expected = np.clip((rgb - lo) / (hi - lo), 0, 1)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got.compute(), expected, rtol=1e-5, atol=1e-6)
    unclipped = percentile_normalise(rgb, stats, 0.5, 99.5, clip=False, axes="cyx").compute()
    assert unclipped.min() < 0 and unclipped.max() > 1


def test_percentile_normalise_channel_last(rgb):
    last = np.moveaxis(rgb, 0, -1)
    stats = numpy_stats(last, -1)
    got = percentile_normalise(last, stats, axes=("y", "x", "c")).compute()
    first = percentile_normalise(rgb, numpy_stats(rgb, 0), axes=("c", "y", "x")).compute()
    np.testing.assert_allclose(got, np.moveaxis(first, 0, -1), rtol=1e-6)


def test_zscore_normalise_matches_numpy(rgb):
    stats = numpy_stats(rgb, 0)
    got = zscore_normalise(da.from_array(rgb, chunks=(3, 7, 11)), stats, ("c", "y", "x"))
    flat = rgb.reshape(3, -1).astype(np.float64)
    expected = (rgb - flat.mean(1)[:, None, None]) / flat.std(1)[:, None, None]
    np.testing.assert_allclose(got.compute(), expected, rtol=1e-5, atol=1e-5)
    out = got.compute().reshape(3, -1)
    np.testing.assert_allclose(out.mean(axis=1), 0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=1), 1, atol=1e-5)


def test_minmax_normalise_scalar_and_per_channel(rgb):
    np.testing.assert_allclose(
        minmax_normalise(rgb, 0, 255).compute(), rgb / 255.0, rtol=1e-6, atol=1e-7
    )
    stats = numpy_stats(rgb, 0)
    got = minmax_normalise(rgb, stats["min"], stats["max"], axes="cyx").compute()
    np.testing.assert_allclose(got.reshape(3, -1).min(axis=1), 0)
    np.testing.assert_allclose(got.reshape(3, -1).max(axis=1), 1)


def test_single_channel_stats_have_one_element_lists():
    ct = np.random.default_rng(3).normal(40, 20, (4, 20, 20))
    stats = numpy_stats(ct, None)
    got = zscore_normalise(ct, stats, ("z", "y", "x")).compute()
    np.testing.assert_allclose(got, (ct - ct.mean()) / ct.std(), rtol=1e-4, atol=1e-5)
    got = percentile_normalise(ct, stats).compute()  # no axes: one channel
    assert got.shape == ct.shape


def test_a_constant_channel_becomes_zero():
    image = np.stack([np.full((5, 5), 9.0), np.arange(25.0).reshape(5, 5)])
    stats = numpy_stats(image, 0)
    got = zscore_normalise(image, stats, "cyx").compute()
    np.testing.assert_array_equal(got[0], 0)
    assert np.isfinite(got).all()


def test_missing_percentile_is_named(rgb):
    stats = numpy_stats(rgb, 0)
    with pytest.raises(BadInputError, match=r"no 2th percentile \(they have: 0.5, 1, 99, 99.5\)"):
        percentile_normalise(rgb, stats, 2, 98, axes="cyx")
    with pytest.raises(BadInputError, match="no 'percentiles' entry"):
        percentile_normalise(rgb, {"min": [0, 0, 0]}, axes="cyx")
    with pytest.raises(BadInputError, match="no 'std' entry"):
        zscore_normalise(rgb, {"mean": [0, 0, 0]}, "cyx")


def test_channel_count_mismatch_is_explained(rgb):
    grey_stats = numpy_stats(rgb[0], None)
    with pytest.raises(BadInputError, match=r"1 channel value\(s\) but the image has 3"):
        percentile_normalise(rgb, grey_stats, axes="cyx")
    with pytest.raises(BadInputError, match=r"3 channel value\(s\) but the image has 1"):
        zscore_normalise(rgb[0], numpy_stats(rgb, 0), "yx")
    with pytest.raises(BadInputError, match="name 2 axes but the array has 3"):
        zscore_normalise(rgb, numpy_stats(rgb, 0), "yx")


# --- channel_stats ------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.uint16])
def test_channel_stats_are_exact_for_integer_images(dtype):
    rng = np.random.default_rng(11)
    info = np.iinfo(dtype)
    image = rng.integers(max(info.min, -1024), min(info.max, 3072), (3, 37, 41)).astype(dtype)
    got = channel_stats(da.from_array(image, chunks=(1, 10, 13)), ("c", "y", "x"))
    expected = numpy_stats(image, 0)
    assert got["min"] == expected["min"] and got["max"] == expected["max"]
    np.testing.assert_allclose(got["mean"], expected["mean"], rtol=1e-12)
    np.testing.assert_allclose(got["std"], expected["std"], rtol=1e-10)
    assert set(got["percentiles"]) == {"0.5", "1", "99", "99.5"}
    for key, values in expected["percentiles"].items():
        np.testing.assert_allclose(got["percentiles"][key], values, rtol=1e-12, atol=1e-9)


def test_channel_stats_float_percentiles_within_one_bin():
    image = np.random.default_rng(5).lognormal(0, 1, (60, 70))
    bins = 1024
    got = channel_stats(da.from_array(image, chunks=25), ("y", "x"), (1, 50, 99.9), bins=bins)
    width = (image.max() - image.min()) / bins
    for p in (1, 50, 99.9):
        assert abs(got["percentiles"][f"{p:g}"][0] - np.percentile(image, p)) <= width
    assert len(got["min"]) == 1


@settings(max_examples=10, deadline=None)
@given(
    chunks=st.tuples(st.integers(1, 3), st.integers(6, 30), st.integers(6, 30)),
    seed=st.integers(0, 2**16),
)
def test_channel_stats_do_not_depend_on_chunks(chunks, seed):
    image = np.random.default_rng(seed).integers(0, 4096, (3, 30, 30)).astype(np.uint16)
    with dask.config.set(scheduler="synchronous"):
        whole = channel_stats(image, "cyx")
        chunked = channel_stats(da.from_array(image, chunks=chunks), "cyx")
    assert chunked["min"] == whole["min"] and chunked["max"] == whole["max"]
    assert chunked["percentiles"] == whole["percentiles"]
    np.testing.assert_allclose(chunked["mean"], whole["mean"], rtol=1e-12)
    np.testing.assert_allclose(chunked["std"], whole["std"], rtol=1e-9)


def test_channel_stats_feed_percentile_normalise(rgb):
    stats = channel_stats(rgb, ("c", "y", "x"))
    got = percentile_normalise(rgb, stats, 1, 99, axes=("c", "y", "x")).compute()
    expected = percentile_normalise(rgb, numpy_stats(rgb, 0), 1, 99, axes="cyx").compute()
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)


def test_channel_stats_of_a_constant_image():
    stats = channel_stats(np.full((4, 4), 7.5), ("y", "x"))
    assert stats["min"] == stats["max"] == [7.5]
    assert all(v == [7.5] for v in stats["percentiles"].values())
    assert stats["std"] == [0.0]
