"""Resampling a volume or image to a physical spacing, chunk by chunk.

Pixel ``i`` of an axis with spacing ``s`` covers ``[i s, (i + 1) s)``; resampling keeps
the centres aligned, so output pixel ``k`` samples the input at

    ``u_k = (k + 1/2) · n_in / n_out - 1/2``

the ``grid_mode=True`` convention of :func:`scipy.ndimage.zoom` (and of
``skimage.transform.resize``), with values beyond the border repeated (``mode="nearest"``).
Interpolation is separable: nearest (``order=0``, ``round half up``, as scipy) for label
images, or linear (``order=1``) for intensities, one axis after the other.

Each input chunk makes the output pixels whose sample point rounds into it, reading a halo
of :data:`HALO` pixels from its neighbours (:func:`dask.array.map_overlap`); sample points
are computed from global indices, so the result does not depend on the chunking and equals
the whole-array result (to float rounding for ``order=1``).

No anti-aliasing: when downsampling by more than about 2, smooth first (or start from a
coarser pyramid level), as with ``scipy.ndimage.zoom``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import dask.array as da
import numpy as np
import numpy.typing as npt

from medtk.errors import BadInputError

__all__ = ["HALO", "SPATIAL_AXES", "resample_to_spacing", "resampled_shape"]

#: Axes that have a physical spacing; other axes (``c``, ``t``) are left as they are.
SPATIAL_AXES = ("z", "y", "x")
#: Pixels each chunk borrows from its neighbours; order 1 needs 1, one more for safety.
HALO = 2


def _spacing(values: float | Sequence[float], count: int, what: str) -> tuple[float, ...]:
    if np.ndim(values) == 0:
        values = [float(values)] * count  # type: ignore[arg-type]
    result = tuple(float(v) for v in values)  # type: ignore[union-attr]
    if len(result) != count:
        raise BadInputError(
            f"{what}: expected {count} value(s), one per spatial axis, got {len(result)}"
        )
    if not all(math.isfinite(v) and v > 0 for v in result):
        raise BadInputError(f"{what} {result}: spacings must be positive numbers")
    return result


def resampled_shape(
    shape: Sequence[int], spacing: Sequence[float], target_spacing: Sequence[float]
) -> tuple[int, ...]:
    """``round(n · spacing / target)`` per axis (half up), at least 1."""
    return tuple(
        max(1, math.floor(n * s / t + 0.5))
        for n, s, t in zip(shape, spacing, target_spacing, strict=True)
    )


def _sample_points(n_in: int, n_out: int) -> np.ndarray:
    """Input coordinates ``(k + 0.5) · n_in / n_out - 0.5``, computed as scipy does."""
    scale = np.float64(n_in) / np.float64(n_out)
    return (np.arange(n_out, dtype=np.float64) + 0.5) * scale - 0.5


def resample_to_spacing(
    array: npt.ArrayLike | da.Array,
    axes: Sequence[str],
    spacing: float | Sequence[float],
    target_spacing: float | Sequence[float],
    *,
    order: int = 1,
) -> tuple[da.Array, tuple[float, ...]]:
    """Resample the spatial axes of an image to a target physical spacing, lazily.

    Output size per spatial axis is ``round(n · spacing / target)``; since it is a whole
    number the spacing reached is ``spacing · n / n_out``, which is what comes back (equal
    to the target whenever ``n · spacing / target`` is whole).

    :param array: image or volume (dask or numpy), e.g. axes ``zyx`` or ``czyx``.
    :param axes: axis names of ``array``; ``z``, ``y``, ``x`` are resampled, others kept.
    :param spacing: current spacing of the spatial axes, in the order they appear in
        ``axes`` (a single number: the same on each).
    :param target_spacing: wanted spacing, same form and unit.
    :param order: 0 nearest (labels: values are never mixed) or 1 linear (intensities).
    :returns: the resampled dask array (integer input gives the same dtype, rounded half
        away from zero as scipy does; float keeps its dtype; bool only with ``order=0``),
        and the spacing reached per spatial axis.
    :raises BadInputError: bad axes, spacings or order.
    """
    array = array if isinstance(array, da.Array) else da.asarray(array)
    axes = tuple(axes)
    if len(axes) != array.ndim:
        raise BadInputError(f"axes {''.join(axes)!r} do not fit an array of shape {array.shape}")
    if order not in (0, 1):
        raise BadInputError(f"interpolation order {order}: use 0 (nearest) or 1 (linear)")
    if array.dtype == np.bool_ and order != 0:
        raise BadInputError("a bool mask is resampled with order 0 (nearest)")
    spatial = [i for i, a in enumerate(axes) if a in SPATIAL_AXES]
    if not spatial:
        raise BadInputError(f"axes {''.join(axes)!r} have no spatial axis (z, y or x)")
    if array.size == 0:
        raise BadInputError(f"cannot resample an empty array (shape {array.shape})")
    current = _spacing(spacing, len(spatial), "spacing")
    target = _spacing(target_spacing, len(spatial), "target spacing")
    shape_in = [array.shape[i] for i in spatial]
    shape_out = resampled_shape(shape_in, current, target)
    reached = tuple(s * n / m for s, n, m in zip(current, shape_in, shape_out, strict=True))
    if tuple(shape_out) == tuple(shape_in):
        return array, reached

    from dask.array.overlap import ensure_minimum_chunksize

    chunks = list(array.chunks)
    for i in spatial:
        if min(chunks[i]) < HALO:
            chunks[i] = ensure_minimum_chunksize(HALO, chunks[i])
    if tuple(chunks) != array.chunks:
        array = array.rechunk(tuple(chunks))

    plans: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}
    out_chunks = list(array.chunks)
    for i, n_out in zip(spatial, shape_out, strict=True):
        n_in = array.shape[i]
        if n_out == n_in:
            continue
        points = _sample_points(n_in, n_out)
        starts = np.cumsum((0, *array.chunks[i]))
        nearest = np.clip(np.floor(points + 0.5), 0, n_in - 1)
        owner = np.searchsorted(starts, nearest, side="right") - 1
        counts = np.bincount(owner, minlength=len(array.chunks[i]))
        # integer positions and weights from global indices: exact whatever the chunking
        below = np.floor(points + 0.5) if order == 0 else np.floor(points)
        plans[i] = (below.astype(np.intp), points - below, starts, np.cumsum((0, *counts)))
        out_chunks[i] = tuple(int(c) for c in counts)
    depth = {i: (HALO if i in plans else 0) for i in range(array.ndim)}
    return (
        da.map_overlap(
            _resample_block,
            array,
            depth=depth,
            boundary="nearest",
            trim=False,
            chunks=tuple(out_chunks),
            dtype=array.dtype,
            meta=np.empty((0,) * array.ndim, dtype=array.dtype),
            plans=plans,
            order=order,
        ),
        reached,
    )


def _resample_block(
    block: np.ndarray,
    *,
    plans: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
    order: int,
    block_id: tuple[int, ...] | None = None,
) -> np.ndarray:
    """Resample one chunk plus its halo; ``block_id`` says which output pixels it owns."""
    assert block_id is not None
    data = block if order == 0 else block.astype(np.float64)
    for axis, (position, weights, starts, out_starts) in plans.items():
        j = block_id[axis]
        own = slice(out_starts[j], out_starts[j + 1])
        last = data.shape[axis] - 1
        index = np.clip(position[own] - (starts[j] - HALO), 0, last)
        if order == 0:
            data = np.take(data, index, axis=axis)
            continue
        shape = [1] * data.ndim
        shape[axis] = index.size
        weight = weights[own].reshape(shape)
        lower = np.take(data, index, axis=axis)
        upper = np.take(data, np.minimum(index + 1, last), axis=axis)
        data = lower * (1.0 - weight) + upper * weight
    if order == 0 or np.issubdtype(block.dtype, np.floating):
        return data.astype(block.dtype, copy=False)
    info = np.iinfo(block.dtype)
    rounded = np.trunc(data + np.copysign(0.5, data))
    return np.clip(rounded, info.min, info.max).astype(block.dtype)
