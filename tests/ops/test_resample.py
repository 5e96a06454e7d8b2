"""Chunk-wise resampling equals whole-array scipy/scikit-image resampling, seams included."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage
from skimage.transform import resize

from medtk.errors import BadInputError
from medtk.ops.resample import resample_to_spacing, resampled_shape


def scipy_zoom(image: np.ndarray, shape: tuple[int, ...], order: int) -> np.ndarray:
    """The whole-array reference: pixel centres aligned, edge values repeated."""
    factors = np.array(shape) / np.array(image.shape)
    return ndimage.zoom(image, factors, order=order, grid_mode=True, mode="nearest")


@pytest.fixture(scope="module")
def volume() -> np.ndarray:
    rng = np.random.default_rng(0)
    return ndimage.gaussian_filter(rng.normal(0, 100, (18, 40, 44)), 1.5).astype(np.float32)


CT_LIKE = [
    ((5.0, 0.7, 0.7), (1.5, 1.5, 1.5)),  # thick slices, upsample z, downsample y/x
    ((1.0, 1.0, 1.0), (1.0, 2.0, 2.0)),  # even factor: nearest has exact ties
    ((2.0, 0.8, 1.1), (0.9, 1.7, 0.45)),
]


@pytest.mark.parametrize(("spacing", "target"), CT_LIKE)
@pytest.mark.parametrize("order", [0, 1])
def test_matches_scipy_zoom_on_the_whole_array(volume, spacing, target, order):
    out, reached = resample_to_spacing(
        da.from_array(volume, chunks=(5, 9, 13)), ("z", "y", "x"), spacing, target, order=order
    )
    expected_shape = resampled_shape(volume.shape, spacing, target)
    assert out.shape == expected_shape
    expected = scipy_zoom(volume, expected_shape, order)
    if order == 0:
        np.testing.assert_array_equal(out.compute(), expected)
    else:
        np.testing.assert_allclose(out.compute(), expected, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(reached, np.array(spacing) * volume.shape / np.array(expected_shape))


SMALL = np.random.default_rng(4).normal(0, 100, (10, 24, 26)).astype(np.float32)


@settings(max_examples=10, deadline=None)
@given(
    chunks=st.tuples(st.integers(3, 10), st.integers(6, 24), st.integers(6, 26)),
    target=st.tuples(
        st.sampled_from([0.5, 1.0, 1.3, 2.0, 3.7]), st.floats(0.4, 4.0), st.floats(0.4, 4.0)
    ),
    order=st.sampled_from([0, 1]),
)
def test_chunked_equals_unchunked(chunks, target, order):
    whole, _ = resample_to_spacing(SMALL, "zyx", 1.0, target, order=order)
    chunked, _ = resample_to_spacing(
        da.from_array(SMALL, chunks=chunks), "zyx", 1.0, target, order=order
    )
    got = chunked.compute(scheduler="synchronous")
    np.testing.assert_array_equal(got, whole.compute(scheduler="synchronous"))
    # and the seams agree with the whole-array reference away from the outer border too
    inner = (slice(1, -1),) * 3
    np.testing.assert_allclose(
        got[inner], scipy_zoom(SMALL, whole.shape, order)[inner], rtol=1e-5, atol=1e-4
    )


def test_matches_skimage_resize_in_2d():
    image = np.random.default_rng(1).random((64, 90))
    out, _ = resample_to_spacing(
        da.from_array(image, chunks=(20, 25)), ("y", "x"), (0.5, 0.5), (1.3, 0.7)
    )
    expected = resize(image, out.shape, order=1, mode="edge", anti_aliasing=False)
    np.testing.assert_allclose(out.compute(), expected, atol=1e-12)


def test_labels_keep_their_values_with_nearest():
    labels = np.zeros((12, 30, 30), dtype=np.uint8)
    labels[3:9, 5:20, 8:25] = 1
    labels[5:7, 10:15, 10:14] = 7
    out, _ = resample_to_spacing(
        da.from_array(labels, chunks=(4, 8, 8)), "zyx", (3.0, 1.0, 1.0), (1.0, 1.5, 1.5), order=0
    )
    got = out.compute()
    assert got.dtype == np.uint8
    assert set(np.unique(got)) == {0, 1, 7}
    np.testing.assert_array_equal(got, scipy_zoom(labels, got.shape, 0))
    mask, _ = resample_to_spacing(labels > 0, "zyx", 1, 2, order=0)
    assert mask.dtype == np.bool_


def test_integer_images_are_rounded_like_scipy():
    hu = np.random.default_rng(2).integers(-1024, 2000, (10, 21, 23)).astype(np.int16)
    out, _ = resample_to_spacing(da.from_array(hu, chunks=7), "zyx", 1.0, 0.7)
    assert out.dtype == np.int16
    # the same rounding (half away from zero); float noise may tip an exact .5 either way
    assert np.abs(out.compute().astype(int) - scipy_zoom(hu, out.shape, 1)).max() <= 1


def test_channels_are_left_alone():
    image = np.random.default_rng(3).random((2, 8, 20, 20)).astype(np.float32)
    out, reached = resample_to_spacing(
        da.from_array(image, chunks=(1, 4, 7, 7)), ("c", "z", "y", "x"), (2, 1, 1), 1.5
    )
    assert out.shape == (2, 11, 13, 13)
    for c in range(2):
        np.testing.assert_allclose(
            out[c].compute(), scipy_zoom(image[c], out.shape[1:], 1), rtol=1e-5, atol=1e-6
        )
    assert reached == pytest.approx((8 * 2 / 11, 20 / 13, 20 / 13))


def test_output_shape_is_rounded_and_chunks_follow_the_input():
    image = da.zeros((61, 512, 512), chunks=(16, 128, 128), dtype=np.float32)
    out, reached = resample_to_spacing(image, "zyx", (5.0, 0.63, 0.63), (1.5, 1.5, 1.5))
    assert out.shape == (203, 215, 215)  # round(61 · 5 / 1.5), round(512 · 0.63 / 1.5)
    assert [len(c) for c in out.chunks] == [len(c) for c in image.chunks]  # one per input
    assert reached[0] == pytest.approx(61 * 5 / 203)


def test_same_spacing_is_a_no_op():
    image = da.ones((4, 5, 6), chunks=2)
    out, reached = resample_to_spacing(image, "zyx", (1, 2, 3), (1, 2, 3))
    assert out is image
    assert reached == (1, 2, 3)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"spacing": (1, 1), "target_spacing": 1}, "expected 3 value"),
        ({"spacing": (1, 0, 1), "target_spacing": 1}, "must be positive"),
        ({"spacing": 1, "target_spacing": 1, "order": 3}, "order 3"),
        ({"spacing": (1, 1, 1), "target_spacing": 1, "axes": "cyx"}, "expected 2 value"),
        ({"spacing": 1, "target_spacing": 1, "axes": "yx"}, "do not fit"),
    ],
)
def test_bad_arguments_are_bad_input(kwargs, message):
    kwargs = {"axes": "zyx", **kwargs}
    with pytest.raises(BadInputError, match=message):
        resample_to_spacing(np.zeros((3, 4, 5)), **kwargs)
