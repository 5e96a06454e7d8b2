"""2D slices of volumes, and which slices carry enough signal to keep.

The CT branch of the NAFLD model sees a patient as a bag of axial slices: the windowed
volume (0–255) is masked to the liver and slices whose mean is below 5 are dropped, since
they hold (almost) no liver. Slices here are lazy views into the volume's dask array, so
only the slices a model reads are ever loaded.
"""

from __future__ import annotations

from collections.abc import Sequence

import dask.array as da
import numpy as np
import numpy.typing as npt

from medtk.errors import BadInputError

__all__ = ["DARK_SLICE_MEAN", "axial_slices", "drop_dark_slices", "slice_along", "slice_means"]

#: The NAFLD rule: a slice whose mean after liver masking is below this (0–255) is dropped.
DARK_SLICE_MEAN = 5.0


def _volume(volume: npt.ArrayLike | da.Array, axes: Sequence[str], axis: str) -> da.Array:
    array = volume if isinstance(volume, da.Array) else da.asarray(volume)
    if len(tuple(axes)) != array.ndim:
        raise BadInputError(f"axes {''.join(axes)!r} do not fit a volume of shape {array.shape}")
    if axis not in axes:
        raise BadInputError(f"no {axis!r} axis to slice along in axes {''.join(axes)!r}")
    return array


def slice_along(
    volume: npt.ArrayLike | da.Array, axes: Sequence[str], axis: str = "z", index: int = 0
) -> da.Array:
    """The slice at ``index`` along ``axis``; the other axes keep their order.

    A ``zyx`` volume gives a ``yx`` slice, a ``czyx`` volume a ``cyx`` slice.

    :param volume: the volume (dask or numpy).
    :param axes: its axis names.
    :param axis: the axis to slice along (``"z"`` for axial slices).
    :param index: position along ``axis``, ``0 <= index < length``.
    :raises BadInputError: the axis is missing or the index outside the volume.
    """
    array = _volume(volume, axes, axis)
    where = tuple(axes).index(axis)
    length = array.shape[where]
    if not 0 <= int(index) < length:
        raise BadInputError(f"slice {index} is outside the {length} slices along {axis!r}")
    return array[(slice(None),) * where + (int(index),)]


def axial_slices(
    volume: npt.ArrayLike | da.Array,
    axes: Sequence[str],
    *,
    indices: Sequence[int] | None = None,
    step: int = 1,
) -> dict[int, da.Array]:
    """Lazy axial (``z``) slices by index: every ``step``-th one, or those in ``indices``.

    :param volume: ``zyx`` or ``czyx`` volume (dask or numpy).
    :param axes: its axis names.
    :param indices: the z indices wanted (e.g. from :func:`drop_dark_slices`), or None.
    :param step: take every ``step``-th slice from 0 when ``indices`` is None.
    :returns: ``{z: slice}`` in the order asked, each ``yx`` (or ``cyx``) and lazy.
    """
    array = _volume(volume, axes, "z")
    if int(step) != step or step < 1:
        raise BadInputError(f"slice step {step} must be a whole number >= 1")
    if indices is not None and step != 1:
        raise BadInputError("give slice indices or a step, not both")
    depth = array.shape[tuple(axes).index("z")]
    chosen = range(0, depth, int(step)) if indices is None else [int(i) for i in indices]
    return {z: slice_along(array, axes, "z", z) for z in chosen}


def slice_means(
    volume: npt.ArrayLike | da.Array,
    axes: Sequence[str],
    *,
    mask: npt.ArrayLike | da.Array | None = None,
    axis: str = "z",
) -> np.ndarray:
    """Mean of each slice along ``axis`` (over its pixels and channels), masked if asked.

    With a mask, pixels outside it count as 0 and the mean is still over the whole slice,
    as the NAFLD pipeline computes it (``(volume * mask).mean()`` per slice), so a slice
    with little liver has a low mean. One dask reduction, one ``compute``.

    :param volume: the volume (dask or numpy), e.g. windowed CT, 0–255.
    :param axes: its axis names.
    :param mask: label image with the volume's axes except ``c``; nonzero is inside.
    :param axis: the axis along which slices are taken.
    :returns: float64 means, one per slice.
    """
    array = _volume(volume, axes, axis)
    axes = tuple(axes)
    data = array.astype(np.float64)
    if mask is not None:
        labels = mask if isinstance(mask, da.Array) else da.asarray(mask)
        spatial = tuple(n for a, n in zip(axes, array.shape, strict=True) if a != "c")
        if labels.shape != spatial:
            raise BadInputError(
                f"mask shape {labels.shape} does not fit the volume's "
                f"{''.join(a for a in axes if a != 'c')} shape {spatial}"
            )
        inside = labels != 0
        if "c" in axes:
            inside = da.expand_dims(inside, axes.index("c"))
        data = data * inside
    where = axes.index(axis)
    others = tuple(i for i in range(array.ndim) if i != where)
    return np.asarray(data.mean(axis=others).compute(), dtype=np.float64)


def drop_dark_slices(
    volume: npt.ArrayLike | da.Array,
    axes: Sequence[str],
    *,
    threshold: float = DARK_SLICE_MEAN,
    mask: npt.ArrayLike | da.Array | None = None,
    axis: str = "z",
) -> list[int]:
    """Indices of the slices to keep: those whose (masked) mean is at least ``threshold``.

    :param volume: windowed volume on a 0–255 scale (dask or numpy).
    :param axes: its axis names.
    :param threshold: the smallest mean kept (5 in the NAFLD pipeline).
    :param mask: optional organ mask (see :func:`slice_means`).
    :param axis: the axis along which slices are taken.
    :returns: the kept indices, ascending.
    """
    means = slice_means(volume, axes, mask=mask, axis=axis)
    return [int(i) for i in np.flatnonzero(means >= threshold)]
