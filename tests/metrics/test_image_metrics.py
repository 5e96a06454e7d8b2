"""MAE, PSNR and SSIM against scikit-learn / scikit-image and by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from metric_strategies import FUZZ
from skimage import metrics as skm
from sklearn import metrics as sk

from medtk.metrics.image import dtype_data_range, mae, psnr
from medtk.metrics.inputs import MetricInputError
from medtk.metrics.similarity import ssim

WANG = {"gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False}


@st.composite
def uint8_pairs(draw: st.DrawFn, min_side: int = 1):
    shape = draw(hnp.array_shapes(min_dims=2, max_dims=3, min_side=min_side, max_side=12))
    first = draw(hnp.arrays(np.uint8, shape))
    second = draw(hnp.arrays(np.uint8, shape))
    return first, second


def test_hand_computed_mae_and_psnr():
    y_true = np.array([[0, 10], [20, 30]], dtype=np.uint8)
    y_pred = np.array([[2, 10], [16, 30]], dtype=np.uint8)  # errors 2, 0, 4, 0
    assert mae(y_true, y_pred) == 1.5
    assert psnr(y_true, y_pred) == pytest.approx(10 * math.log10(255**2 / 5))
    assert psnr(y_true, y_pred, data_range=30) == pytest.approx(10 * math.log10(900 / 5))
    assert psnr(y_true, y_true) == math.inf


@FUZZ
@given(uint8_pairs())
def test_mae_equals_sklearn(pair):
    y_true, y_pred = pair
    expected = sk.mean_absolute_error(y_true.ravel(), y_pred.ravel())
    assert mae(y_true, y_pred) == pytest.approx(expected)  # no uint8 wrap-around


@FUZZ
@given(uint8_pairs())
def test_psnr_equals_skimage(pair):
    y_true, y_pred = pair
    if np.array_equal(y_true, y_pred):
        assert psnr(y_true, y_pred) == math.inf  # skimage divides by zero here
        return
    expected = skm.peak_signal_noise_ratio(y_true, y_pred)
    assert psnr(y_true, y_pred) == pytest.approx(expected)
    as_float = skm.peak_signal_noise_ratio(y_true / 255, y_pred / 255, data_range=1.0)
    assert psnr(y_true / 255, y_pred / 255, data_range=1.0) == pytest.approx(as_float)


def test_data_range_from_integer_dtypes_only():
    assert dtype_data_range(np.uint8) == 255
    assert dtype_data_range(np.uint16) == 65535
    assert dtype_data_range(np.int16) == 65535
    assert dtype_data_range(np.bool_) == 1
    with pytest.raises(MetricInputError, match="data_range must be given for float32"):
        psnr(np.zeros(4, np.float32), np.ones(4, np.float32))
    with pytest.raises(MetricInputError, match="data_range must be positive"):
        psnr(np.zeros(4), np.ones(4), data_range=0)
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 65536, (2, 16, 16)).astype(np.uint16)
    assert psnr(a, b) == pytest.approx(skm.peak_signal_noise_ratio(a, b))


@FUZZ
@given(uint8_pairs(min_side=11))
def test_ssim_2d_and_3d_equal_skimage_with_wang_settings(pair):
    y_true, y_pred = pair
    expected = skm.structural_similarity(y_true, y_pred, data_range=255, **WANG)
    assert ssim(y_true, y_pred) == pytest.approx(expected, abs=1e-12)


def test_ssim_of_a_float_volume_and_of_channels():
    rng = np.random.default_rng(1)
    volume = rng.random((12, 16, 16))
    noisy = volume + 0.1 * rng.normal(size=volume.shape)
    expected = skm.structural_similarity(volume, noisy, data_range=1.0, **WANG)
    assert ssim(volume, noisy, data_range=1.0) == pytest.approx(expected)
    assert ssim(volume, volume, data_range=1.0) == pytest.approx(1.0)
    rgb = rng.random((20, 20, 3))
    other = np.clip(rgb + 0.05 * rng.normal(size=rgb.shape), 0, 1)
    expected = skm.structural_similarity(rgb, other, data_range=1.0, channel_axis=-1, **WANG)
    assert ssim(rgb, other, data_range=1.0, channel_axis=-1) == pytest.approx(expected)
    assert ssim(rgb, other, data_range=1.0, channel_axis=2) == pytest.approx(expected)


def test_ssim_window_shrinks_to_fit_a_thin_volume():
    rng = np.random.default_rng(2)
    thin = rng.integers(0, 256, (5, 32, 32), dtype=np.uint8)
    other = rng.integers(0, 256, (5, 32, 32), dtype=np.uint8)
    expected = skm.structural_similarity(thin, other, data_range=255, win_size=5, **WANG)
    assert ssim(thin, other) == pytest.approx(expected)
    small = rng.integers(0, 256, (6, 6), dtype=np.uint8)
    expected = skm.structural_similarity(small, small[::-1], data_range=255, win_size=5, **WANG)
    assert ssim(small, small[::-1]) == pytest.approx(expected)


def test_ssim_refusals_are_one_line():
    with pytest.raises(MetricInputError, match="at least 3 pixels"):
        ssim(np.zeros((2, 8), np.uint8), np.zeros((2, 8), np.uint8))
    with pytest.raises(MetricInputError, match="2D images or 3D volumes, got 1"):
        ssim(np.zeros(8, np.uint8), np.zeros(8, np.uint8))
    with pytest.raises(MetricInputError, match="data_range must be given for float64"):
        ssim(np.zeros((8, 8)), np.zeros((8, 8)))
    with pytest.raises(MetricInputError, match="win_size must be odd"):
        ssim(np.zeros((8, 8), np.uint8), np.zeros((8, 8), np.uint8), win_size=4)
    with pytest.raises(MetricInputError, match="channel_axis 3 is out of range"):
        ssim(np.zeros((8, 8, 3)), np.zeros((8, 8, 3)), data_range=1, channel_axis=3)
