"""Structural similarity (SSIM) of 2D images and 3D volumes, through scikit-image.

    SSIM(x, y) = (2·μx·μy + C1)(2·σxy + C2) / ((μx² + μy² + C1)(σx² + σy² + C2)),
    C1 = (K1·R)², C2 = (K2·R)²,

with local means, variances and covariance taken under a window around each pixel (or
voxel); the result is the mean over the image. This is a thin wrapper of
``skimage.metrics.structural_similarity`` with the settings of Wang et al. (2004): a
gaussian window with σ = 1.5 (truncated at 3.5 σ, so 11 wide), K1 = 0.01, K2 = 0.03 and
population (not sample) covariance. medtk adds three things:

- the data range R is given or inferred from the reference's dtype as for PSNR
  (:func:`medtk.metrics.image.dtype_data_range`: integer dtypes only);
- the window shrinks to the largest odd size that fits the smallest spatial side, so thin
  volumes and small images work (at least 3 pixels per side are needed);
- ``channel_axis`` names a channel axis whose channels are scored separately and
  averaged; the other axes (2 or 3) are spatial, and a 3D volume uses a 3D window.

Images are compared in ``float64``. scikit-image is imported on the first call.

Reference: Wang, Z., Bovik, A. C., Sheikh, H. R. and Simoncelli, E. P. (2004). Image
quality assessment: from error visibility to structural similarity. *IEEE Transactions
on Image Processing* 13(4), 600–612.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from medtk.metrics.image import dtype_data_range, image_pair
from medtk.metrics.inputs import MetricInputError

__all__ = ["ssim"]

_TRUNCATE = 3.5  # scikit-image's gaussian truncation for SSIM


def _window(
    shape: tuple[int, ...], win_size: int | None, gaussian_weights: bool, sigma: float
) -> int:
    """The window size: as given, or the default shrunk to fit the smallest side."""
    smallest = min(shape)
    if win_size is not None:
        if win_size < 3 or win_size % 2 == 0 or win_size > smallest:
            raise MetricInputError(
                f"win_size must be odd, at least 3 and at most the smallest spatial side "
                f"({smallest}), got {win_size}"
            )
        return win_size
    if smallest < 3:
        raise MetricInputError(
            f"SSIM needs at least 3 pixels along every spatial axis, got shape {shape}"
        )
    default = 2 * int(_TRUNCATE * sigma + 0.5) + 1 if gaussian_weights else 7
    return min(default, smallest if smallest % 2 else smallest - 1)


def ssim(
    y_true: Any,
    y_pred: Any,
    *,
    data_range: float | None = None,
    channel_axis: int | None = None,
    gaussian_weights: bool = True,
    sigma: float = 1.5,
    win_size: int | None = None,
) -> float:
    """Mean structural similarity of a 2D or 3D image pair, in [-1, 1] (1: identical).

    :param y_true: reference image: 2 or 3 spatial axes, plus ``channel_axis`` if given.
    :param y_pred: predicted image, same shape.
    :param data_range: R, the span of possible values; default: from y_true's dtype
        (integer dtypes only).
    :param channel_axis: the axis holding channels, scored separately and averaged.
    :param gaussian_weights: a gaussian window (Wang et al.) rather than a uniform one.
    :param sigma: the gaussian window's standard deviation, in pixels.
    :param win_size: the window size (odd); default: 11 for the gaussian window (7 for
        the uniform one), shrunk to fit the image.
    """
    truth, pred = image_pair(y_true, y_pred)
    if channel_axis is not None:
        if not -truth.ndim <= channel_axis < truth.ndim:
            raise MetricInputError(
                f"channel_axis {channel_axis} is out of range for shape {truth.shape}"
            )
        channel_axis %= truth.ndim
    spatial = tuple(n for axis, n in enumerate(truth.shape) if axis != channel_axis)
    if len(spatial) not in (2, 3):
        raise MetricInputError(
            f"SSIM takes 2D images or 3D volumes, got {len(spatial)} spatial axes "
            f"(shape {truth.shape}, channel_axis={channel_axis})"
        )
    span = dtype_data_range(truth.dtype) if data_range is None else float(data_range)
    if not span > 0:
        raise MetricInputError(f"data_range must be positive, got {data_range}")
    from skimage.metrics import structural_similarity

    return float(
        structural_similarity(
            truth.astype(np.float64),
            pred.astype(np.float64),
            data_range=span,
            channel_axis=channel_axis,
            gaussian_weights=gaussian_weights,
            sigma=sigma,
            use_sample_covariance=False,
            win_size=_window(spatial, win_size, gaussian_weights, sigma),
        )
    )
