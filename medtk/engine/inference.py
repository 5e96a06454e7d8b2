"""Tiled (sliding-window) inference over 2D and 3D images, out of core, on dask.

A model that maps ``(N, C_in, *tile)`` to ``(N, C_out, *tile)`` is run on overlapping
tiles of an image far larger than memory; the tiles' predictions are merged by a weighted
mean (see :mod:`medtk.engine.blending`) and written chunk by chunk into a new store.

The tile grid is MONAI's: along each axis tiles start every ``stride = tile − overlap``
pixels, and the last tile is moved back so that it ends at the image border (no padding
of the image). Only an axis shorter than the tile is padded, with zeros, evenly on both
sides, and the padding is cut off again.

The work runs in two kinds of dask tasks, and each tile's network forward runs once:

1. **Tile groups.** The tile grid is cut into fixed groups of neighbouring tiles (about
   1024² pixels in 2D, 2 M voxels in 3D). A group task reads only the input region its
   tiles cover, runs them in batches, and adds each tile's weighted prediction ``w·y``
   into a float32 sum over that region, tile after tile in grid order. The sum goes to a
   scratch array inside the output being written.
2. **Output blocks.** A block is one chunk of the output. Its task adds the sums of the
   groups that overlap it (in group order), divides by the sum of the weights of the
   tiles that cover it (in tile order), and writes probabilities and/or labels.

Because groups and batches depend only on the tile grid, never on the block size, the
number of workers or the scheduler, every output pixel is the same sequence of float32
operations on the same network outputs: the output is bitwise identical with threads, a
dask.distributed cluster, one worker or eight, and any output chunk size.

The output is written aside as ``.NAME.partial`` with a journal of finished tasks and
renamed into place when complete (see :mod:`medtk.atomic`); an interrupted run (Ctrl-C,
SIGTERM) keeps it, and the same call resumes it. A run that fails removes it.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import itertools
import json
import math
import os
import shutil
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from medtk import __version__
from medtk.atomic import check_new_output, replace_path
from medtk.engine.blending import BLENDINGS, blending_weights
from medtk.errors import BadInputError
from medtk.io.ingest import Progress, partial_path
from medtk.io.journal import Journal, kept_if_interrupted

if TYPE_CHECKING:
    import torch
    import zarr

    from medtk.io.store import Store

__all__ = [
    "OUTPUTS",
    "InferenceOptions",
    "InferenceResult",
    "TileGrid",
    "TilingError",
    "infer",
    "progress_bar",
]

#: What :func:`infer` can write: blended scores, their argmax, or both.
OUTPUTS = ("probabilities", "labels", "both")
#: Activations applied to each tile's output before blending.
ACTIVATIONS = (None, "softmax", "sigmoid")
#: A tile group covers at most about this many pixels (2D) or voxels (3D).
GROUP_PIXELS = {2: 1 << 20, 3: 1 << 21}
#: Chunk edge of the scratch sums (2D, 3D): small enough that a block reads little extra.
SCRATCH_CHUNK = {2: 256, 3: 64}
SCRATCH = ".medtk-tile-sums"
JOURNAL = ".medtk-journal.jsonl"


class TilingError(BadInputError, ValueError):
    """A tiled-inference input or option that cannot work (exit 2; also a ``ValueError``)."""


@dataclass
class InferenceOptions:
    """How to tile, blend, run and write; every field has a default.

    :param tile: tile size, one int for every spatial axis or one per axis (``z, y, x``).
    :param overlap: overlap of neighbouring tiles: a float in [0, 1) is a fraction of the
        tile (stride ``int(tile·(1 − overlap))``, as MONAI), an int is pixels.
    :param blending: ``constant``, ``gaussian`` (σ = tile/8) or ``pyramidal``.
    :param batch_size: tiles per forward pass.
    :param output: ``probabilities`` (float32, one channel per model output), ``labels``
        (argmax as uint8; ``≥ 0.5`` for a one-channel model) or ``both``.
    :param activation: ``softmax`` or ``sigmoid`` applied to each tile's output before
        blending, for a model that returns logits; ``None`` blends what the model returns.
    :param device: ``cpu``, ``cuda``, ``cuda:N``, ``mps`` or ``auto``.
    :param precision: ``32``, or autocast in ``16`` (CUDA), ``bf16`` or ``auto``.
    :param channels_last: run the model in channels-last memory format (``NHWC``, or
        ``NDHWC`` in 3D): about 1.6 times faster for U-Nets on CPUs, and what tensor
        cores prefer. ``None``: on.
    :param workers: local threads running tasks; 0: one per core on the CPU, 2 on a GPU.
    :param torch_threads: torch's intra-op threads per task; 0: one on the CPU (local
        threads, synchronous or a cluster alike: the thread count changes a convolution's
        rounding, so equal counts keep outputs bitwise equal), torch's default on a GPU.
    :param chunks: spatial chunk shape of the output, which is also the block each task
        writes; ``None``: 1024² in 2D, 32 × 256² in 3D (as stores are chunked).
    :param label_name: name of the label image when ``output="both"``.
    :param group_pixels: most pixels (voxels) the tiles of one group task cover; 0: about
        1024² in 2D and 2 M voxels in 3D. Part of the result's arithmetic (like the
        batch size): outputs are bitwise equal only for equal values.
    :param overwrite: replace an existing output once the new one is complete.
    """

    tile: int | Sequence[int] = 256
    overlap: float | int | Sequence[float | int] = 0.25
    blending: str = "gaussian"
    batch_size: int = 4
    output: str = "probabilities"
    activation: str | None = None
    device: str = "cpu"
    precision: str = "32"
    channels_last: bool | None = None
    workers: int = 0
    torch_threads: int = 0
    chunks: Sequence[int] | None = None
    label_name: str = "prediction"
    group_pixels: int = 0
    overwrite: bool = False


@dataclass
class InferenceResult:
    """What :func:`infer` made.

    ``max_task_elements`` is the most array elements one task held (input region, sums,
    the batch in and out): the memory bound, independent of the image's size.
    """

    path: Path
    shape: tuple[int, ...]
    classes: int
    tiles: int
    groups: int
    blocks: int
    resumed: int
    max_task_elements: int = 0
    grid: TileGrid | None = field(default=None, repr=False)


# --------------------------------------------------------------------------------------
# Geometry: boxes are ((lo, hi), …) per spatial axis, in padded coordinates

Box = tuple[tuple[int, int], ...]


def axis_starts(size: int, tile: int, stride: int) -> tuple[int, ...]:
    """Tile starts along one axis: every ``stride``, the last one moved back to end at
    ``size`` (as MONAI's ``dense_patch_slices``); one tile when ``size <= tile``."""
    if size <= tile:
        return (0,)
    count = math.ceil((size - tile) / stride) + 1
    return tuple(min(i * stride, size - tile) for i in range(count))


def _balanced_bounds(count: int, most: int) -> tuple[int, ...]:
    """Cut ``count`` items into as few runs of at most ``most`` as possible, sizes within 1."""
    runs = math.ceil(count / most)
    return tuple(round(i * count / runs) for i in range(runs + 1))


def _meet(a: Box, b: Box) -> Box:
    return tuple((max(a0, b0), min(a1, b1)) for (a0, a1), (b0, b1) in zip(a, b, strict=True))


def _within(box: Box, origin: Box) -> tuple[slice, ...]:
    """``box`` as slices of an array that covers ``origin``."""
    return tuple(slice(a - o, b - o) for (a, b), (o, _) in zip(box, origin, strict=True))


@dataclass(frozen=True)
class TileGrid:
    """Where the tiles lie over one image, and how they are grouped.

    Coordinates are *padded*: an axis shorter than its tile is padded to the tile, with
    ``offset`` pixels before the image; every other axis has offset 0.
    """

    shape: tuple[int, ...]
    tile: tuple[int, ...]
    stride: tuple[int, ...]
    #: Most pixels (voxels) a group of tiles may cover; 0: :data:`GROUP_PIXELS`.
    group_pixels: int = 0

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def padded(self) -> tuple[int, ...]:
        return tuple(max(s, t) for s, t in zip(self.shape, self.tile, strict=True))

    @property
    def offset(self) -> tuple[int, ...]:
        return tuple((p - s) // 2 for p, s in zip(self.padded, self.shape, strict=True))

    @functools.cached_property
    def starts(self) -> tuple[tuple[int, ...], ...]:
        """Tile starts along each axis."""
        sizes = zip(self.padded, self.tile, self.stride, strict=True)
        return tuple(axis_starts(p, t, s) for p, t, s in sizes)

    @property
    def counts(self) -> tuple[int, ...]:
        """Tiles along each axis."""
        return tuple(len(s) for s in self.starts)

    @property
    def tiles(self) -> int:
        return math.prod(self.counts)

    def tile_box(self, index: Sequence[int]) -> Box:
        return tuple(
            (self.starts[a][k], self.starts[a][k] + self.tile[a]) for a, k in enumerate(index)
        )

    def tiles_over(self, box: Box) -> list[tuple[int, ...]]:
        """The tiles that overlap ``box``, in grid (C) order."""
        ranges = []
        for axis, (lo, hi) in enumerate(box):
            starts = np.asarray(self.starts[axis])
            first = int(np.searchsorted(starts, lo - self.tile[axis], side="right"))
            ranges.append(range(first, int(np.searchsorted(starts, hi, side="left"))))
        return list(itertools.product(*ranges))

    @functools.cached_property
    def group_bounds(self) -> tuple[tuple[int, ...], ...]:
        """Tile-index bounds of the groups along each axis: a fixed function of the grid.

        Groups grow along the axis where they are thinnest while they cover at most
        ``group_pixels``; the tiles of an axis are then shared out evenly.
        """
        budget = self.group_pixels or GROUP_PIXELS[self.ndim]
        most = [1] * self.ndim
        while True:
            for axis in sorted(range(self.ndim), key=lambda a: (self._span(a, most[a]), -a)):
                trial = [m + (a == axis) for a, m in enumerate(most)]
                if most[axis] < self.counts[axis] and (
                    math.prod(self._span(a, n) for a, n in enumerate(trial)) <= budget
                ):
                    most = trial
                    break
            else:
                break
        return tuple(_balanced_bounds(n, m) for n, m in zip(self.counts, most, strict=True))

    def _span(self, axis: int, tiles: int) -> int:
        return min(self.padded[axis], (tiles - 1) * self.stride[axis] + self.tile[axis])

    @property
    def group_counts(self) -> tuple[int, ...]:
        """Groups along each axis."""
        return tuple(len(b) - 1 for b in self.group_bounds)

    @property
    def groups(self) -> int:
        return math.prod(self.group_counts)

    def group_tiles(self, index: Sequence[int]) -> list[tuple[int, ...]]:
        """A group's tiles in grid order: the order they are run, batched and added."""
        bounds = self.group_bounds
        return list(
            itertools.product(*(range(bounds[a][j], bounds[a][j + 1]) for a, j in enumerate(index)))
        )

    def group_box(self, index: Sequence[int]) -> Box:
        """The region a group's tiles cover."""
        bounds = self.group_bounds
        return tuple(
            (self.starts[a][bounds[a][j]], self.starts[a][bounds[a][j + 1] - 1] + self.tile[a])
            for a, j in enumerate(index)
        )

    def groups_over(self, box: Box) -> list[tuple[int, ...]]:
        """The groups whose region overlaps ``box``, in grid (C) order."""
        ranges = []
        for axis, (lo, hi) in enumerate(box):
            spans = [
                self.group_box([j if a == axis else 0 for a in range(self.ndim)])[axis]
                for j in range(self.group_counts[axis])
            ]
            ranges.append([j for j, (a, b) in enumerate(spans) if a < hi and b > lo])
        return list(itertools.product(*ranges))

    @property
    def largest_group(self) -> tuple[int, ...]:
        """The largest group region along each axis (the scratch array's chunk of sums)."""
        return tuple(
            max(
                b - a
                for a, b in (
                    self.group_box([j if x == axis else 0 for x in range(self.ndim)])[axis]
                    for j in range(self.group_counts[axis])
                )
            )
            for axis in range(self.ndim)
        )


def _resolve_tile(tile: int | Sequence[int], ndim: int) -> tuple[int, ...]:
    sizes = (tile,) * ndim if isinstance(tile, int) else tuple(tile)
    if len(sizes) != ndim or not all(isinstance(n, int | np.integer) and n > 0 for n in sizes):
        raise TilingError(
            f"tile {tile!r}: give one positive size, or one per spatial axis ({ndim})"
        )
    return tuple(int(n) for n in sizes)


def _resolve_stride(tile: tuple[int, ...], overlap: float | Sequence[float]) -> tuple[int, ...]:
    values = tuple(overlap) if isinstance(overlap, Sequence) else (overlap,) * len(tile)
    if len(values) != len(tile):
        raise TilingError(f"overlap {overlap!r}: give one value, or one per spatial axis")
    strides = []
    for size, value in zip(tile, values, strict=True):
        if isinstance(value, bool) or not isinstance(value, int | float | np.number):
            raise TilingError(f"overlap {value!r} is neither a fraction nor pixels")
        if isinstance(value, int | np.integer):
            if not 0 <= value < size:
                raise TilingError(
                    f"an overlap of {value} pixels must be at least 0 and less than the "
                    f"tile ({size})"
                )
            strides.append(size - int(value))
        elif 0.0 <= value < 1.0:
            strides.append(max(1, int(size * (1.0 - value))))
        else:
            raise TilingError(f"overlap {value} must be a fraction in [0, 1), or pixels as an int")
    return tuple(strides)


# --------------------------------------------------------------------------------------
# Input


@dataclass
class _Input:
    """The image to predict, with what the output store needs to know about it."""

    array: Any
    channels: int
    has_channels: bool
    spatial_axes: tuple[str, ...]
    shape: tuple[int, ...]
    scale: tuple[float, ...]
    unit: str
    name: str
    identity: dict[str, Any]
    metadata: dict[str, Any]

    @property
    def axes(self) -> str:
        return "".join(("c", *self.spatial_axes) if self.has_channels else self.spatial_axes)

    @property
    def full_shape(self) -> tuple[int, ...]:
        return (self.channels, *self.shape) if self.has_channels else self.shape


def _open_input(source: Any, level: int, tile: int | Sequence[int]) -> _Input:
    """A store (object or path) or a zarr, dask or numpy array, described for tiling."""
    from medtk.io.store import Store

    if isinstance(source, str | os.PathLike):
        source = Store.open(Path(source))
    if isinstance(source, Store):
        return _store_input(source, level)
    if not hasattr(source, "shape") or not hasattr(source, "dtype"):
        raise TilingError(
            f"cannot predict on a {type(source).__name__}: give a store, a store path, "
            "or a zarr, dask or numpy array"
        )
    shape = tuple(int(n) for n in source.shape)
    path = getattr(source, "store_path", None)
    return _described(
        source,
        axes=_array_axes(source, shape, tile),
        shape=shape,
        scale=None,
        unit="",
        name=str(path).rstrip("/").rsplit("/", 1)[-1] if path is not None else "array",
        identity=(
            {"zarr": str(path), "shape": list(shape), "dtype": str(source.dtype)}
            if path is not None
            else {"token": _tokenize(source)}
        ),
        metadata={},
    )


def _array_axes(array: Any, shape: tuple[int, ...], tile: int | Sequence[int]) -> tuple[str, ...]:
    """Axis names: a zarr array's dimension names, else guessed from the tile and the shape."""
    names = getattr(getattr(array, "metadata", None), "dimension_names", None) or ()
    if names and all(isinstance(n, str) for n in names) and set(names) <= set("tczyx"):
        return tuple(names)
    if not isinstance(tile, int):
        spatial = ("z", "y", "x")[-len(tile) :] if len(tile) in (2, 3) else ()
        if len(shape) in (len(spatial), len(spatial) + 1) and spatial:
            return spatial if len(shape) == len(spatial) else ("c", *spatial)
        raise TilingError(
            f"an array of shape {shape} does not fit a tile of {len(tile)} axes; "
            "give (c,) y, x or (c,) z, y, x"
        )
    if len(shape) == 2:
        return ("y", "x")
    if len(shape) == 4:
        return ("c", "z", "y", "x")
    raise TilingError(
        f"an array of shape {shape} may be (c, y, x) or (z, y, x): give the tile as a pair "
        "(y, x) or a triple (z, y, x)"
    )


def _store_input(store: Store, level: int) -> _Input:
    if not 0 <= level < len(store.levels):
        raise TilingError(
            f"store {str(store.path)!r} has levels 0 to {len(store.levels) - 1}, not {level}"
        )
    found = store.levels[level]
    where = {"store": str(store.path.resolve()), "level": level}
    return _described(
        store.array(level),
        axes=store.axes,
        shape=found.shape,
        scale=found.scale,
        unit=store.unit,
        name=store.path.name,
        identity={
            **where,
            "shape": list(found.shape),
            "dtype": found.dtype,
            "created": store.medtk.get("created"),
            "sha256": store.medtk.get("source", {}).get("sha256"),
        },
        metadata={
            "derived_from": where,
            **({"subject": store.medtk["subject"]} if "subject" in store.medtk else {}),
        },
    )


def _described(
    array: Any,
    *,
    axes: Sequence[str],
    shape: tuple[int, ...],
    scale: Sequence[float] | None,
    unit: str,
    name: str,
    identity: dict[str, Any],
    metadata: dict[str, Any],
) -> _Input:
    axes = tuple(axes)
    if "t" in axes:
        raise TilingError(f"axes {''.join(axes)}: tiled inference takes one image; pick one t")
    if len(axes) != len(shape) or axes.count("c") > 1 or ("c" in axes and axes[0] != "c"):
        raise TilingError(f"axes {''.join(axes)} do not fit shape {shape}; channels go first")
    spatial = tuple(a for a in axes if a != "c")
    if len(spatial) not in (2, 3):
        raise TilingError(f"tiled inference works on 2D or 3D images, not axes {''.join(axes)}")
    has_channels = "c" in axes
    return _Input(
        array=array,
        channels=shape[0] if has_channels else 1,
        has_channels=has_channels,
        spatial_axes=spatial,
        shape=tuple(shape[1:] if has_channels else shape),
        scale=(
            tuple(float(s) for a, s in zip(axes, scale, strict=True) if a != "c")
            if scale is not None
            else (1.0,) * len(spatial)
        ),
        unit=unit,
        name=name,
        identity=identity,
        metadata=metadata,
    )


def _tokenize(array: Any) -> str:
    from dask.base import tokenize

    return tokenize(array)


# --------------------------------------------------------------------------------------
# The work: one picklable runner that dask ships to each worker once


class _Runner:
    """Everything a task needs: the model, the grid, the weights, the arrays.

    It is a single key of the dask graph, so a distributed cluster pickles it once per
    worker, with the model (whose class must be importable there). Each process prepares
    its own copy of the model on the device, once, and its threads share it.
    """

    def __init__(
        self,
        *,
        model: torch.nn.Module,
        image: _Input,
        grid: TileGrid,
        options: InferenceOptions,
        block: tuple[int, ...],
    ) -> None:
        self.model = model
        self.array = image.array
        self.has_channels = image.has_channels
        self.grid = grid
        self.options = options
        self.block = block
        self.classes = 0
        self.sums: zarr.Array | None = None
        self.probabilities: zarr.Array | None = None
        self.labels: zarr.Array | None = None
        self.weights = blending_weights(grid.tile, options.blending)
        self.channels_last = options.channels_last is not False
        self._setup()

    def _setup(self) -> None:
        self._lock = threading.Lock()
        self._prepared: dict[str, tuple[Any, Any, Any, Any]] = {}

    def __getstate__(self) -> dict[str, Any]:
        state = {k: v for k, v in self.__dict__.items() if k not in ("_lock", "_prepared")}
        if any(p.device.type != "cpu" for p in self.model.parameters()):
            state["model"] = copy.deepcopy(self.model).cpu()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._setup()

    # model -------------------------------------------------------------------------

    def prepared(self, device_name: str | None = None) -> tuple[Any, Any, Any, Any]:
        """``(model, device, weights, autocast dtype)`` on ``device_name`` (default: the
        option's), made once per process: an eval-mode copy without gradients."""
        name = device_name or self.options.device
        with self._lock:
            if name not in self._prepared:
                import torch

                from medtk.engine.device import autocast_dtype, resolve_device

                device = resolve_device(name)
                if self.options.torch_threads and device.type == "cpu":
                    torch.set_num_threads(self.options.torch_threads)
                model = copy.deepcopy(self.model).eval().to(device)
                for parameter in model.parameters():
                    parameter.requires_grad_(False)
                if self.channels_last:
                    model = _channels_last(model, self._memory_format())
                weights = torch.from_numpy(self.weights).to(device)
                amp = autocast_dtype(self.options.precision, device)
                self._prepared[name] = (model, device, weights, amp)
            return self._prepared[name]

    def _memory_format(self) -> torch.memory_format:
        import torch

        return torch.channels_last if self.grid.ndim == 2 else torch.channels_last_3d

    def forward(self, batch: np.ndarray, device_name: str | None = None) -> torch.Tensor:
        """The model on a batch of tiles: float32 ``(N, C_out, *tile)`` on the device."""
        import torch

        model, device, _, amp = self.prepared(device_name)
        x = torch.from_numpy(batch)
        if device.type == "cuda":
            x = x.pin_memory()
        x = x.to(device, non_blocking=True)
        if self.channels_last:
            x = x.contiguous(memory_format=self._memory_format())
        with torch.inference_mode():
            if amp is None:
                y = model(x)
            else:
                with torch.autocast(device_type=device.type, dtype=amp):
                    y = model(x)
            self._check(y, batch.shape)
            y = y.float()
            if self.options.activation == "softmax":
                y = torch.softmax(y, dim=1)
            elif self.options.activation == "sigmoid":
                y = torch.sigmoid(y)
        return y

    def _check(self, y: Any, shape: Sequence[int]) -> None:
        """Refuse a model output that is not ``(N, C_out, *tile)`` for an input of ``shape``."""
        import torch

        if not isinstance(y, torch.Tensor):
            raise TilingError(
                f"the model returned a {type(y).__name__}; tiled inference needs a tensor"
            )
        if y.ndim != len(shape) or (y.shape[0], *y.shape[2:]) != (shape[0], *self.grid.tile):
            raise TilingError(
                f"the model maps tiles of shape {tuple(shape)} to {tuple(y.shape)}; "
                f"tiled inference needs (N, C_out, {', '.join(map(str, self.grid.tile))}), "
                "the same spatial size"
            )

    def read(self, box: Box) -> np.ndarray:
        """The input over ``box`` (padded coordinates): float32, channels first, zero padded."""
        inner = _meet(
            box, tuple((o, o + n) for o, n in zip(self.grid.offset, self.grid.shape, strict=True))
        )
        region = tuple(
            slice(a - o, b - o) for (a, b), o in zip(inner, self.grid.offset, strict=True)
        )
        part = self.array[(slice(None), *region) if self.has_channels else region]
        if hasattr(part, "compute"):  # a lazy dask array: computed on this task's thread
            part = part.compute(scheduler="synchronous")
        data = np.asarray(part, dtype=np.float32)
        if not self.has_channels:
            data = data[np.newaxis]
        pads = [(a - lo, hi - b) for (lo, hi), (a, b) in zip(box, inner, strict=True)]
        if any(n for pair in pads for n in pair):
            data = np.pad(data, [(0, 0), *pads])
        return data

    # tasks -------------------------------------------------------------------------

    def run_group(self, flat: int) -> int:
        """Run one group's tiles and store the sum of their weighted predictions.

        :returns: how many array elements the task held at its peak.
        """
        import torch

        index = tuple(int(i) for i in np.unravel_index(flat, self.grid.group_counts))
        box = self.grid.group_box(index)
        data = self.read(box)
        _, device, weights, _ = self.prepared()
        tiles = self.grid.group_tiles(index)
        size = self.options.batch_size
        batch_peak = 0
        with torch.inference_mode():
            total = torch.zeros((self.classes, *data.shape[1:]), dtype=torch.float32, device=device)
            for first in range(0, len(tiles), size):
                where = [
                    (slice(None), *_within(self.grid.tile_box(t), box))
                    for t in tiles[first : first + size]
                ]
                batch = np.stack([data[w] for w in where])
                out = self.forward(batch)
                for w, prediction in zip(where, out, strict=True):
                    total[w] += prediction * weights
                batch_peak = max(batch_peak, batch.size + out.numel())
            sums = total.cpu().numpy()
        self.sums[(flat, slice(None), *(slice(0, n) for n in sums.shape[1:]))] = sums
        return data.size + 2 * sums.size + batch_peak

    def write_block(self, flat: int) -> int:
        """Blend one output block from the groups' sums and write it.

        :returns: how many array elements the task held at its peak.
        """
        index = np.unravel_index(flat, self.block_counts)
        box = self.block_box(index)
        size = tuple(b - a for a, b in box)
        total = np.zeros((self.classes, *size), dtype=np.float32)
        part_peak = 0
        for group in self.grid.groups_over(box):
            region = self.grid.group_box(group)
            inner = _meet(box, region)
            g = int(np.ravel_multi_index(group, self.grid.group_counts))
            part = self.sums[(g, slice(None), *_within(inner, region))]
            total[(slice(None), *_within(inner, box))] += part
            part_peak = max(part_peak, part.size)
        weight = np.zeros(size, dtype=np.float32)
        for tile in self.grid.tiles_over(box):
            region = self.grid.tile_box(tile)
            inner = _meet(box, region)
            weight[_within(inner, box)] += self.weights[_within(inner, region)]
        blended = total / weight
        where = tuple(slice(a - o, b - o) for (a, b), o in zip(box, self.grid.offset, strict=True))
        if self.probabilities is not None:
            self.probabilities[(slice(None), *where)] = blended
        if self.labels is not None:
            labels = blended[0] >= 0.5 if self.classes == 1 else np.argmax(blended, axis=0)
            self.labels[where] = labels.astype(self.labels.dtype)
        return 2 * total.size + weight.size + part_peak

    # geometry of the blocks ---------------------------------------------------------

    @property
    def block_counts(self) -> tuple[int, ...]:
        return tuple(math.ceil(n / b) for n, b in zip(self.grid.shape, self.block, strict=True))

    def block_box(self, index: Sequence[int]) -> Box:
        """A block in padded coordinates: one output chunk."""
        return tuple(
            (i * b + o, min((i + 1) * b, n) + o)
            for i, b, n, o in zip(index, self.block, self.grid.shape, self.grid.offset, strict=True)
        )

    def block_groups(self, flat: int) -> list[int]:
        """Flat indices of the groups whose sums a block reads."""
        box = self.block_box(np.unravel_index(flat, self.block_counts))
        return [
            int(np.ravel_multi_index(g, self.grid.group_counts)) for g in self.grid.groups_over(box)
        ]


def _run_group(runner: _Runner, flat: int) -> int:
    return runner.run_group(flat)


def _write_block(runner: _Runner, flat: int, _groups: list[int]) -> int:
    """``_groups``: the results of the group tasks it waits for (unused)."""
    return runner.write_block(flat)


# --------------------------------------------------------------------------------------
# The driver


def infer(
    source: Any,
    model: torch.nn.Module,
    out: Path | str,
    options: InferenceOptions | None = None,
    *,
    level: int = 0,
    scheduler: Any = None,
    progress: Progress | bool | None = None,
    **overrides: Any,
) -> InferenceResult:
    """Predict ``source`` tile by tile with ``model`` and write the result as the store ``out``.

    :param source: a :class:`~medtk.io.store.Store` or a store's path (level ``level``),
        or a zarr, dask or numpy array shaped ``(c,) y, x`` or ``(c,) z, y, x``.
    :param model: a module mapping ``(N, C_in, *tile)`` to ``(N, C_out, *tile)``.
    :param out: the store to create (``NAME.zarr``).
    :param options: tiling, blending and running options; keyword ``overrides`` replace
        single fields (``infer(src, model, out, tile=128, overlap=0.5)``).
    :param scheduler: ``None`` or ``"threads"`` (local threads), ``"synchronous"``, a
        dask.distributed scheduler address (``"tcp://host:8786"``) or a ``Client``.
        Workers must see ``source`` and ``out`` at the same paths (a shared file system).
    :param progress: callbacks over the tasks (``start``, ``advance``), or ``True`` for a
        rich progress bar on stderr.
    """
    options = replace(options or InferenceOptions(), **overrides)
    if progress is True:
        with progress_bar() as bar:
            return infer(
                source, model, out, options, level=level, scheduler=scheduler, progress=bar
            )
    progress = progress or Progress()
    _check_options(options)
    out = Path(out)
    check_new_output(out, overwrite=options.overwrite, directory=True)
    image = _open_input(source, level, options.tile)
    tile = _resolve_tile(options.tile, len(image.shape))
    grid = TileGrid(image.shape, tile, _resolve_stride(tile, options.overlap), options.group_pixels)
    block = _resolve_chunks(options.chunks, image)
    local = check_scheduler(scheduler)
    runner = _Runner(
        model=model,
        image=image,
        grid=grid,
        # local runs share the cores out once, in _local_threads; on a cluster each task
        # runs torch on one thread unless told otherwise, as local tasks do
        options=replace(options, torch_threads=0 if local else options.torch_threads or 1),
        block=block,
    )
    runner.classes = _probe(runner, model, image, options.device if local else "cpu")
    fingerprint = {
        "version": 1,
        "input": image.identity,
        "grid": {
            "shape": grid.shape,
            "tile": grid.tile,
            "stride": grid.stride,
            "groups": grid.group_bounds,
        },
        "chunks": block,
        "model": _weights_sha256(model),
        "classes": runner.classes,
        **{k: v for k, v in asdict(options).items() if k not in _NOT_IN_FINGERPRINT},
    }
    work = partial_path(out)
    if work.exists() and not _same_work(work / JOURNAL, fingerprint):
        shutil.rmtree(work)
    out.parent.mkdir(parents=True, exist_ok=True)
    journal = Journal(work / JOURNAL, fingerprint)
    with kept_if_interrupted(work, journal):
        _create_arrays(runner, image, work, options, resume=journal.resumed)
        result = _run(
            runner,
            journal=journal,
            name=image.name,
            scheduler=scheduler,
            options=options,
            progress=progress,
        )
        _write_attributes(
            work,
            runner=runner,
            image=image,
            options=options,
            model=model,
            weights=fingerprint["model"],
        )
        journal.close()
        (work / JOURNAL).unlink()
        shutil.rmtree(work / SCRATCH, ignore_errors=True)
        check_new_output(out, overwrite=options.overwrite, directory=True)
        replace_path(work, out)
    return replace(result, path=out)


#: Options the resume fingerprint leaves out: the grid and the chunks go in resolved, and
#: the rest change no output value.
_NOT_IN_FINGERPRINT = (
    "tile",
    "overlap",
    "chunks",
    "group_pixels",
    "workers",
    "torch_threads",
    "overwrite",
)


def _check_options(options: InferenceOptions) -> None:
    if options.blending not in BLENDINGS:
        raise TilingError(
            f"unknown blending {options.blending!r}; choose one of {', '.join(BLENDINGS)}"
        )
    if options.output not in OUTPUTS:
        raise TilingError(f"unknown output {options.output!r}; choose one of {', '.join(OUTPUTS)}")
    if options.activation not in ACTIVATIONS:
        raise TilingError(
            f"unknown activation {options.activation!r}; choose softmax, sigmoid or None"
        )
    if options.batch_size < 1 or options.workers < 0 or options.torch_threads < 0:
        raise TilingError("batch_size must be at least 1, workers and torch_threads at least 0")


def _channels_last(model: torch.nn.Module, memory_format: torch.memory_format) -> Any:
    """``model`` in ``memory_format``, or as it is when its weights have another rank (a 2D
    network applied slice by slice inside a volume's wrapper): the format is a speed-up,
    never a reason to fail."""
    try:
        return model.to(memory_format=memory_format)
    except RuntimeError:
        return model


def _connect(address: str, timeout: float = 10.0) -> Any:
    """A client of the dask.distributed scheduler at ``address``; one line if none answers."""
    from distributed import Client

    try:
        return Client(address, set_as_default=False, timeout=timeout)
    except (OSError, TimeoutError) as exc:
        raise TilingError(
            f"no dask scheduler answers at {address!r} within {timeout:g} s ({exc})"
        ) from None


def check_scheduler(scheduler: Any) -> bool:
    """True for a local scheduler; refuse what is neither local nor dask.distributed."""
    if scheduler is None or scheduler in ("threads", "synchronous"):
        return True
    if isinstance(scheduler, str) and ":" in scheduler:
        return False
    if type(scheduler).__name__ == "Client" and hasattr(scheduler, "get"):
        return False
    raise TilingError(
        f"scheduler {scheduler!r}: use threads, synchronous, a dask.distributed scheduler "
        "address (tcp://host:8786) or a distributed.Client"
    )


def _resolve_chunks(chunks: Sequence[int] | None, image: _Input) -> tuple[int, ...]:
    from medtk.io.store import default_chunks

    if chunks is None:
        return default_chunks(image.spatial_axes, image.shape)
    sizes = tuple(chunks)
    if len(sizes) != len(image.shape) or not all(isinstance(n, int) and n > 0 for n in sizes):
        raise TilingError(f"chunks {chunks!r}: give one positive size per spatial axis")
    return tuple(min(n, s) for n, s in zip(sizes, image.shape, strict=True))


def _probe(runner: _Runner, model: torch.nn.Module, image: _Input, device: str) -> int:
    """Run one blank tile to learn the model's output channels and refuse a misfit early.

    (A pass on the meta device would skip the compute, but loading torch's meta kernels
    for convolutions and interpolation takes seconds: more than one tile costs.)
    """
    batch = np.zeros((1, image.channels, *runner.grid.tile), dtype=np.float32)
    try:
        out = runner.forward(batch, device)
    except TilingError:
        raise
    except (RuntimeError, ValueError, TypeError) as exc:
        wanted = _model_in_channels(model)
        if wanted is not None and wanted != image.channels:
            raise TilingError(
                f"the model takes {wanted} input channels, but the image has "
                f"{image.channels} (axes {image.axes}, shape {image.full_shape})"
            ) from exc
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TilingError(f"the model fails on a tile of shape {batch.shape}: {first}") from exc
    return int(out.shape[1])


def _model_in_channels(model: torch.nn.Module) -> int | None:
    """``in_channels`` of the first module that states it (a hint for error messages)."""
    for module in model.modules():
        channels = getattr(module, "in_channels", None)
        if isinstance(channels, int):
            return channels
    return None


def _weights_sha256(model: torch.nn.Module) -> str:
    """A digest of the model's weights, so a resume never mixes two models' outputs."""
    import torch

    digest = hashlib.sha256()
    for name, value in model.state_dict().items():
        digest.update(name.encode())
        if isinstance(value, torch.Tensor):
            digest.update(f"{value.dtype}{tuple(value.shape)}".encode())
            flat = value.detach().cpu().contiguous().reshape(-1)
            digest.update(flat.view(torch.uint8).numpy().tobytes())
        else:
            digest.update(repr(value).encode())
    return digest.hexdigest()


def _same_work(journal: Path, fingerprint: dict[str, Any]) -> bool:
    """True when a partial output was started by the same work (input, model, options)."""
    try:
        header = json.loads(journal.read_text(encoding="utf-8").split("\n", 1)[0])
    except (OSError, ValueError):
        return False
    return header.get("fingerprint") == json.loads(json.dumps(fingerprint, sort_keys=True))


def _create_arrays(
    runner: _Runner, image: _Input, work: Path, options: InferenceOptions, *, resume: bool
) -> None:
    """The output arrays and the scratch sums inside ``work``; reopened when resuming."""
    import zarr

    from medtk.io.store import compressor

    grid = runner.grid
    classes = runner.classes
    root = zarr.open_group(str(work), mode="a", zarr_format=3)
    largest = grid.largest_group
    edge = SCRATCH_CHUNK[grid.ndim]
    runner.sums = _array(
        zarr.open_group(str(work / SCRATCH), mode="a", zarr_format=3),
        "sums",
        shape=(grid.groups, classes, *largest),
        chunks=(1, classes, *(min(n, edge) for n in largest)),
        dtype="float32",
        compressors=None,
        dims=None,
        resume=resume,
    )
    spatial = image.spatial_axes
    label_dtype = "uint8" if classes <= 256 else "uint16"
    if options.output in ("probabilities", "both"):
        runner.probabilities = _array(
            root,
            "0",
            shape=(classes, *grid.shape),
            chunks=(classes if classes <= 4 else 1, *runner.block),
            dtype="float32",
            compressors=compressor(),
            dims=("c", *spatial),
            resume=resume,
        )
    if options.output in ("labels", "both"):
        # labels alone are the image; beside probabilities they are a label image
        group = (
            root
            if options.output == "labels"
            else root.require_group("labels").require_group(options.label_name)
        )
        runner.labels = _array(
            group,
            "0",
            shape=grid.shape,
            chunks=runner.block,
            dtype=label_dtype,
            compressors=compressor(),
            dims=spatial,
            resume=resume,
        )


def _array(
    group: zarr.Group,
    name: str,
    *,
    shape: tuple[int, ...],
    chunks: tuple[int, ...],
    dtype: str,
    compressors: Any,
    dims: Sequence[str] | None,
    resume: bool,
) -> zarr.Array:
    if resume and name in group:
        array = group[name]
        if tuple(array.shape) == tuple(shape) and tuple(array.chunks) == tuple(chunks):
            return array
    return group.create_array(
        name,
        shape=shape,
        chunks=chunks,
        dtype=dtype,
        compressors=compressors,
        fill_value=0,
        dimension_names=tuple(dims) if dims is not None else None,
        overwrite=True,
    )


def _run(
    runner: _Runner,
    *,
    journal: Journal,
    name: str,
    scheduler: Any,
    options: InferenceOptions,
    progress: Progress,
) -> InferenceResult:
    """Run the group and block tasks not yet in the journal; record each as it finishes."""
    blocks_total = math.prod(runner.block_counts)
    groups_total = runner.grid.groups
    blocks = [b for b in range(blocks_total) if f"block/{b}" not in journal]
    depends = {b: runner.block_groups(b) for b in blocks}
    groups = sorted({g for b in blocks for g in depends[b] if f"tiles/{g}" not in journal})
    resumed = len(journal)
    progress.start(name, groups_total + blocks_total)
    progress.advance(groups_total + blocks_total - len(groups) - len(blocks))
    # a plain graph: the runner is one key (shipped once per worker), tasks refer to it
    token = uuid.uuid4().hex[:16]
    held = f"medtk-infer-runner-{token}"
    graph: dict[Any, Any] = {held: runner}
    names: dict[Any, str] = {}
    for g in groups:
        key = (f"medtk-infer-tiles-{token}", g)
        graph[key] = (_run_group, held, g)
        names[key] = f"tiles/{g}"
    for b in blocks:
        key = (f"medtk-infer-block-{token}", b)
        waits = [(f"medtk-infer-tiles-{token}", g) for g in depends[b] if g in groups]
        graph[key] = (_write_block, held, b, waits)
        names[key] = f"block/{b}"
    most = 0

    def done(key: Any, elements: int) -> None:
        nonlocal most
        journal.record(names[key])
        most = max(most, int(elements))
        progress.advance(1)

    _compute(graph, list(names), scheduler, options, done)
    return InferenceResult(
        path=Path(),
        shape=runner.grid.shape,
        classes=runner.classes,
        tiles=runner.grid.tiles,
        groups=groups_total,
        blocks=blocks_total,
        resumed=resumed,
        max_task_elements=most,
        grid=runner.grid,
    )


def _compute(
    graph: dict[Any, Any],
    keys: list[Any],
    scheduler: Any,
    options: InferenceOptions,
    done: Callable[[Any, int], None],
) -> None:
    """Run ``keys`` of ``graph`` on local threads or a dask.distributed cluster; ``done``
    hears of each task as it finishes, on the calling thread."""
    if not keys:
        return
    if scheduler is None or scheduler in ("threads", "synchronous"):
        from dask.callbacks import Callback

        wanted = set(keys)

        def posttask(key: Any, result: Any, *_: Any) -> None:
            if key in wanted:
                done(key, result)

        with (
            _local_threads(options, scheduler == "synchronous") as workers,
            Callback(posttask=posttask),
        ):
            if scheduler == "synchronous":
                from dask.local import get_sync

                get_sync(graph, keys)
            else:
                from dask.threaded import get

                get(graph, keys, num_workers=workers)
        return
    from distributed import Client, as_completed

    client = scheduler if isinstance(scheduler, Client) else _connect(scheduler)
    try:
        futures = client.get(graph, keys, sync=False)
        try:
            for future, elements in as_completed(futures, client.loop, with_results=True):
                done(future.key, elements)
        except BaseException:
            client.cancel(futures)
            raise
    finally:
        if client is not scheduler:
            client.close()


@contextmanager
def _local_threads(options: InferenceOptions, synchronous: bool) -> Iterator[int]:
    """Worker threads for a local run, and torch's intra-op threads set to share the cores."""
    import torch

    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows
        cores = os.cpu_count() or 1
    on_cpu = options.device.strip().lower() == "cpu" or (
        options.device == "auto" and not torch.cuda.is_available()
    )
    workers = 1 if synchronous else options.workers or (min(cores, 16) if on_cpu else 2)
    # One torch thread per task on the CPU whatever the number of workers: oneDNN splits a
    # convolution's sums by thread, so equal thread counts are what make every scheduler's
    # output bitwise equal.
    threads = options.torch_threads or (1 if on_cpu else 0)
    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield workers
    finally:
        torch.set_num_threads(previous)


def _write_attributes(
    work: Path,
    *,
    runner: _Runner,
    image: _Input,
    options: InferenceOptions,
    model: torch.nn.Module,
    weights: str,
) -> None:
    """The OME-Zarr and medtk attributes: the last write, so a store with them is complete."""
    import zarr

    from medtk.io.pyramid import PyramidPlan
    from medtk.io.store import STORE_VERSION, write_image_attributes, write_label_attributes

    grid = runner.grid
    classes = runner.classes
    root = zarr.open_group(str(work), mode="a", zarr_format=3)
    spatial = image.spatial_axes
    label_plan = PyramidPlan(
        axes=spatial,
        shapes=(grid.shape,),
        chunks=(runner.block,),
        scales=(image.scale,),
        factors=(),
    )
    if options.output == "labels":
        image_plan = label_plan
    else:
        image_plan = PyramidPlan(
            axes=("c", *spatial),
            shapes=((classes, *grid.shape),),
            chunks=(tuple(runner.probabilities.chunks),),
            scales=((1.0, *image.scale),),
            factors=(),
        )
    values = list(range(max(classes, 2)))
    medtk = {
        "store_version": STORE_VERSION,
        "medtk_version": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        **image.metadata,
        "prediction": {
            "output": options.output,
            "classes": classes,
            "values": values if options.output != "probabilities" else None,
            "tile": list(grid.tile),
            "stride": list(grid.stride),
            "overlap": [t - s for t, s in zip(grid.tile, grid.stride, strict=True)],
            "blending": options.blending,
            "batch_size": options.batch_size,
            "activation": options.activation,
            "precision": options.precision,
            "device": options.device,
            "model": f"{type(model).__module__}.{type(model).__qualname__}",
            "weights_sha256": weights,
        },
    }
    name = f"{image.name or 'image'} prediction"
    write_image_attributes(root, image_plan, image.unit, name, medtk)
    if options.output == "both":
        labels = root["labels"]
        write_label_attributes(
            labels,
            label_group=labels[options.label_name],
            names=[options.label_name],
            plan=label_plan,
            unit=image.unit,
            name=options.label_name,
            values=values,
        )
        labels[options.label_name].attrs["medtk"] = {"values": values}


@contextmanager
def progress_bar(description: str = "infer") -> Iterator[Progress]:
    """A rich progress bar on stderr that :func:`infer` can report to."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.progress import Progress as RichProgress

    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("tasks"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with RichProgress(*columns, console=Console(stderr=True)) as bar:
        yield _RichBar(bar, description)


class _RichBar(Progress):
    def __init__(self, bar: Any, description: str) -> None:
        self.bar = bar
        self.description = description
        self.task: Any = None

    def start(self, description: str, total: int) -> None:
        self.task = self.bar.add_task(f"{self.description} {description}", total=total)

    def advance(self, blocks: int) -> None:
        if self.task is not None:
            self.bar.update(self.task, advance=blocks)
