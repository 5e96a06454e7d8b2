"""Patch grids over whole-slide image pyramids: coordinates, not pixels.

A grid asks for square patches of ``size`` pixels at a resolution given as an objective
magnification or in µm per pixel. That resolution is a downsample ``d`` of level 0; each
patch covers ``size · d`` pixels of level 0 and is read from the coarsest pyramid level
whose downsample ``d_L`` does not exceed ``d`` (within :data:`LEVEL_TOLERANCE`), as
``round(size · d / d_L)`` pixels there, then resized to ``size`` (no resize when the
level matches). Example: a 20× slide, 5× asked → ``d = 4``; with downsamples
``[1, 4, 16]`` the patches are read at level 1 as 224 px and cover 896 px of level 0.

Magnification and µm per pixel are tied by the usual scanner convention
``magnification = 10 / mpp`` (0.25 µm/px ≈ 40×, 0.5 µm/px ≈ 20×); it is used only when a
slide states one of the two.

Patches lie fully inside the image (no partial edge patches). Their tissue fraction comes
from a low-resolution tissue mask through a summed-area table, all patches at once; their
mean intensity (the NAFLD rule drops patches whose mean exceeds 220) from block sums of
the level read by dask.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import dask.array as da
import numpy as np
import numpy.typing as npt

from medtk.errors import BadInputError

__all__ = [
    "LEVEL_TOLERANCE",
    "MAX_BLOCK_SUMS",
    "MPP_MAGNIFICATION",
    "PatchGrid",
    "drop_background",
    "grid_rows",
    "patch_grid",
    "patch_means",
]

#: ``magnification = MPP_MAGNIFICATION / mpp``: 0.25 µm/px ≈ 40×, 0.5 µm/px ≈ 20×.
MPP_MAGNIFICATION = 10.0
#: A level whose downsample exceeds the requested one by at most this fraction still
#: serves it (scanners store downsamples such as 4.0003 for a nominal 4).
LEVEL_TOLERANCE = 0.01
#: Most block sums :func:`patch_means` holds at once (float64: 128 MiB).
MAX_BLOCK_SUMS = 2**24

_INT_COLUMNS = ("row", "col", "x", "y", "width", "height", "level_x", "level_y")


@dataclass(frozen=True)
class PatchGrid:
    """A table of square patches: one entry per patch in each column (numpy arrays).

    Columns: ``row``, ``col`` (position in the grid), ``x``, ``y``, ``width``, ``height``
    (footprint in level-0 pixels), ``level_x``, ``level_y`` (top-left corner at
    ``level``), ``tissue`` (fraction of the footprint on tissue; NaN without a mask) and
    ``mean`` (mean intensity; NaN until :func:`patch_means` or :func:`drop_background`).
    The other fields hold for every patch.

    :param level: pyramid level to read from.
    :param level_size: patch side read at ``level``, in pixels.
    :param level_stride: step between patches at ``level``.
    :param size: patch side at the requested resolution (resize ``level_size`` to it).
    :param stride: step at the requested resolution.
    :param downsample: requested resolution as a downsample of level 0.
    :param level_downsample: downsample of ``level``.
    :param magnification: requested magnification (None when the slide states none).
    :param mpp: requested µm per pixel (None when the slide states none).
    """

    row: np.ndarray
    col: np.ndarray
    x: np.ndarray
    y: np.ndarray
    width: np.ndarray
    height: np.ndarray
    level_x: np.ndarray
    level_y: np.ndarray
    tissue: np.ndarray
    mean: np.ndarray
    level: int
    level_size: int
    level_stride: int
    size: int
    stride: int
    downsample: float
    level_downsample: float
    magnification: float | None = None
    mpp: float | None = None

    #: The per-patch columns, in the order of :func:`grid_rows`.
    columns: ClassVar[tuple[str, ...]] = (*_INT_COLUMNS, "tissue", "mean")

    def __len__(self) -> int:
        return int(self.x.size)

    def subset(self, keep: npt.ArrayLike) -> PatchGrid:
        """The patches selected by a boolean mask or an index array, in that order."""
        keep = np.asarray(keep)
        if keep.dtype != np.bool_:
            keep = keep.astype(np.intp)  # an empty list is float to numpy
        return replace(self, **{name: getattr(self, name)[keep] for name in self.columns})


def _yx(shape: Sequence[int]) -> tuple[int, int]:
    if len(shape) < 2:
        raise BadInputError(f"level shape {tuple(shape)} has no y and x axes")
    return int(shape[-2]), int(shape[-1])


def _one_mpp(value: float | Sequence[float] | None) -> float | None:
    """A slide's µm per pixel as one number (the mean of y and x when two are given)."""
    if value is None:
        return None
    values = [float(v) for v in np.atleast_1d(np.asarray(value, dtype=np.float64))]
    if not values or not all(math.isfinite(v) and v > 0 for v in values):
        raise BadInputError(f"µm per pixel {value!r} must be positive")
    return sum(values) / len(values)


def _requested_downsample(
    base_mpp: float | None,
    base_magnification: float | None,
    magnification: float | None,
    mpp: float | None,
) -> tuple[float, float | None, float | None]:
    """Downsample of level 0 that gives the asked resolution, and that resolution."""
    if magnification is not None and mpp is not None:
        raise BadInputError("ask for a magnification or a µm per pixel, not both")
    if base_magnification is not None and not base_magnification > 0:
        raise BadInputError(f"slide magnification {base_magnification!r} must be positive")
    slide_mag = base_magnification or (MPP_MAGNIFICATION / base_mpp if base_mpp else None)
    slide_mpp = base_mpp or (MPP_MAGNIFICATION / base_magnification if slide_mag else None)
    if magnification is None and mpp is None:
        return 1.0, slide_mag, slide_mpp
    if magnification is not None:
        if not magnification > 0:
            raise BadInputError(f"magnification {magnification!r} must be positive")
        if slide_mag is None:
            raise BadInputError(
                f"cannot make patches at {magnification:g}×: the slide states neither its "
                "magnification nor its µm per pixel"
            )
        downsample = slide_mag / magnification
        asked = f"{magnification:g}×"
    else:
        assert mpp is not None
        if not mpp > 0:
            raise BadInputError(f"µm per pixel {mpp!r} must be positive")
        if slide_mpp is None:
            raise BadInputError(
                f"cannot make patches at {mpp:g} µm/px: the slide states neither its "
                "magnification nor its µm per pixel"
            )
        downsample = mpp / slide_mpp
        asked = f"{mpp:g} µm/px"
    if downsample < 1 - 1e-6:
        raise BadInputError(
            f"asked for {asked}, finer than the slide itself ({slide_mag:.3g}×, "
            f"{slide_mpp:.3g} µm/px); medtk does not upsample slides"
        )
    assert slide_mag is not None  # one of the two is known, the other follows
    assert slide_mpp is not None
    downsample = max(downsample, 1.0)
    return downsample, slide_mag / downsample, slide_mpp * downsample


def _choose_level(level_downsamples: Sequence[float], downsample: float) -> int:
    """The coarsest level whose downsample does not exceed the requested one."""
    usable = [
        (d, i) for i, d in enumerate(level_downsamples) if d <= downsample * (1 + LEVEL_TOLERANCE)
    ]
    if not usable:
        raise BadInputError(
            f"no pyramid level is fine enough for downsample {downsample:g} "
            f"(levels: {', '.join(f'{d:g}' for d in level_downsamples)})"
        )
    return max(usable)[1]


def _mask_fraction(
    mask: np.ndarray,
    factors: tuple[float, float],
    *,
    x: np.ndarray,
    y: np.ndarray,
    width: np.ndarray,
    height: np.ndarray,
) -> np.ndarray:
    """Fraction of mask pixels set inside each level-0 box, by a summed-area table.

    Box edges are rounded to whole mask pixels; a box smaller than one mask pixel uses
    the pixel under its top-left corner.
    """
    fy, fx = factors
    rows, cols = mask.shape
    table = np.zeros((rows + 1, cols + 1), dtype=np.int64)
    table[1:, 1:] = mask.astype(np.int64).cumsum(axis=0).cumsum(axis=1)

    def edges(
        start: np.ndarray, extent: np.ndarray, f: float, n: int
    ) -> tuple[np.ndarray, np.ndarray]:
        a = np.clip(np.floor(start / f + 0.5).astype(np.int64), 0, n - 1)
        b = np.clip(np.floor((start + extent) / f + 0.5).astype(np.int64), 0, n)
        return a, np.maximum(b, a + 1)

    top, bottom = edges(y, height, fy, rows)
    left, right = edges(x, width, fx, cols)
    inside = table[bottom, right] - table[top, right] - table[bottom, left] + table[top, left]
    return inside / ((bottom - top) * (right - left))


def patch_grid(
    level_shapes: Sequence[Sequence[int]],
    level_downsamples: Sequence[float],
    base_mpp: float | Sequence[float] | None,
    base_magnification: float | None,
    *,
    size: int = 224,
    magnification: float | None = None,
    mpp: float | None = None,
    stride: int | None = None,
    tissue_mask: npt.ArrayLike | None = None,
    mask_downsample: float | Sequence[float] | None = None,
    min_tissue: float = 0.5,
) -> PatchGrid:
    """A grid of ``size`` × ``size`` patches at a magnification or µm per pixel.

    Rows run top to bottom, patches left to right, from the top-left corner; only patches
    fully inside the image are made. With a tissue mask, patches whose tissue fraction is
    below ``min_tissue`` are left out. ``magnification = 10 / mpp`` converts between the
    two when the slide states only one (0.25 µm/px ≈ 40×).

    :param level_shapes: shape of each pyramid level; the last two entries are height and
        width, so a store level's ``(c, y, x)`` shape can be passed as it is.
    :param level_downsamples: downsample of each level relative to level 0 (1 for level 0).
    :param base_mpp: µm per pixel of level 0 (one number, or y and x), or None.
    :param base_magnification: objective magnification of level 0 (e.g. 20), or None.
    :param size: patch side in pixels at the requested resolution.
    :param magnification: requested magnification (e.g. 5), or
    :param mpp: requested µm per pixel; neither: level-0 pixels.
    :param stride: step between patches at the requested resolution; default ``size``
        (non-overlapping).
    :param tissue_mask: bool ``(y, x)`` mask of a low-resolution level, True on tissue
        (:mod:`medtk.ops.tissue`).
    :param mask_downsample: downsample of the mask relative to level 0 (one number, or y
        and x); default: level-0 shape over mask shape.
    :param min_tissue: smallest tissue fraction kept, in [0, 1] (used with a mask).
    :raises BadInputError: the resolution cannot be had (the slide states none, or it is
        finer than the slide), or an argument is out of range.
    """
    shapes = [_yx(s) for s in level_shapes]
    downsamples = [float(d) for d in level_downsamples]
    if not shapes or len(shapes) != len(downsamples):
        raise BadInputError(
            f"{len(shapes)} level shape(s) but {len(downsamples)} downsample(s); "
            "give one of each per level"
        )
    if not all(math.isfinite(d) and d > 0 for d in downsamples):
        raise BadInputError(f"level downsamples {downsamples} must be positive")
    stride = size if stride is None else stride
    if int(size) != size or size < 1 or int(stride) != stride or stride < 1:
        raise BadInputError(f"patch size {size} and stride {stride} must be whole numbers >= 1")
    size, stride = int(size), int(stride)
    if not 0.0 <= min_tissue <= 1.0:
        raise BadInputError(f"min_tissue {min_tissue} must lie in [0, 1]")
    downsample, eff_mag, eff_mpp = _requested_downsample(
        _one_mpp(base_mpp), base_magnification, magnification, mpp
    )
    level = _choose_level(downsamples, downsample)
    level_ds = downsamples[level]
    level_size = max(1, round(size * downsample / level_ds))
    level_stride = max(1, round(stride * downsample / level_ds))
    height_l, width_l = shapes[level]
    height_0, width_0 = shapes[0]

    def count(extent: int) -> int:
        return (extent - level_size) // level_stride + 1 if extent >= level_size else 0

    rows, cols = np.meshgrid(
        np.arange(count(height_l), dtype=np.int64),
        np.arange(count(width_l), dtype=np.int64),
        indexing="ij",
    )
    rows, cols = rows.ravel(), cols.ravel()
    level_y, level_x = rows * level_stride, cols * level_stride
    side = round(level_size * level_ds)
    y0 = np.round(level_y * level_ds).astype(np.int64)
    x0 = np.round(level_x * level_ds).astype(np.int64)
    inside = (y0 + side <= height_0) & (x0 + side <= width_0)
    rows, cols, level_y, level_x, y0, x0 = (
        a[inside] for a in (rows, cols, level_y, level_x, y0, x0)
    )
    n = rows.size
    full = np.full(n, side, dtype=np.int64)
    tissue = np.full(n, np.nan)
    keep = np.ones(n, dtype=bool)
    if tissue_mask is not None:
        mask = np.asarray(tissue_mask)
        if mask.ndim != 2 or 0 in mask.shape:
            raise BadInputError(f"tissue mask must be a (y, x) array, got shape {mask.shape}")
        if mask_downsample is None:
            factors = (height_0 / mask.shape[0], width_0 / mask.shape[1])
        else:
            values = np.atleast_1d(np.asarray(mask_downsample, dtype=np.float64))
            if values.size not in (1, 2) or not np.all(values > 0):
                raise BadInputError(f"mask downsample {mask_downsample!r}: one or two numbers > 0")
            factors = (float(values[0]), float(values[-1]))
        tissue = _mask_fraction(mask.astype(bool), factors, x=x0, y=y0, width=full, height=full)
        keep = tissue >= min_tissue
    return PatchGrid(
        row=rows[keep],
        col=cols[keep],
        x=x0[keep],
        y=y0[keep],
        width=full[keep],
        height=full[keep],
        level_x=level_x[keep],
        level_y=level_y[keep],
        tissue=tissue[keep],
        mean=np.full(int(keep.sum()), np.nan),
        level=level,
        level_size=level_size,
        level_stride=level_stride,
        size=size,
        stride=stride,
        downsample=downsample,
        level_downsample=level_ds,
        magnification=eff_mag,
        mpp=eff_mpp,
    )


def patch_means(level_array: npt.ArrayLike | da.Array, grid: PatchGrid) -> np.ndarray:
    """Mean intensity of each patch (over its pixels and channels), read at ``grid.level``.

    The level is summed in blocks of ``g × g`` pixels, ``g = gcd(level_size,
    level_stride)`` (``da.coarsen``, one pass, chunk by chunk), and each patch adds up its
    blocks from a summed-area table of those sums; for non-overlapping patches ``g`` is the
    patch itself. Should those block sums be too many to hold (:data:`MAX_BLOCK_SUMS`,
    strides such as 223 on 224 px patches), each row of patches sums its band of the level
    over y instead, and patches add up their columns of it. Only the part of the level the
    grid covers is read, in one dask computation. Sums are float64, exact for 8-bit and
    16-bit images up to 2**37 pixels.

    :param level_array: the pyramid level the grid reads (``grid.level``), axes ending in
        ``y, x`` (``(c, y, x)`` or ``(y, x)``), dask or numpy.
    :param grid: the patch grid.
    :returns: float64 means, one per patch in grid order.
    """
    array = level_array if isinstance(level_array, da.Array) else da.asarray(level_array)
    if array.ndim < 2:
        raise BadInputError(f"a level needs y and x axes, got shape {array.shape}")
    if len(grid) == 0:
        return np.zeros(0)
    size, stride = grid.level_size, grid.level_stride
    bottom = int(grid.level_y.max()) + size
    right = int(grid.level_x.max()) + size
    if bottom > array.shape[-2] or right > array.shape[-1]:
        raise BadInputError(
            f"the grid reaches ({bottom}, {right}) at level {grid.level} but the array "
            f"given is {array.shape[-2:]}: pass level {grid.level} of the slide"
        )
    crop = array[(..., slice(0, bottom), slice(0, right))]
    leading = tuple(range(array.ndim - 2))
    per_patch = size * size * math.prod(array.shape[:-2])
    g = math.gcd(size, stride)
    if (bottom // g) * (right // g) > MAX_BLOCK_SUMS:
        bands, band_of = np.unique(grid.level_y, return_inverse=True)
        rows = da.stack(
            [crop[..., y : y + size, :].sum(axis=(*leading, -2), dtype=np.float64) for y in bands]
        )
        table = np.zeros((len(bands), right + 1))
        table[:, 1:] = np.cumsum(np.asarray(rows.compute(), dtype=np.float64), axis=1)
        total = table[band_of, grid.level_x + size] - table[band_of, grid.level_x]
        return total / per_patch
    sums = da.coarsen(np.sum, crop, {array.ndim - 2: g, array.ndim - 1: g}, dtype=np.float64)
    if leading:
        sums = sums.sum(axis=leading)
    blocks = np.asarray(sums.compute(), dtype=np.float64)
    table = np.zeros((blocks.shape[0] + 1, blocks.shape[1] + 1))
    table[1:, 1:] = blocks.cumsum(axis=0).cumsum(axis=1)
    top, left, k = grid.level_y // g, grid.level_x // g, size // g
    total = (
        table[top + k, left + k] - table[top, left + k] - table[top + k, left] + table[top, left]
    )
    return total / per_patch


def drop_background(
    level_array: npt.ArrayLike | da.Array, grid: PatchGrid, threshold: float = 220.0
) -> PatchGrid:
    """The grid without background patches: mean intensity above ``threshold`` (NAFLD rule).

    The means are kept in the ``mean`` column of what comes back.

    :param level_array: level ``grid.level`` of the slide, RGB ``(3, y, x)`` 0–255.
    :param grid: the patch grid.
    :param threshold: mean above which a patch is background (220 in the NAFLD pipeline).
    """
    means = patch_means(level_array, grid)
    with_means = replace(grid, mean=means)
    return with_means.subset(means <= threshold)


def grid_rows(grid: PatchGrid) -> list[dict[str, Any]]:
    """One plain dict per patch, for ``csv.DictWriter`` or JSON.

    Keys: ``row, col, x, y, width, height, level, level_x, level_y, level_size, size,
    tissue, mean``; numbers are Python ints and floats, unknown tissue or mean is None.
    """
    rows = []
    columns = {name: getattr(grid, name).tolist() for name in grid.columns}
    for i in range(len(grid)):
        record: dict[str, Any] = {name: columns[name][i] for name in _INT_COLUMNS[:6]}
        record["level"] = grid.level
        record["level_x"] = columns["level_x"][i]
        record["level_y"] = columns["level_y"][i]
        record["level_size"] = grid.level_size
        record["size"] = grid.size
        for name in ("tissue", "mean"):
            value = columns[name][i]
            record[name] = None if math.isnan(value) else value
        rows.append(record)
    return rows
