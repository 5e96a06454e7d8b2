"""Multiscale pyramids written block by block: bounded memory, parallel, resumable.

Level 0 is streamed from the reader in blocks sized so that each block maps onto whole
chunks of several pyramid levels at once: a block is read once, written to level 0, and
downsampled in memory to the next levels. The lowest level a pass reaches becomes the
source of the next pass. No step ever holds more than a few blocks, whatever the image
size, and every finished block is logged in a journal, so an interrupted run resumes.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from medtk.io.journal import Journal
from medtk.io.source import Region

Downsampling = Literal["mean", "nearest"]
#: Largest block (bytes at the pass's source level) a worker holds; a few are in flight.
DEFAULT_BLOCK_BYTES = 16 << 20


@dataclass(frozen=True)
class PyramidPlan:
    """Shapes, chunks, physical scales and downsampling factors of every level."""

    axes: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    chunks: tuple[tuple[int, ...], ...]
    scales: tuple[tuple[float, ...], ...]
    #: ``factors[i]``: integer factor per axis from level ``i`` to level ``i + 1``.
    factors: tuple[tuple[int, ...], ...]

    @property
    def levels(self) -> int:
        """How many levels the pyramid has."""
        return len(self.shapes)

    def factor_between(self, low: int, high: int) -> tuple[int, ...]:
        """The cumulative factor per axis from level ``low`` to level ``high``."""
        total = [1] * len(self.axes)
        for step in self.factors[low:high]:
            total = [t * f for t, f in zip(total, step, strict=True)]
        return tuple(total)


def plan_pyramid(
    shape: Sequence[int],
    axes: Sequence[str],
    spacing: Sequence[float],
    chunks: Sequence[int],
    *,
    min_size: int = 256,
    max_levels: int = 16,
) -> PyramidPlan:
    """Plan levels until the larger of y and x is at most ``min_size``.

    y and x halve at every level. z halves too once its spacing is no coarser than 1.5
    times the in-plane spacing at that level, so an anisotropic CT (5 mm slices, 0.7 mm
    pixels) keeps its slices until the in-plane resolution has caught up, and an
    isotropic EM volume shrinks evenly. Channels and time never shrink.
    """
    axes = tuple(axes)
    spatial = [a for a in axes if a in ("z", "y", "x")]
    physical = dict(zip(spatial, spacing, strict=True))
    shapes = [tuple(int(n) for n in shape)]
    scales = [tuple(physical.get(a, 1.0) for a in axes)]
    factors: list[tuple[int, ...]] = []
    in_plane = [a for a in ("y", "x") if a in axes]
    while len(shapes) < max_levels:
        current = dict(zip(axes, shapes[-1], strict=True))
        if not in_plane or max(current[a] for a in in_plane) <= min_size:
            break
        finest = min(physical[a] for a in in_plane)
        step = []
        for axis in axes:
            shrink = axis in in_plane or (axis == "z" and physical["z"] <= 1.5 * finest)
            step.append(2 if shrink and current[axis] > 1 else 1)
        for axis, f in zip(axes, step, strict=True):
            if axis in physical:
                physical[axis] *= f
        factors.append(tuple(step))
        shapes.append(tuple(math.ceil(n / f) for n, f in zip(shapes[-1], step, strict=True)))
        scales.append(tuple(physical.get(a, 1.0) for a in axes))
    level_chunks = tuple(
        tuple(min(c, n) for c, n in zip(chunks, level_shape, strict=True)) for level_shape in shapes
    )
    return PyramidPlan(axes, tuple(shapes), level_chunks, tuple(scales), tuple(factors))


def downsample(block: np.ndarray, factors: Sequence[int], method: Downsampling) -> np.ndarray:
    """Shrink ``block`` by ``factors`` of 1 or 2: cell means for images, every other pixel
    for labels.

    A cell cut off by an odd edge is the mean of the pixels it has, so a block cut at the
    image border gives the same values as the whole image would. Integers round half up.
    """
    if all(f == 1 for f in factors):
        return block
    if method == "nearest":
        return block[tuple(slice(None, None, f) for f in factors)]
    if any(f > 2 for f in factors):
        raise ValueError(f"pyramid factors are 1 or 2, not {tuple(factors)}")
    integer = np.issubdtype(block.dtype, np.integer)
    pad = [(0, n % f) for n, f in zip(block.shape, factors, strict=True)]
    if any(p for _, p in pad):
        # With factors of 2, repeating the edge pixel makes a cut-off cell's mean the mean
        # of the pixels it has: (a + a) / 2 = a, and (a + b + a + b) / 4 = (a + b) / 2.
        block = np.pad(block, pad, mode="edge")
    if integer and block.dtype.kind == "u" and block.dtype.itemsize <= 2:
        return _pair_mean_unsigned(block, factors)
    total = np.zeros([n // f for n, f in zip(block.shape, factors, strict=True)], dtype=np.float64)
    for offsets in itertools.product(*(range(f) for f in factors)):
        total += block[tuple(slice(o, None, f) for o, f in zip(offsets, factors, strict=True))]
    mean = total / float(np.prod(factors))
    if integer:
        info = np.iinfo(block.dtype)
        return np.clip(np.floor(mean + 0.5), info.min, info.max).astype(block.dtype)
    return mean.astype(block.dtype)


def _pair_mean_unsigned(block: np.ndarray, factors: Sequence[int]) -> np.ndarray:
    """Cell means of 8/16-bit unsigned data in integer arithmetic, rounding half up.

    Neighbours are summed pairwise along each halved axis in the next wider type (the
    first sum halves the data, so later ones are cheap), then ``(sum + n/2) >> log2 n``
    equals ``floor(mean + 0.5)``: several times faster than summing in floating point.
    """
    wide = np.uint16 if block.dtype.itemsize == 1 else np.uint32
    total: np.ndarray = block
    for axis, factor in enumerate(factors):
        if factor == 1:
            continue
        even = [slice(None)] * block.ndim
        odd = [slice(None)] * block.ndim
        even[axis], odd[axis] = slice(0, None, 2), slice(1, None, 2)
        total = np.add(total[tuple(even)], total[tuple(odd)], dtype=wide)
    cells = math.prod(factors)
    total += cells // 2
    total >>= cells.bit_length() - 1
    return total.astype(block.dtype)


def _split(shape: Sequence[int], factors: Sequence[int]) -> list[int]:
    """``(n0, n1)`` with factors ``(f0, f1)`` → ``[n0/f0, f0, n1/f1, f1]`` for block reduction."""
    split: list[int] = []
    for n, f in zip(shape, factors, strict=True):
        split += [n // f, f]
    return split


def plan_passes(plan: PyramidPlan, itemsize: int, budget: int) -> list[tuple[int, int]]:
    """Split levels into passes ``(source level, last level written)``.

    Each pass takes as many levels as fit: its block (one chunk of the last level, scaled
    up to the source level) must stay within ``budget`` bytes. Pass 0 reads the input and
    also writes level 0; a later pass reads the previous pass's last level.
    """
    passes: list[tuple[int, int]] = []
    source = 0
    while True:
        last = source
        while last + 1 < plan.levels:
            block = _block_shape(plan, source, last + 1)
            if last > source and math.prod(block) * itemsize > budget:
                break
            last += 1
        if source == 0 or last > source:
            passes.append((source, last))
        if last + 1 >= plan.levels:
            return passes
        source = last


def _block_shape(plan: PyramidPlan, source: int, last: int) -> tuple[int, ...]:
    """One chunk of level ``last``, in pixels of level ``source``."""
    factor = plan.factor_between(source, last)
    return tuple(
        min(c * f, n)
        for c, f, n in zip(plan.chunks[last], factor, plan.shapes[source], strict=True)
    )


def block_regions(shape: Sequence[int], block: Sequence[int]) -> Iterator[Region]:
    """The grid of blocks covering ``shape``, in C order."""
    ranges = [range(0, n, b) for n, b in zip(shape, block, strict=True)]
    for corner in itertools.product(*ranges):
        yield tuple(slice(c, min(c + b, n)) for c, b, n in zip(corner, block, shape, strict=True))


def count_blocks(plan: PyramidPlan, passes: Sequence[tuple[int, int]]) -> int:
    """How many blocks all passes take together (the length of a progress bar)."""
    total = 0
    for source, last in passes:
        block = _block_shape(plan, source, last)
        total += math.prod(
            math.ceil(n / b) for n, b in zip(plan.shapes[source], block, strict=True)
        )
    return total


def block_stats(
    block: np.ndarray, channel_axis: int | None, first_channel: int = 0
) -> dict[str, Any]:
    """Per-channel statistics of one block, in a form that merges exactly across blocks.

    8- and 16-bit integer images (slides, CT, most microscopy) keep a histogram of the
    values present, so merged blocks give exact percentiles too; other dtypes keep min,
    max, sum and sum of squares.
    """
    data = np.moveaxis(block, channel_axis, 0) if channel_axis is not None else block[None]
    if np.issubdtype(data.dtype, np.integer) and data.dtype.itemsize <= 2:
        offset = int(np.iinfo(data.dtype).min)
        hist = []
        for channel in data:
            counts = _value_counts(channel, offset, 1 << (8 * data.dtype.itemsize))
            present = np.flatnonzero(counts)
            hist.append([(present + offset).tolist(), counts[present].tolist()])
        return {"first": first_channel, "hist": hist}
    flat = data.reshape(data.shape[0], -1)
    return {
        "first": first_channel,
        "min": flat.min(axis=1).astype(np.float64).tolist(),
        "max": flat.max(axis=1).astype(np.float64).tolist(),
        "sum": flat.sum(axis=1, dtype=np.float64).tolist(),
        "sumsq": [float(np.dot(c.astype(np.float64), c.astype(np.float64))) for c in flat],
        "count": [flat.shape[1]] * flat.shape[0],
    }


def _value_counts(values: np.ndarray, offset: int, bins: int) -> np.ndarray:
    """Counts of each value (shifted by ``-offset``); 16-bit values in cache-sized pieces.

    ``np.bincount`` converts its input to 64-bit indices first; doing that a quarter of a
    million values at a time keeps the copy in cache instead of 8× the block in memory.
    """
    if values.dtype == np.uint8:
        return _byte_counts(values)
    values = values.ravel()
    counts = np.zeros(bins, dtype=np.int64)
    step = 1 << 18
    for start in range(0, values.size, step):
        piece = values[start : start + step]
        if offset:
            piece = piece.astype(np.int32) - offset
        counts += np.bincount(piece, minlength=bins)
    return counts


def _byte_counts(values: np.ndarray) -> np.ndarray:
    """Counts of each 8-bit value through Pillow's histogram: exact, and several times
    faster than ``np.bincount`` (which widens every value to 64 bits first)."""
    from PIL import Image

    plane = values.reshape(1, -1) if values.ndim < 2 else values.reshape(-1, values.shape[-1])
    return np.asarray(Image.fromarray(np.ascontiguousarray(plane)).histogram(), dtype=np.int64)


def merge_stats(
    parts: Sequence[dict[str, Any]], percentiles: Sequence[float] = ()
) -> dict[str, Any]:
    """Whole-image min, max, mean and std per channel (and exact percentiles from histograms).

    A block may hold only some channels (a store chunked one channel at a time); its
    ``first`` key says which channel its lists start at.
    """
    by_channel: dict[int, list[dict[str, Any]]] = {}
    for part in parts:
        first = int(part.get("first", 0))
        lists = {k: v for k, v in part.items() if k != "first"}
        for i in range(len(next(iter(lists.values())))):
            by_channel.setdefault(first + i, []).append({k: v[i] for k, v in lists.items()})
    merged: dict[str, Any] = {"min": [], "max": [], "mean": [], "std": []}
    if percentiles and all("hist" in p for p in parts):
        merged["percentiles"] = {f"{p:g}": [] for p in percentiles}
    for channel in sorted(by_channel):
        one = _merge_channel(by_channel[channel], percentiles if "percentiles" in merged else ())
        for key in ("min", "max", "mean", "std"):
            merged[key].append(one[key])
        for key, value in one.get("percentiles", {}).items():
            merged["percentiles"][key].append(value)
    return merged if by_channel else {}


def _merge_channel(parts: Sequence[dict[str, Any]], percentiles: Sequence[float]) -> dict[str, Any]:
    """One channel's statistics from its blocks: histograms, or moments."""
    if "hist" not in parts[0]:
        count = sum(p["count"] for p in parts)
        mean = sum(p["sum"] for p in parts) / count
        variance = max(sum(p["sumsq"] for p in parts) / count - mean**2, 0.0)
        return {
            "min": min(p["min"] for p in parts),
            "max": max(p["max"] for p in parts),
            "mean": mean,
            "std": variance**0.5,
        }
    values = np.concatenate([np.asarray(p["hist"][0], dtype=np.int64) for p in parts])
    counts = np.concatenate([np.asarray(p["hist"][1], dtype=np.int64) for p in parts])
    unique, where = np.unique(values, return_inverse=True)
    totals = np.bincount(where, weights=counts).astype(np.int64)
    n = int(totals.sum())
    mean = float(np.dot(unique.astype(np.float64), totals) / n)
    cumulative = np.cumsum(totals)
    return {
        "min": float(unique[0]),
        "max": float(unique[-1]),
        "mean": mean,
        "std": float(np.dot((unique - mean) ** 2, totals) / n) ** 0.5,
        "percentiles": {
            f"{p:g}": _percentile_from_counts(unique, cumulative, n, p) for p in percentiles
        },
    }


def _percentile_from_counts(
    values: np.ndarray, cumulative: np.ndarray, n: int, percentile: float
) -> float:
    """``np.percentile(data, percentile)`` (linear interpolation) from a sorted histogram."""
    rank = percentile / 100 * (n - 1)
    low, frac = int(np.floor(rank)), rank - np.floor(rank)
    below = values[np.searchsorted(cumulative, low, side="right")]
    above = values[np.searchsorted(cumulative, min(low + 1, n - 1), side="right")]
    return float(below + (above - below) * frac)


def _ignore(_: int) -> None:
    """Default progress callback."""


@dataclass
class PyramidWriter:
    """Writes one image (or label image) and its pyramid into prepared zarr arrays.

    :param name: journal key prefix (``"image"``, ``"labels/mask"``).
    :param read: the input's ``read(region)`` at full resolution.
    :param arrays: one writable zarr array per level, shaped as the plan says.
    :param method: ``"mean"`` for intensities, ``"nearest"`` for labels.
    :param journal: where finished blocks are logged and looked up.
    :param workers: threads reading, downsampling and writing blocks.
    :param budget: bytes per block at a pass's source level.
    :param channel_axis: index of ``c`` for per-channel statistics, if any.
    """

    name: str
    plan: PyramidPlan
    read: Callable[[Region], np.ndarray]
    arrays: Sequence[Any]
    method: Downsampling
    journal: Journal
    workers: int = 4
    budget: int = DEFAULT_BLOCK_BYTES
    channel_axis: int | None = None
    itemsize: int = 1

    def passes(self) -> list[tuple[int, int]]:
        """The passes this writer makes."""
        return plan_passes(self.plan, self.itemsize, self.budget)

    def total_blocks(self) -> int:
        """Blocks over all passes."""
        return count_blocks(self.plan, self.passes())

    def run(
        self, on_block: Callable[[int], None] | None = None, percentiles: Sequence[float] = ()
    ) -> dict[str, Any]:
        """Write every pass; return level-0 statistics, or the values present in labels."""
        on_block = on_block or _ignore
        for number, (source, last) in enumerate(self.passes()):
            reader = self.read if source == 0 else self._level_reader(source)
            regions = block_regions(self.plan.shapes[source], _block_shape(self.plan, source, last))
            jobs = (
                (f"{self.name}/pass{number}/{index}", region, source, last, reader)
                for index, region in enumerate(regions)
            )
            self._run_jobs(jobs, on_block)
        first_pass = [
            info for key, info in self.journal.items() if key.startswith(f"{self.name}/pass0/")
        ]
        if self.method != "mean":
            values = set().union(*(info.get("values", []) for info in first_pass))
            return {"values": sorted(int(v) for v in values)}
        return merge_stats([info["stats"] for info in first_pass if "stats" in info], percentiles)

    def _level_reader(self, level: int) -> Callable[[Region], np.ndarray]:
        array = self.arrays[level]
        return lambda region: np.asarray(array[region])

    def _run_jobs(
        self,
        jobs: Iterator[tuple[str, Region, int, int, Callable[[Region], np.ndarray]]],
        on_block: Callable[[int], None],
    ) -> None:
        limit = max(1, self.workers) * 2  # blocks in flight bound the memory
        with ThreadPoolExecutor(max_workers=max(1, self.workers)) as pool:
            pending: set[Future[None]] = set()
            try:
                for key, region, source, last, reader in jobs:
                    if key in self.journal:
                        on_block(1)
                        continue
                    pending.add(pool.submit(self._write_block, key, region, source, last, reader))
                    if len(pending) >= limit:
                        pending = self._collect(pending, on_block, FIRST_COMPLETED)
                self._collect(pending, on_block, "ALL_COMPLETED")
            except BaseException:
                for future in pending:
                    future.cancel()
                raise

    @staticmethod
    def _collect(
        pending: set[Future[None]], on_block: Callable[[int], None], when: str
    ) -> set[Future[None]]:
        done, rest = wait(pending, return_when=when)
        for future in done:
            future.result()  # re-raise a worker's error here
            on_block(1)
        return rest

    def _write_block(
        self,
        key: str,
        region: Region,
        source: int,
        last: int,
        reader: Callable[[Region], np.ndarray],
    ) -> None:
        data = np.asarray(reader(region))
        expected = tuple(s.stop - s.start for s in region)
        if data.shape != expected:
            raise ValueError(f"reader returned shape {data.shape} for a region of {expected}")
        info: dict[str, Any] = {}
        if source == 0:
            self.arrays[0][region] = data
            if self.method == "mean":
                first = region[self.channel_axis].start if self.channel_axis is not None else 0
                info["stats"] = block_stats(data, self.channel_axis, first)
            else:
                info["values"] = np.unique(data).tolist()
        for level in range(source + 1, last + 1):
            data = downsample(data, self.plan.factors[level - 1], self.method)
            factor = self.plan.factor_between(source, level)
            start = [s.start // f for s, f in zip(region, factor, strict=True)]
            target = tuple(slice(b, b + n) for b, n in zip(start, data.shape, strict=True))
            self.arrays[level][target] = data
        self.journal.record(key, info)
