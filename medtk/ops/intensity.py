"""Intensity transforms: Hounsfield windowing, normalisation, per-channel statistics.

Every transform is element-wise, so it runs chunk by chunk on a dask array and keeps its
chunks. Per-channel values broadcast along the ``"c"`` axis named in ``axes``; an image
without a ``"c"`` axis has one channel.

Statistics follow the mapping medtk stores record under ``medtk.stats``::

    {"min": [...], "max": [...], "mean": [...], "std": [...],
     "percentiles": {"0.5": [...], "1": [...], "99": [...], "99.5": [...]}}

one value per channel in each list; percentile keys are the percentile written with
``f"{p:g}"``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import dask
import dask.array as da
import numpy as np
import numpy.typing as npt

from medtk.errors import BadInputError

__all__ = [
    "channel_stats",
    "minmax_normalise",
    "percentile_key",
    "percentile_normalise",
    "window",
    "zscore_normalise",
]

#: Percentiles :func:`channel_stats` computes unless told otherwise (as medtk stores hold).
DEFAULT_PERCENTILES = (0.5, 1.0, 99.0, 99.5)
#: Histogram bins behind the percentiles of :func:`channel_stats`.
HISTOGRAM_BINS = 2**16

_OUT_DTYPES = {"uint8": np.dtype("uint8"), "float32": np.dtype("float32")}


def _as_dask(array: npt.ArrayLike | da.Array) -> da.Array:
    return array if isinstance(array, da.Array) else da.asarray(array)


def _check_axes(array: da.Array, axes: Sequence[str] | None) -> tuple[str, ...] | None:
    if axes is None:
        return None
    axes = tuple(axes)
    if len(axes) != array.ndim:
        raise BadInputError(
            f"axes {''.join(axes)!r} name {len(axes)} axes but the array has {array.ndim} "
            f"(shape {array.shape})"
        )
    return axes


def _channels(array: da.Array, axes: tuple[str, ...] | None) -> int:
    return int(array.shape[axes.index("c")]) if axes and "c" in axes else 1


def _per_channel(
    values: Any, array: da.Array, axes: tuple[str, ...] | None, what: str
) -> np.ndarray:
    """Per-channel values shaped to broadcast against ``array`` (one channel: a scalar)."""
    flat = np.atleast_1d(np.asarray(values, dtype=np.float64))
    if flat.ndim != 1:
        raise BadInputError(f"{what}: expected one value per channel, got shape {flat.shape}")
    channels = _channels(array, axes)
    if flat.size == 1 and channels == 1:
        return flat.reshape(())
    if flat.size != channels:
        raise BadInputError(
            f"{what} holds {flat.size} channel value(s) but the image has {channels} "
            f"channel(s) (axes {''.join(axes or ()) or 'not given'}, shape {array.shape})"
        )
    if flat.size == 1:
        return flat.reshape(())
    assert axes is not None  # more than one channel means a "c" axis
    shape = [1] * array.ndim
    shape[axes.index("c")] = flat.size
    return flat.reshape(shape)


def _affine(array: da.Array, offset: np.ndarray, width: np.ndarray, *, clip: bool) -> da.Array:
    """``(array - offset) / width`` as float32; a channel of zero width gives 0."""
    safe = np.where(width > 0, width, 1.0)
    scale = np.where(width > 0, 1.0 / safe, 0.0).astype(np.float32)
    out = (array.astype(np.float32) - offset.astype(np.float32)) * scale
    return da.clip(out, 0.0, 1.0) if clip else out


def window(
    array: npt.ArrayLike | da.Array,
    low: float,
    high: float,
    *,
    out_dtype: str = "uint8",
) -> da.Array:
    """Hounsfield windowing: clip to ``[low, high]`` and scale linearly.

    ``t = (clip(x, low, high) - low) / (high - low)``; ``uint8`` gives ``round(255 t)``
    (half to even), ``float32`` gives ``t`` in 0..1. CT viewers show a window the same way
    (DICOM PS3.3 C.11.2.1.2, here without the ½-pixel offsets of the VOI LUT), e.g. the
    abdominal window [-200, 250] HU of the NAFLD pipeline. NaN becomes 0 in ``uint8``.

    :param array: intensities, any shape (a dask array keeps its chunks).
    :param low: lower edge of the window, mapped to 0.
    :param high: upper edge, mapped to 255 (or 1.0).
    :param out_dtype: ``"uint8"`` or ``"float32"``.
    :raises BadInputError: ``low >= high``, a bound not finite, or another dtype.
    """
    low, high = float(low), float(high)
    if not (math.isfinite(low) and math.isfinite(high)):
        raise BadInputError(f"window [{low:g}, {high:g}]: bounds must be finite numbers")
    if low >= high:
        raise BadInputError(f"window [{low:g}, {high:g}]: LOW must be below HIGH")
    try:
        dtype = np.dtype(out_dtype)
    except TypeError:
        dtype = None
    if dtype not in _OUT_DTYPES.values():
        raise BadInputError(f"window: out_dtype {out_dtype!r} is not one of uint8, float32")
    return _as_dask(array).map_blocks(_window_block, low, high, dtype, dtype=dtype)


def _window_block(block: np.ndarray, low: float, high: float, dtype: np.dtype) -> np.ndarray:
    scaled = (np.clip(block.astype(np.float64), low, high) - low) / (high - low)
    if dtype == np.uint8:
        return np.nan_to_num(np.rint(scaled * 255.0), nan=0.0).astype(np.uint8)
    return scaled.astype(dtype)


def minmax_normalise(
    array: npt.ArrayLike | da.Array,
    lo: float | Sequence[float],
    hi: float | Sequence[float],
    *,
    axes: Sequence[str] | None = None,
    clip: bool = False,
) -> da.Array:
    """Min–max scaling ``(x - lo) / (hi - lo)`` to float32, per channel when given lists.

    The stain models scale each channel by its dataset minimum and maximum this way, so a
    value of 0 and 1 mean the same across images. A channel with ``hi == lo`` becomes 0.

    :param array: image (dask or numpy).
    :param lo: value mapped to 0: a number, or one per channel along ``"c"``.
    :param hi: value mapped to 1, same form as ``lo``.
    :param axes: axis names; needed when ``lo``/``hi`` hold more than one channel.
    :param clip: clip the result to [0, 1].
    :raises BadInputError: channel counts differ, or ``hi < lo``.
    """
    array = _as_dask(array)
    axes = _check_axes(array, axes)
    lo_b = _per_channel(lo, array, axes, "minmax lo")
    hi_b = _per_channel(hi, array, axes, "minmax hi")
    if np.any(hi_b < lo_b):
        raise BadInputError(
            f"minmax: hi {np.ravel(hi_b).tolist()} below lo {np.ravel(lo_b).tolist()}"
        )
    return _affine(array, lo_b, hi_b - lo_b, clip=clip)


def percentile_key(percentile: float) -> str:
    """The key of a percentile in a stats mapping: ``1 → "1"``, ``99.5 → "99.5"``."""
    return f"{float(percentile):g}"


def _stat(stats: Mapping[str, Any], key: str) -> Any:
    if not isinstance(stats, Mapping) or key not in stats:
        have = ", ".join(stats) if isinstance(stats, Mapping) else type(stats).__name__
        raise BadInputError(f"statistics have no {key!r} entry (they have: {have or 'nothing'})")
    return stats[key]


def _percentile(stats: Mapping[str, Any], pct: float) -> Any:
    table = _stat(stats, "percentiles")
    key = percentile_key(pct)
    if not isinstance(table, Mapping) or key not in table:
        have = ", ".join(table) if isinstance(table, Mapping) else "none"
        raise BadInputError(
            f"statistics have no {key}th percentile (they have: {have}); compute them with "
            "channel_stats(..., percentiles=...) or choose one of those"
        )
    return table[key]


def percentile_normalise(
    array: npt.ArrayLike | da.Array,
    stats: Mapping[str, Any],
    low_pct: float = 1,
    high_pct: float = 99,
    clip: bool = True,
    *,
    axes: Sequence[str] | None = None,
) -> da.Array:
    """Robust per-channel scaling between two stored percentiles, to float32.

    ``(x - P_low) / (P_high - P_low)`` per channel, clipped to [0, 1] by default: the
    percentile normalisation of CSBDeep/CARE (Weigert et al. 2018), robust to the few hot
    or dead pixels that would stretch a min–max range. A channel whose two percentiles are
    equal becomes 0.

    :param array: image (dask or numpy).
    :param stats: per-channel statistics mapping (see the module docstring).
    :param low_pct: percentile mapped to 0; must be a key of ``stats["percentiles"]``.
    :param high_pct: percentile mapped to 1.
    :param clip: clip the result to [0, 1].
    :param axes: axis names of ``array`` (required for more than one channel).
    :raises BadInputError: a percentile missing from ``stats``, channel counts differ, or
        ``low_pct >= high_pct``.
    """
    if float(low_pct) >= float(high_pct):
        raise BadInputError(f"percentiles {low_pct:g} and {high_pct:g}: low must be below high")
    array = _as_dask(array)
    axes = _check_axes(array, axes)
    lo = _per_channel(_percentile(stats, low_pct), array, axes, f"percentile {low_pct:g}")
    hi = _per_channel(_percentile(stats, high_pct), array, axes, f"percentile {high_pct:g}")
    return _affine(array, lo, np.maximum(hi - lo, 0.0), clip=clip)


def zscore_normalise(
    array: npt.ArrayLike | da.Array,
    stats: Mapping[str, Any],
    axes: Sequence[str] | None = None,
) -> da.Array:
    """Per-channel standardisation ``(x - mean) / std`` to float32.

    The usual input normalisation for MRI and for nnU-Net's non-CT images. A channel with
    ``std == 0`` becomes 0.

    :param array: image (dask or numpy).
    :param stats: mapping with ``"mean"`` and ``"std"`` lists, one value per channel.
    :param axes: axis names of ``array`` (required for more than one channel).
    :raises BadInputError: a key missing or channel counts differ.
    """
    array = _as_dask(array)
    axes = _check_axes(array, axes)
    mean = _per_channel(_stat(stats, "mean"), array, axes, "mean")
    std = _per_channel(_stat(stats, "std"), array, axes, "std")
    return _affine(array, mean, std, clip=False)


def channel_stats(
    array: npt.ArrayLike | da.Array,
    axes: Sequence[str] | None,
    percentiles: Sequence[float] = DEFAULT_PERCENTILES,
    *,
    bins: int = HISTOGRAM_BINS,
) -> dict[str, Any]:
    """Per-channel min, max, mean, std and percentiles of a whole (large) image.

    Two passes over the data, each one dask computation: exact min, max, mean and
    population std (``ddof=0``, float64 accumulation), then one histogram per channel from
    which the percentiles are read with numpy's default ``linear`` interpolation rule
    (``np.percentile``: value at rank ``q/100 · (n-1)`` of the sorted data).

    Accuracy: for integer data whose range ``max - min`` is below ``bins`` (uint8, uint16,
    CT in int16 HU …) each bin holds one value and the percentiles are **exact**. Otherwise
    ``bins`` equal bins span [min, max] and each percentile is within one bin width,
    ``(max - min) / bins``, of the exact value. Memory is ``bins`` counters per block.

    :param array: image (dask or numpy); values must be finite.
    :param axes: axis names; statistics are per ``"c"`` channel, or one channel if absent
        (``None`` means no channel axis).
    :param percentiles: percentiles in [0, 100] to compute.
    :param bins: histogram bins per channel.
    :returns: the stats mapping, lists of Python floats (see the module docstring).
    """
    array = _as_dask(array)
    axes = _check_axes(array, axes)
    if array.dtype == np.bool_:
        array = array.astype(np.uint8)
    if array.size == 0:
        raise BadInputError(f"cannot compute statistics of an empty array (shape {array.shape})")
    pcts = [float(p) for p in percentiles]
    if any(not 0 <= p <= 100 for p in pcts):
        raise BadInputError(f"percentiles {pcts} must lie in [0, 100]")
    channels = _channels(array, axes)
    if axes and "c" in axes:
        planes = [da.take(array, i, axis=axes.index("c")) for i in range(channels)]
    else:
        planes = [array]
    data = [p.astype(np.float64) for p in planes]
    mins, maxs, means, stds = dask.compute(
        [p.min() for p in planes],
        [p.max() for p in planes],
        [d.mean() for d in data],
        [d.std() for d in data],
    )
    mins = [float(v) for v in mins]
    maxs = [float(v) for v in maxs]
    integer = np.issubdtype(array.dtype, np.integer)
    edges_per_channel = []
    hists = []
    for plane, lo, hi in zip(planes, mins, maxs, strict=True):
        if integer and hi - lo < bins:
            count, edges = int(hi - lo) + 1, (lo - 0.5, hi + 0.5)
        else:
            count, edges = bins, (lo, hi if hi > lo else lo + 1.0)
        hist, _ = da.histogram(plane, bins=count, range=edges)
        hists.append(hist)
        edges_per_channel.append((count, edges, integer and hi - lo < bins))
    counted = dask.compute(*hists)
    table: dict[str, list[float]] = {percentile_key(p): [] for p in pcts}
    for hist, (count, (left, right), exact), lo, hi in zip(
        counted, edges_per_channel, mins, maxs, strict=True
    ):
        values = _histogram_percentiles(
            np.asarray(hist), left, (right - left) / count, pcts, exact=exact
        )
        for p, v in zip(pcts, values, strict=True):
            table[percentile_key(p)].append(float(min(max(v, lo), hi)))
    return {
        "min": mins,
        "max": maxs,
        "mean": [float(v) for v in means],
        "std": [float(v) for v in stds],
        "percentiles": table,
    }


def _histogram_percentiles(
    hist: np.ndarray, left: float, width: float, pcts: Sequence[float], *, exact: bool
) -> list[float]:
    """Percentiles from a histogram with numpy's ``linear`` rule.

    The sorted value of rank ``k`` lies in the bin where the cumulative count first
    exceeds ``k``: its centre when each bin holds one integer value (exact), else a point
    spread evenly inside the bin (within one bin width of the truth).
    """
    cumulative = np.cumsum(hist)
    n = int(cumulative[-1])

    def ranked(k: np.ndarray) -> np.ndarray:
        b = np.searchsorted(cumulative, k, side="right")
        if exact:
            return left + width * (b + 0.5)
        before = np.where(b > 0, cumulative[np.maximum(b - 1, 0)], 0)
        inside = (k - before + 0.5) / np.maximum(hist[b], 1)
        return left + width * (b + inside)

    rank = np.asarray(pcts, dtype=np.float64) / 100.0 * (n - 1)
    below = np.floor(rank)
    above = np.minimum(below + 1, n - 1)
    v_below, v_above = ranked(below), ranked(above)
    return (v_below + (v_above - v_below) * (rank - below)).tolist()
