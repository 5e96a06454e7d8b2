"""Tissue masks of a whole-slide image, from one low-resolution level.

H&E tissue is darker than the bright, nearly white glass around it. Both masks are made
on a small pyramid level (a thumbnail of a few thousand pixels a side, loaded at once)
and mapped onto patches by :func:`medtk.ops.patches.patch_grid` through the level's
downsample. Input is channel-first RGB, ``(3, y, x)``, 0–255; output a bool ``(y, x)``
numpy array, True on tissue.
"""

from __future__ import annotations

import inspect

import dask.array as da
import numpy as np
import numpy.typing as npt

from medtk.errors import BadInputError

__all__ = ["BACKGROUND_MEAN", "grey_level", "mean_intensity_mask", "otsu_mask"]

#: The NAFLD pipeline's rule: a pixel or patch whose mean over R, G, B exceeds this is glass.
BACKGROUND_MEAN = 220.0
#: ITU-R BT.709 luma weights, as ``skimage.color.rgb2gray`` uses.
LUMINANCE = (0.2125, 0.7154, 0.0721)


def _rgb(rgb: npt.ArrayLike | da.Array) -> np.ndarray:
    """The level as a numpy ``(3, y, x)`` array (a dask level is small and computed)."""
    data = np.asarray(rgb.compute() if isinstance(rgb, da.Array) else rgb)
    if data.ndim != 3 or data.shape[0] != 3:
        hint = (
            "; it looks channel-last, move the channel axis first"
            if data.ndim == 3 and data.shape[-1] in (3, 4)
            else ""
        )
        raise BadInputError(
            f"tissue mask: expected an RGB level shaped (3, y, x), got {data.shape}{hint}"
        )
    if data.shape[1] == 0 or data.shape[2] == 0:
        raise BadInputError(f"tissue mask: the level is empty (shape {data.shape})")
    return data


def grey_level(rgb: npt.ArrayLike | da.Array, how: str = "mean") -> np.ndarray:
    """One grey value per pixel: the mean of R, G, B, or the BT.709 luminance.

    :param rgb: ``(3, y, x)`` array.
    :param how: ``"mean"`` or ``"luminance"``.
    :returns: float64 ``(y, x)``.
    """
    data = _rgb(rgb).astype(np.float64)
    if how == "mean":
        return data.mean(axis=0)
    if how == "luminance":
        return np.tensordot(np.asarray(LUMINANCE), data, axes=1)
    raise BadInputError(f"grey level {how!r}: use 'mean' or 'luminance'")


def mean_intensity_mask(
    rgb: npt.ArrayLike | da.Array, threshold: float = BACKGROUND_MEAN
) -> np.ndarray:
    """Tissue where the mean over R, G, B is at most ``threshold`` (NAFLD pipeline rule).

    The pipeline drops a patch as background when its mean intensity is above 220; applied
    per pixel of a low-resolution level, the same rule gives a mask whose fraction inside
    a patch footprint estimates how much of the patch is tissue.

    :param rgb: ``(3, y, x)`` level, 0–255.
    :param threshold: mean above which a pixel is background.
    :returns: bool ``(y, x)``, True on tissue.
    """
    return grey_level(rgb, "mean") <= float(threshold)


def _remove_small_objects(mask: np.ndarray, min_size: int) -> np.ndarray:
    """Drop connected components of fewer than ``min_size`` pixels (any scikit-image)."""
    from skimage.morphology import remove_small_objects

    if min_size <= 1:
        return mask
    if "max_size" in inspect.signature(remove_small_objects).parameters:  # 0.26 and later
        return remove_small_objects(mask, max_size=min_size - 1)
    return remove_small_objects(mask, min_size=min_size)  # pragma: no cover (before 0.26)


def _fill_small_holes(mask: np.ndarray, hole_size: int) -> np.ndarray:
    """Fill holes (background enclosed by tissue) of fewer than ``hole_size`` pixels."""
    from skimage.morphology import remove_small_holes

    if hole_size <= 1:
        return mask
    if "max_size" in inspect.signature(remove_small_holes).parameters:  # 0.26 and later
        return remove_small_holes(mask, max_size=hole_size - 1)
    return remove_small_holes(mask, area_threshold=hole_size)  # pragma: no cover


def otsu_mask(
    rgb: npt.ArrayLike | da.Array,
    *,
    min_size: int = 64,
    hole_size: int = 64,
    grey: str = "mean",
) -> np.ndarray:
    """Tissue by Otsu's threshold on the grey level, cleaned by morphology.

    Otsu (1979) picks the grey value that maximises the between-class variance of the
    histogram (``skimage.filters.threshold_otsu``); glass is the bright class, so tissue is
    ``grey <= t``. Then connected tissue components smaller than ``min_size`` pixels (dust,
    pen specks) are removed and holes smaller than ``hole_size`` filled
    (``skimage.morphology.remove_small_objects`` / ``remove_small_holes``). An image of one
    grey value has no split; the mean-intensity rule decides it then.

    :param rgb: ``(3, y, x)`` level, 0–255.
    :param min_size: smallest tissue component kept, in pixels of this level (0: keep all).
    :param hole_size: smallest hole left open, in pixels (0: fill none).
    :param grey: ``"mean"`` of R, G, B or ``"luminance"``.
    :returns: bool ``(y, x)``, True on tissue.
    """
    from skimage.filters import threshold_otsu

    if min_size < 0 or hole_size < 0:
        raise BadInputError(f"min_size {min_size} and hole_size {hole_size} must be >= 0")
    level = grey_level(rgb, grey)
    if level.min() == level.max():
        return level <= BACKGROUND_MEAN
    mask = level <= threshold_otsu(level)
    mask = _remove_small_objects(mask, min_size)
    return _fill_small_holes(mask, hole_size)
