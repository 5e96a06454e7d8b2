"""Which voxels a render reads: the region of interest, the pyramid level, the sampling.

A render never loads a large volume at full resolution. It reads the region of interest
(``--roi``, in level-0 voxels) from the finest pyramid level whose voxel count in that
region fits a budget (``--max-voxels``, 256³ by default). When even the coarsest stored
level is over the budget (a pyramid stops at 256 px in y and x, but a CT may have
thousands of slices), the read is reduced further, chunk by chunk with dask, by doubling
the step along the axis with the finest physical spacing until it fits.

Every array a render reads (the image, a label image, a second store to compare with)
goes through one :class:`Sampling`, so the arrays line up voxel for voxel whatever their
own pyramids: each is read from its coarsest level that divides the sampling's factors,
then strided (labels) or averaged (intensities) the rest of the way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from medtk.errors import BadInputError

if TYPE_CHECKING:
    from medtk.io.store import Store

#: Voxels a render reads at most unless told otherwise: a 256³ volume.
DEFAULT_MAX_VOXELS = 256**3
SPATIAL = ("z", "y", "x")

Bounds = tuple[tuple[int, int], tuple[int, int], tuple[int, int]]
Reduce = Literal["nearest", "mean", "max"]


def require_volume(store: Store, what: str) -> tuple[int, int, int]:
    """The level-0 ``(z, y, x)`` shape of a 3D store; a 2D store is one clear line."""
    if tuple(store.spatial_axes) != SPATIAL:
        axes = "".join(store.axes)
        raise BadInputError(
            f"{what} {str(store.path)!r} has axes {axes}; rendering needs a volume (z, y, x)"
        )
    shape = dict(zip(store.axes, store.levels[0].shape, strict=True))
    return shape["z"], shape["y"], shape["x"]


def parse_roi(text: str | None, shape: tuple[int, int, int]) -> Bounds:
    """``"z0:z1,y0:y1,x0:x1"`` (level-0 voxels, end exclusive) as bounds inside ``shape``.

    An empty bound is the volume's edge (``"10:20,:,100:"``); ``None`` or ``""`` is the
    whole volume. Anything else is one :class:`BadInputError` line naming ``--roi``.
    """
    if text is None or not text.strip():
        return ((0, shape[0]), (0, shape[1]), (0, shape[2]))
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 3:
        raise BadInputError(
            f"--roi {text!r}: give three ranges z0:z1,y0:y1,x0:x1 (level-0 voxels), "
            f"got {len(parts)}"
        )
    bounds = []
    for axis, part, size in zip(SPATIAL, parts, shape, strict=True):
        pieces = part.split(":")
        if len(pieces) != 2:
            raise BadInputError(f"--roi {text!r}: the {axis} range {part!r} is not START:STOP")
        try:
            start = int(pieces[0]) if pieces[0].strip() else 0
            stop = int(pieces[1]) if pieces[1].strip() else size
        except ValueError:
            raise BadInputError(
                f"--roi {text!r}: the {axis} range {part!r} must hold whole numbers"
            ) from None
        if start < 0 or stop > size:
            raise BadInputError(
                f"--roi {text!r}: the {axis} range {start}:{stop} leaves the volume, "
                f"whose {axis} runs 0:{size}"
            )
        if start >= stop:
            raise BadInputError(f"--roi {text!r}: the {axis} range {start}:{stop} is empty")
        bounds.append((start, stop))
    return bounds[0], bounds[1], bounds[2]


def level_factors(store: Store, level: int) -> tuple[int, int, int]:
    """How many level-0 voxels one voxel of ``level`` spans along z, y and x."""
    first, this = store.levels[0], store.levels[level]
    factors = []
    for axis in SPATIAL:
        i = store.axes.index(axis)
        if first.scale[i] > 0 and this.scale[i] > 0:
            ratio = this.scale[i] / first.scale[i]
        else:
            ratio = first.shape[i] / this.shape[i]
        factors.append(max(1, round(ratio)))
    return factors[0], factors[1], factors[2]


@dataclass(frozen=True)
class Sampling:
    """The voxel grid a render works on: a region of level 0 at integer factors."""

    #: Region of interest in level-0 voxels, per axis ``(start, stop)``.
    roi: Bounds
    #: Level-0 voxels per sampled voxel, along z, y, x.
    factors: tuple[int, int, int]
    #: Physical size of a sampled voxel along z, y, x (the store's unit).
    spacing: tuple[float, float, float]
    #: The pyramid level of the main store it reads.
    level: int

    @property
    def start(self) -> tuple[int, int, int]:
        """First sampled voxel per axis, in sampled coordinates."""
        s = tuple(lo // f for (lo, _), f in zip(self.roi, self.factors, strict=True))
        return s[0], s[1], s[2]

    @property
    def shape(self) -> tuple[int, int, int]:
        """Size of the sampled array along z, y, x."""
        n = tuple(
            math.ceil(hi / f) - lo // f for (lo, hi), f in zip(self.roi, self.factors, strict=True)
        )
        return n[0], n[1], n[2]

    @property
    def voxels(self) -> int:
        """How many voxels the sampled array holds."""
        return math.prod(self.shape)

    def to_level0(self, index: tuple[int, int, int]) -> tuple[int, int, int]:
        """A sampled voxel's level-0 index (its first level-0 voxel)."""
        v = tuple((i + s) * f for i, s, f in zip(index, self.start, self.factors, strict=True))
        return v[0], v[1], v[2]


def _voxels(roi: Bounds, factors: tuple[int, ...]) -> int:
    return math.prod(math.ceil(hi / f) - lo // f for (lo, hi), f in zip(roi, factors, strict=True))


def plan_sampling(
    store: Store, roi: Bounds, *, max_voxels: int = DEFAULT_MAX_VOXELS, level: int | None = None
) -> Sampling:
    """The sampling of ``roi`` that fits ``max_voxels``.

    With ``level`` given, that level as stored (refused when it is over the budget);
    otherwise the finest level that fits, reduced further if even the coarsest does not.
    """
    spacing0 = tuple(store.spacing)
    levels = len(store.levels)
    if level is not None:
        if not 0 <= level < levels:
            raise BadInputError(
                f"--level {level}: {str(store.path)!r} has levels 0 to {levels - 1}"
            )
        factors = level_factors(store, level)
        count = _voxels(roi, factors)
        if count > max_voxels:
            raise BadInputError(
                f"--level {level}: the region holds {count:,} voxels there, over "
                f"--max-voxels {max_voxels:,}; choose a coarser level or raise --max-voxels"
            )
    else:
        level = next(
            (i for i in range(levels) if _voxels(roi, level_factors(store, i)) <= max_voxels),
            levels - 1,
        )
        factors = level_factors(store, level)
        extra = [1, 1, 1]
        while _voxels(roi, tuple(f * e for f, e in zip(factors, extra, strict=True))) > max_voxels:
            sizes = [
                math.ceil((hi - lo) / (f * e))
                for (lo, hi), f, e in zip(roi, factors, extra, strict=True)
            ]
            physical = [
                s * f * e if n > 1 else math.inf
                for s, f, e, n in zip(spacing0, factors, extra, sizes, strict=True)
            ]
            if all(math.isinf(p) for p in physical):
                break
            extra[int(np.argmin(physical))] *= 2
        factors = tuple(f * e for f, e in zip(factors, extra, strict=True))  # type: ignore[assignment]
    spacing = tuple(s * f for s, f in zip(spacing0, factors, strict=True))
    return Sampling(
        roi=roi,
        factors=(factors[0], factors[1], factors[2]),
        spacing=(spacing[0], spacing[1], spacing[2]),
        level=level,
    )


def _lazy(store: Store, sampling: Sampling, channel: int) -> tuple[Any, tuple[int, int, int]]:
    """The region as a lazy ``(z, y, x)`` dask array of the coarsest level of ``store``
    whose factors divide the sampling's, and the steps left to reach the sampling."""
    level = 0
    for i in range(len(store.levels)):
        own = level_factors(store, i)
        if all(f % o == 0 for f, o in zip(sampling.factors, own, strict=True)):
            level = i
    own = level_factors(store, level)
    steps = tuple(f // o for f, o in zip(sampling.factors, own, strict=True))
    array = store.dask(level)
    index: list[int | slice] = []
    for axis, size in zip(store.axes, array.shape, strict=True):
        if axis == "t":
            index.append(0)
        elif axis == "c":
            if not 0 <= channel < size:
                raise BadInputError(
                    f"--channel {channel}: {str(store.path)!r} has channels 0 to {size - 1}"
                )
            index.append(channel)
        else:
            k = SPATIAL.index(axis)
            start = sampling.start[k] * steps[k]
            stop = min((sampling.start[k] + sampling.shape[k]) * steps[k], size)
            index.append(slice(start, stop))
    return array[tuple(index)], (steps[0], steps[1], steps[2])


def _reduce(block: Any, steps: tuple[int, ...], reduce: Reduce) -> Any:
    """Every ``step``-th voxel, or the mean or maximum of each cell of ``steps`` voxels
    (cells cut off by the edge keep what they have)."""
    import dask.array as da

    if all(s == 1 for s in steps):
        return block
    if reduce == "nearest":
        return block[tuple(slice(None, None, s) for s in steps)]
    pad = [(0, -n % s) for n, s in zip(block.shape, steps, strict=True)]
    if any(p for _, p in pad):
        block = da.pad(block, pad, mode="edge")
    function = np.mean if reduce == "mean" else np.max
    return da.coarsen(function, block, dict(enumerate(steps)))


def read(
    store: Store, sampling: Sampling, *, reduce: Reduce = "nearest", channel: int = 0
) -> np.ndarray:
    """``store``'s voxels on ``sampling``'s grid as a ``(z, y, x)`` numpy array.

    Read lazily from the coarsest level of ``store`` whose factors divide the sampling's,
    then reduced the rest of the way: every ``k``-th voxel (``"nearest"``, for labels),
    or the mean or maximum of each ``k``-voxel cell; dask does it chunk by chunk, so
    memory holds the result and a few chunks, never the level.
    """
    block, steps = _lazy(store, sampling, channel)
    result = np.asarray(_reduce(block, steps, reduce).compute())
    return _fit(result, sampling.shape)


def project(store: Store, sampling: Sampling, axis: int, *, channel: int = 0) -> np.ndarray:
    """The maximum along ``axis`` (0 z, 1 y, 2 x) of the region, on the sampling's grid of
    the two other axes: a dask reduction over the stored level, chunk by chunk (the
    maximum is taken at the level's own resolution, so a small bright spot survives)."""
    block, steps = _lazy(store, sampling, channel)
    projected = block.max(axis=axis)
    rest = tuple(s for k, s in enumerate(steps) if k != axis)
    result = np.asarray(_reduce(projected, rest, "max").compute())
    shape = tuple(n for k, n in enumerate(sampling.shape) if k != axis)
    return _fit(result, shape)


def plane(sampling: Sampling, axis: int, index0: int) -> Sampling:
    """The one-voxel-thick slab of ``sampling`` across ``axis`` holding level-0 index
    ``index0``."""
    f = sampling.factors[axis]
    lo, hi = sampling.roi[axis]
    first = max(index0 // f * f, lo)
    bounds = list(sampling.roi)
    bounds[axis] = (first, min(index0 // f * f + f, hi))
    return replace(sampling, roi=(bounds[0], bounds[1], bounds[2]))


def _fit(array: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Crop or edge-pad ``array`` to ``shape`` (a voxel off at a foreign pyramid's edge)."""
    array = array[tuple(slice(0, n) for n in shape)]
    pad = [(0, n - m) for n, m in zip(shape, array.shape, strict=True)]
    return np.pad(array, pad, mode="edge") if any(p for _, p in pad) else array
