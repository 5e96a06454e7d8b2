"""Pixel errors between a predicted image and its reference: MAE and PSNR.

    MAE  = (1/N) Σ |y_true − y_pred|
    PSNR = 10 · log10( R² / MSE ),   MSE = (1/N) Σ (y_true − y_pred)²

over all N elements (pixels, voxels and channels alike), computed in ``float64``. R is
the data range, the span of values the images can take. Give it as ``data_range``; if
left out it comes from the reference's dtype: the full range of an integer dtype
(255 for ``uint8``, 65535 for ``uint16`` and ``int16``), 1 for ``bool``. A float image
has no natural range, so its data range must be given (1.0 for images scaled to [0, 1],
or e.g. the window width for CT in Hounsfield units). Identical images have PSNR ``inf``.

scikit-image's ``peak_signal_noise_ratio`` agrees for unsigned integers and explicit
ranges; it guesses 1 (or 2) for floats, and for signed integers without negative values
takes only the positive half, which medtk does not.

Reference: Wang, Z. and Bovik, A. C. (2009). Mean squared error: love it or leave it?
*IEEE Signal Processing Magazine* 26(1), 98–117.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from medtk.metrics.inputs import MetricInputError, as_array, same_shape

__all__ = ["dtype_data_range", "image_pair", "mae", "psnr"]


def image_pair(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    """Both images as arrays of one shape (their dtypes kept), at least one element."""
    truth = as_array(y_true, "y_true")
    pred = as_array(y_pred, "y_pred")
    same_shape(truth, pred, ("y_true", "y_pred"))
    if truth.size == 0:
        raise MetricInputError("y_true and y_pred are empty")
    return truth, pred


def dtype_data_range(dtype: np.dtype[Any] | type) -> float:
    """The data range R implied by an image dtype: max − min of an integer dtype, 1 for bool.

    :raises MetricInputError: for floating-point dtypes, which imply no range.
    """
    kind = np.dtype(dtype)
    if kind == np.bool_:
        return 1.0
    if np.issubdtype(kind, np.integer):
        info = np.iinfo(kind)
        return float(info.max) - float(info.min)
    raise MetricInputError(
        f"data_range must be given for {kind} images (e.g. 1.0 for images in [0, 1]); "
        "only integer dtypes imply one"
    )


def _difference(truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
    return truth.astype(np.float64) - pred.astype(np.float64)


def mae(y_true: Any, y_pred: Any) -> float:
    """Mean absolute error over all elements: (1/N) Σ |y_true − y_pred|.

    :param y_true: reference image, any shape.
    :param y_pred: predicted image, same shape.
    """
    truth, pred = image_pair(y_true, y_pred)
    return float(np.mean(np.abs(_difference(truth, pred))))


def psnr(y_true: Any, y_pred: Any, *, data_range: float | None = None) -> float:
    """Peak signal-to-noise ratio in decibels: 10 · log10(R² / MSE).

    :param y_true: reference image, any shape.
    :param y_pred: predicted image, same shape.
    :param data_range: R; default: from y_true's dtype (integer dtypes only, see the module
        docstring).
    :returns: PSNR in dB; ``inf`` when the images are identical.
    """
    truth, pred = image_pair(y_true, y_pred)
    span = dtype_data_range(truth.dtype) if data_range is None else float(data_range)
    if not span > 0:
        raise MetricInputError(f"data_range must be positive, got {data_range}")
    mse = float(np.mean(np.square(_difference(truth, pred))))
    if mse == 0:
        return float("inf")
    return float(10 * np.log10(span**2 / mse))
