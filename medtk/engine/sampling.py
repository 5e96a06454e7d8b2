"""Training patches of dense tasks, read from stores window by window.

A dense model (a U-Net segmenting a volume) learns from patches: small windows of an
image and its label image. :class:`RandomPatches` draws a fresh set of patches every epoch
from one or more ``(image store, label name)`` pairs at a pyramid level, reading only
each patch's window from zarr (the chunks it touches), so no volume is loaded and nothing
large is cached. :class:`GridPatches` cuts a fixed grid of patches (a validation set).
:func:`holdout_slab` holds out the last fraction of a volume along one axis (z by
default) for validation; training patches stay inside the rest.

- **Patch shapes.** One size per spatial axis of the store: ``(d, h, w)`` of a volume,
  ``(h, w)`` of a 2D image. A 2D patch of a volume is ``(1, h, w)`` (or just ``(h, w)``)
  and comes back squeezed to 2D, for slice-wise 2D networks.
- **What comes back.** ``(image, label)``: the image as float32 ``(C, *patch)``
  normalised (:func:`intensity_affine`), the label as int64 ``(*patch)`` holding the
  stored label values.
- **Class-balanced sampling.** With ``balanced=True`` a class is chosen uniformly, then a
  patch centre on a voxel of that class, so small classes (synapses next to cytosol) are
  seen as often as large ones. Candidate voxels come from the finest level of the label
  pyramid with at most ``candidate_voxels`` voxels in the region (nearest-neighbour
  downsampling keeps true label values), never from a full-resolution scan of a large
  volume; each class keeps at most ``max_candidates`` of them.
- **Seeding.** Each ``__getitem__`` seeds its own generator from the dataset's seed, the
  item index and one draw of torch's global generator. The engine's trainer seeds that
  generator (``--seed``), orders each epoch's items with a generator seeded by
  ``(seed, epoch)``, and saves the global state with every epoch, so epochs differ from
  each other, a run repeats exactly for a seed, and a resumed run continues as the
  uninterrupted one (data-loading worker processes get seeds derived from the epoch's
  generator, so the same holds with ``--workers``).
- **Augmentation.** :class:`PatchAugment` flips along every axis, rotates by multiples of
  90° in the (y, x) plane and jitters intensity (scale, shift, noise) of a batch, on the
  batch's device, identically for the image and its labels (kornia's flips, with the
  image's random parameters replayed on the labels).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from medtk.errors import BadInputError

if TYPE_CHECKING:
    import zarr

    from medtk.io.store import Store

__all__ = [
    "NORMALISATIONS",
    "GridPatches",
    "NormalisedInput",
    "PatchAugment",
    "PatchSource",
    "RandomPatches",
    "holdout_slab",
    "intensity_affine",
    "resolve_patch",
]

#: Box: ``((lo, hi), …)`` per spatial axis, in voxels of the sampling level.
Box = tuple[tuple[int, int], ...]
Normalisation = Literal["auto", "range", "minmax", "percentile", "zscore", "none"]
#: How :func:`intensity_affine` may map intensities.
NORMALISATIONS: tuple[str, ...] = ("auto", "range", "minmax", "percentile", "zscore", "none")
#: Candidate voxels of class-balanced sampling come from a label level with at most this
#: many voxels in the region (8 MB of uint8 labels).
CANDIDATE_VOXELS = 1 << 23
#: Candidate voxels kept per class and source.
MAX_CANDIDATES = 100_000


# --------------------------------------------------------------------------------------
# Intensities


def intensity_affine(store: Store, mode: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """Per-channel ``(scale, shift)`` with which ``image · scale + shift`` is normalised.

    :param mode: ``range`` maps the dtype's range to [0, 1] (uint8: divide by 255; float
        images stay as they are); ``minmax`` maps the store's min–max to [0, 1];
        ``percentile`` its 0.5–99.5th percentiles to [0, 1]; ``zscore`` subtracts its mean
        and divides by its standard deviation; ``none`` keeps the values; ``auto`` is
        ``range`` for 8-bit (and boolean) images, ``percentile`` for other integers, and
        ``zscore`` for floating point (``none`` where the store has no statistics).
        The statistics are the ones every store records at ingest (``medtk.stats``).
    :returns: float32 arrays of shape ``(C,)``.
    """
    if mode not in NORMALISATIONS:
        raise BadInputError(
            f"unknown normalisation {mode!r}; choose from {', '.join(NORMALISATIONS)}"
        )
    dtype = np.dtype(store.levels[0].dtype)
    channels = store.levels[0].shape[store.axes.index("c")] if "c" in store.axes else 1
    stats: Mapping[str, Any] = store.medtk.get("stats", {}) or {}
    percentiles = stats.get("percentiles", {})
    if mode == "auto":
        if dtype.kind == "b" or dtype == np.uint8:
            mode = "range"
        elif dtype.kind in "iu":
            mode = "percentile" if {"0.5", "99.5"} <= set(percentiles) else "range"
        else:
            mode = "zscore" if {"mean", "std"} <= set(stats) else "none"

    def stat(values: Any, what: str) -> np.ndarray:
        if values is None:
            raise BadInputError(
                f"store {str(store.path)!r} records no {what} statistics for "
                f"normalisation {mode!r}; choose --normalise range or none"
            )
        array = np.asarray(values, dtype=np.float64).reshape(-1)
        return np.broadcast_to(array, (channels,)) if array.size == 1 else array

    if mode == "none" or (mode == "range" and dtype.kind == "f"):
        low, width = np.zeros(channels), np.ones(channels)
    elif mode == "range":
        info = np.iinfo(dtype) if dtype.kind in "iu" else None
        low = np.full(channels, 0.0 if info is None else float(info.min))
        width = np.full(channels, 1.0 if info is None else float(info.max) - float(info.min))
    elif mode == "minmax":
        low = stat(stats.get("min"), "min")
        width = stat(stats.get("max"), "max") - low
    elif mode == "percentile":
        low = stat(percentiles.get("0.5"), "0.5th percentile")
        width = stat(percentiles.get("99.5"), "99.5th percentile") - low
    else:  # zscore
        low = stat(stats.get("mean"), "mean")
        width = stat(stats.get("std"), "standard deviation")
    if len(low) != channels or len(width) != channels:
        raise BadInputError(
            f"store {str(store.path)!r}: statistics for {len(low)} channels, image has {channels}"
        )
    width = np.where(np.asarray(width) > 0, width, 1.0)
    scale = (1.0 / width).astype(np.float32)
    shift = (-np.asarray(low) / width).astype(np.float32)
    return scale, shift


class NormalisedInput(nn.Module):
    """``net(image · scale + shift)``: a trained network with its input normalisation, for
    prediction on raw store values (tiled inference feeds the store's values as float32).

    A 2D network given volume tiles of depth 1 (``(N, C, 1, H, W)``) runs on the slices.
    """

    scale: torch.Tensor
    shift: torch.Tensor

    def __init__(self, net: nn.Module, scale: Any, shift: Any) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("scale", torch.as_tensor(np.asarray(scale, dtype=np.float32)))
        self.register_buffer("shift", torch.as_tensor(np.asarray(shift, dtype=np.float32)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        view = (1, -1) + (1,) * (x.dim() - 2)
        x = x * self.scale.view(view) + self.shift.view(view)
        dims = getattr(self.net, "dims", None)
        if dims == 2 and x.dim() == 5:
            if x.shape[2] != 1:
                raise ValueError(f"a 2D network predicts tiles of depth 1, not {tuple(x.shape)}")
            return self.net(x[:, :, 0])[:, :, None]
        return self.net(x)


# --------------------------------------------------------------------------------------
# Geometry


def resolve_patch(patch: Sequence[int], ndim: int) -> tuple[tuple[int, ...], int]:
    """The patch as one size per spatial axis, and the dimensionality of what is returned.

    ``(h, w)`` of a volume is ``(1, h, w)``; a patch of depth 1 of a volume is 2D.
    """
    sizes = tuple(int(n) for n in patch)
    if len(sizes) == 2 and ndim == 3:
        sizes = (1, *sizes)
    if len(sizes) != ndim or any(n < 1 for n in sizes):
        raise BadInputError(
            f"patch {tuple(patch)}: give {ndim} positive sizes, one per spatial axis"
            + (" (or 2 for 2D patches of the volume)" if ndim == 3 else "")
        )
    dims = 2 if ndim == 2 or sizes[0] == 1 else 3
    return sizes, dims


def holdout_slab(shape: Sequence[int], fraction: float, axis: int = 0) -> tuple[Box, Box]:
    """``(train, held out)`` boxes: the last ``fraction`` of ``shape`` along ``axis`` is
    held out (rounded to whole voxels; 0 holds out nothing)."""
    if not 0.0 <= fraction < 1.0:
        raise BadInputError(f"held-out fraction {fraction} must lie in [0, 1)")
    size = int(shape[axis])
    cut = size - round(size * fraction)
    train = tuple((0, cut) if a == axis else (0, int(n)) for a, n in enumerate(shape))
    held = tuple((cut, size) if a == axis else (0, int(n)) for a, n in enumerate(shape))
    return train, held


def _grid_starts(size: int, tile: int) -> tuple[int, ...]:
    """Non-overlapping starts along one axis, the last moved back to end at the border."""
    from medtk.engine.inference import axis_starts

    return axis_starts(size, tile, tile)


# --------------------------------------------------------------------------------------
# Sources


class PatchSource:
    """One image store and (optionally) one of its label images, at one pyramid level,
    read window by window.

    :param image: the store (or its path).
    :param label: the name of a label image of the store, or ``None`` (images only).
    :param level: the pyramid level patches are cut from.
    :param normalise: see :func:`intensity_affine`.
    """

    def __init__(
        self,
        image: Store | Path | str,
        label: str | None,
        *,
        level: int = 0,
        normalise: str = "auto",
    ) -> None:
        from medtk.io.store import Store

        store = image if isinstance(image, Store) else Store.open(Path(image))
        if not 0 <= level < len(store.levels):
            raise BadInputError(
                f"store {str(store.path)!r} has levels 0–{len(store.levels) - 1}, not {level}"
            )
        self.path = Path(store.path)
        self.level = level
        self.label = label
        self.has_channels = "c" in store.axes
        if self.has_channels and store.axes[0] != "c":
            raise BadInputError(f"store {str(self.path)!r}: channels must come first")
        if any(a not in ("c", "z", "y", "x") for a in store.axes):
            raise BadInputError(
                f"store {str(self.path)!r} has axes {''.join(store.axes)}; patches need "
                "(c)yx or (c)zyx"
            )
        full = store.levels[level].shape
        self.shape: tuple[int, ...] = tuple(full[1:] if self.has_channels else full)
        self.channels = full[0] if self.has_channels else 1
        self.scale, self.shift = intensity_affine(store, normalise)
        self.values: list[int] = []
        self.names: dict[int, str] = {}
        self.label_shapes: list[tuple[int, ...]] = []
        if label is not None:
            labels = store.label(label)
            self.label_shapes = [lv.shape for lv in labels.levels]
            if len(self.label_shapes) <= level or self.label_shapes[level] != self.shape:
                raise BadInputError(
                    f"store {str(self.path)!r}: label {label!r} does not match the image at "
                    f"level {level} (shape {self.shape})"
                )
            self.values = [int(v) for v in labels.medtk.get("values", [])]
            self.names = label_names(labels)
        self._arrays: tuple[zarr.Array, zarr.Array | None, list[zarr.Array]] | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_arrays"] = None  # zarr handles are reopened in each process
        return state

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def _open(self) -> tuple[zarr.Array, zarr.Array | None, list[zarr.Array]]:
        if self._arrays is None:
            from medtk.io.store import Store

            store = Store.open(self.path)
            label_levels: list[zarr.Array] = []
            if self.label is not None:
                labels = store.label(self.label)
                label_levels = [labels.array(i) for i in range(len(labels.levels))]
            self._arrays = (
                store.array(self.level),
                label_levels[self.level] if label_levels else None,
                label_levels,
            )
        return self._arrays

    def read(self, box: Box) -> tuple[np.ndarray, np.ndarray | None]:
        """The normalised image ``(C, *box)`` as float32 and the labels as int64 over ``box``."""
        image_array, label_array, _ = self._open()
        where = tuple(slice(lo, hi) for lo, hi in box)
        raw = np.asarray(image_array[(slice(None), *where) if self.has_channels else where])
        image = raw.astype(np.float32, copy=False)
        if not self.has_channels:
            image = image[np.newaxis]
        view = (-1,) + (1,) * self.ndim
        image = image * self.scale.reshape(view) + self.shift.reshape(view)
        label = None
        if label_array is not None:
            label = np.asarray(label_array[where]).astype(np.int64)
        return image.astype(np.float32, copy=False), label

    def class_candidates(
        self,
        values: Sequence[int],
        region: Box,
        *,
        budget: int = CANDIDATE_VOXELS,
        cap: int = MAX_CANDIDATES,
        seed: int = 0,
    ) -> tuple[dict[int, np.ndarray], np.ndarray, dict[int, int]]:
        """Voxels of each class inside ``region``, from a coarse level of the label pyramid.

        :returns: ``{value: (n, ndim) int64 coordinates at the coarse level}``, the scale
            from coarse to sampling-level coordinates per axis, and ``{value: voxels}``
            counted at the coarse level (before keeping at most ``cap`` per class).
        """
        if self.label is None:
            raise BadInputError("class-balanced sampling needs a label image")
        _, _, levels = self._open()
        chosen = len(levels) - 1
        for index in range(self.level, len(levels)):
            shape = self.label_shapes[index]
            factor = [s / c for s, c in zip(self.shape, shape, strict=True)]
            coarse = _coarse_box(region, factor)
            if math.prod(hi - lo for lo, hi in coarse) <= budget:
                chosen = index
                break
        shape = self.label_shapes[chosen]
        factor = np.array([s / c for s, c in zip(self.shape, shape, strict=True)])
        coarse = _coarse_box(region, list(factor))
        data = np.asarray(levels[chosen][tuple(slice(lo, hi) for lo, hi in coarse)])
        origin = np.array([lo for lo, _ in coarse])
        rng = np.random.default_rng([seed, 7919])
        found: dict[int, np.ndarray] = {}
        counts: dict[int, int] = {}
        for value in values:
            flat = np.flatnonzero(data == value)
            counts[int(value)] = int(flat.size)
            if flat.size > cap:
                flat = np.sort(rng.choice(flat, cap, replace=False))
            if flat.size:
                coords = np.stack(np.unravel_index(flat, data.shape), axis=1) + origin
                found[int(value)] = coords.astype(np.int64)
        return found, factor, counts


def _coarse_box(region: Box, factor: Sequence[float]) -> Box:
    return tuple(
        (math.floor(lo / f), max(math.floor(lo / f) + 1, math.ceil(hi / f)))
        for (lo, hi), f in zip(region, factor, strict=True)
    )


def label_names(labels: Store) -> dict[int, str]:
    """Names of label values from a label image's metadata, where it records them.

    Read from NGFF ``image-label`` ``properties`` (``{"label-value": v, "name": …}``) or
    from medtk's ``names`` / ``classes`` (a list indexed by value, or a mapping).
    """
    names: dict[int, str] = {}
    ome = labels.ome if isinstance(labels.ome, Mapping) else {}
    for entry in (ome.get("image-label") or {}).get("properties", []) or []:
        if isinstance(entry, Mapping) and "label-value" in entry:
            name = entry.get("name", entry.get("class"))
            if name is not None:
                names[int(entry["label-value"])] = str(name)
    for key in ("names", "class_names", "classes"):
        recorded = labels.medtk.get(key)
        if isinstance(recorded, Mapping):
            for value, name in recorded.items():
                if str(value).lstrip("-").isdigit():
                    names.setdefault(int(value), str(name))
        elif isinstance(recorded, list) and all(isinstance(n, str) for n in recorded):
            for value, name in enumerate(recorded):
                names.setdefault(value, name)
    return names


def _check_region(source: PatchSource, region: Box, patch: tuple[int, ...], what: str) -> None:
    if len(region) != source.ndim:
        raise BadInputError(f"a {what} region of {len(region)} axes for a {source.ndim}D store")
    for axis, ((lo, hi), size, n) in enumerate(zip(region, patch, source.shape, strict=True)):
        if not 0 <= lo < hi <= n:
            raise BadInputError(
                f"store {str(source.path)!r}: {what} region {region} lies outside its shape "
                f"{source.shape}"
            )
        if hi - lo < size:
            name = "zyx"[axis] if source.ndim == 3 else "yx"[axis]
            raise BadInputError(
                f"store {str(source.path)!r}: the {what} region is {hi - lo} voxels along "
                f"{name}, less than the patch ({size}); use a smaller patch or another split"
            )


def _squeezed(
    image: np.ndarray, label: np.ndarray | None, dims: int
) -> tuple[torch.Tensor, torch.Tensor]:
    if dims == 2 and image.ndim == 4:
        image = image[:, 0]
        label = None if label is None else label[0]
    label_tensor = torch.from_numpy(np.ascontiguousarray(label)) if label is not None else None
    return torch.from_numpy(np.ascontiguousarray(image)), label_tensor  # type: ignore[return-value]


# --------------------------------------------------------------------------------------
# Datasets


class RandomPatches(Dataset):
    """``samples`` random patches per epoch from the training regions of the sources.

    :param sources: the ``(image, label)`` pairs (:class:`PatchSource`).
    :param regions: per source, the box patches must lie in (e.g. the training part of
        :func:`holdout_slab`); ``None``: the whole image.
    :param patch: one size per spatial axis (see :func:`resolve_patch`).
    :param samples: patches per epoch (the dataset's length).
    :param balanced: choose a class uniformly, then a centre on a voxel of it.
    :param classes: the label values balanced over (default: every value the label
        metadata records).
    :param seed: mixed into every patch's generator.
    """

    def __init__(
        self,
        sources: Sequence[PatchSource],
        patch: Sequence[int],
        *,
        regions: Sequence[Box | None] | None = None,
        samples: int = 256,
        balanced: bool = False,
        classes: Sequence[int] | None = None,
        seed: int = 0,
        candidate_voxels: int = CANDIDATE_VOXELS,
        max_candidates: int = MAX_CANDIDATES,
    ) -> None:
        if not sources:
            raise BadInputError("no stores to sample patches from")
        if samples < 1:
            raise BadInputError(f"samples per epoch must be at least 1, not {samples}")
        ndims = {s.ndim for s in sources}
        if len(ndims) > 1:
            raise BadInputError("patches come from stores of one dimensionality (all 2D or 3D)")
        self.sources = list(sources)
        self.patch, self.dims = resolve_patch(patch, ndims.pop())
        given = list(regions) if regions is not None else [None] * len(self.sources)
        if len(given) != len(self.sources):
            raise BadInputError(f"{len(given)} regions for {len(self.sources)} stores")
        self.regions: list[Box] = [
            r if r is not None else tuple((0, n) for n in s.shape)
            for s, r in zip(self.sources, given, strict=True)
        ]
        for source, region in zip(self.sources, self.regions, strict=True):
            _check_region(source, region, self.patch, "training")
        self.samples = samples
        self.seed = seed
        self.balanced = balanced
        volumes = np.array([math.prod(hi - lo for lo, hi in r) for r in self.regions], float)
        self.weights = volumes / volumes.sum()
        self.candidates: list[dict[int, np.ndarray]] = []
        self.factors: list[np.ndarray] = []
        #: voxels of each class in the training regions, counted on the candidates' level
        self.class_voxels: dict[int, int] = {}
        self.available: list[int] = []
        if balanced:
            values = (
                list(classes)
                if classes is not None
                else sorted({v for s in self.sources for v in s.values})
            )
            if not values:
                raise BadInputError(
                    "class-balanced sampling needs the class values: the label metadata "
                    "records none, so pass the classes"
                )
            for index, (source, region) in enumerate(zip(self.sources, self.regions, strict=True)):
                found, factor, counts = source.class_candidates(
                    values,
                    region,
                    budget=candidate_voxels,
                    cap=max_candidates,
                    seed=seed * 1009 + index,
                )
                self.candidates.append(found)
                self.factors.append(factor)
                for value, count in counts.items():
                    self.class_voxels[value] = self.class_voxels.get(value, 0) + count
            self.available = [v for v in values if any(v in c for c in self.candidates)]
            if not self.available:
                raise BadInputError("no voxel of any class lies in the training region")

    def __len__(self) -> int:
        return self.samples

    def _generator(self, index: int) -> np.random.Generator:
        # one draw of torch's global generator, which the trainer seeds per run and saves
        # per epoch: different patches every epoch, the same for a seed and on resuming
        token = int(torch.randint(0, 2**62, (), dtype=torch.int64))
        return np.random.default_rng([self.seed, token, index])

    def locate(self, rng: np.random.Generator) -> tuple[int, Box]:
        """A source and the box of one patch, drawn with ``rng``."""
        if self.balanced:
            value = self.available[int(rng.integers(len(self.available)))]
            counts = np.array([len(c.get(value, ())) for c in self.candidates], float)
            index = int(rng.choice(len(self.sources), p=counts / counts.sum()))
            coords = self.candidates[index][value]
            coarse = coords[int(rng.integers(len(coords)))]
            factor = self.factors[index]
            centre = np.floor((coarse + rng.random(len(coarse))) * factor).astype(np.int64)
        else:
            index = int(rng.choice(len(self.sources), p=self.weights))
            region = self.regions[index]
            centre = np.array([rng.integers(lo, hi) for lo, hi in region])
        region = self.regions[index]
        box = []
        for (lo, hi), size, at in zip(region, self.patch, centre, strict=True):
            start = int(np.clip(at - size // 2, lo, hi - size))
            box.append((start, start + size))
        return index, tuple(box)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not 0 <= index < self.samples:
            raise IndexError(index)
        source, box = self.locate(self._generator(index))
        image, label = self.sources[source].read(box)
        return _squeezed(image, label, self.dims)


class GridPatches(Dataset):
    """A fixed grid of non-overlapping patches over regions of the sources (validation).

    The grid covers each region; the last patch along an axis is moved back to end at
    the region's border. With ``max_patches`` an evenly spaced subset is kept.
    """

    def __init__(
        self,
        sources: Sequence[PatchSource],
        patch: Sequence[int],
        *,
        regions: Sequence[Box | None] | None = None,
        max_patches: int = 0,
    ) -> None:
        if not sources:
            raise BadInputError("no stores to cut patches from")
        self.sources = list(sources)
        self.patch, self.dims = resolve_patch(patch, self.sources[0].ndim)
        given = list(regions) if regions is not None else [None] * len(self.sources)
        self.items: list[tuple[int, Box]] = []
        for index, (source, asked) in enumerate(zip(self.sources, given, strict=True)):
            region = asked if asked is not None else tuple((0, n) for n in source.shape)
            _check_region(source, region, self.patch, "validation")
            starts = [
                [lo + s for s in _grid_starts(hi - lo, size)]
                for (lo, hi), size in zip(region, self.patch, strict=True)
            ]
            for corner in np.array(np.meshgrid(*starts, indexing="ij")).reshape(len(region), -1).T:
                box = tuple((int(a), int(a) + n) for a, n in zip(corner, self.patch, strict=True))
                self.items.append((index, box))
        if max_patches and len(self.items) > max_patches:
            keep = np.round(np.linspace(0, len(self.items) - 1, max_patches)).astype(int)
            self.items = [self.items[i] for i in keep]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        source, box = self.items[index]
        image, label = self.sources[source].read(box)
        return _squeezed(image, label, self.dims)


# --------------------------------------------------------------------------------------
# Augmentation


class PatchAugment(nn.Module):
    """Random flips, 90° rotations and intensity jitter of a batch of patches and labels.

    Runs on the batch's device inside the training step, with torch's global generator
    (seeded by the trainer). Flips are kornia's (``RandomDepthicalFlip3D``,
    ``RandomVerticalFlip3D``, ``RandomHorizontalFlip3D``, or the 2D pair), each with
    probability 0.5 per sample, and their parameters are replayed on the labels; the
    rotation turns each sample by ``k·90°`` in the (y, x) plane (``k`` in 0–3, or 0 and 2
    when the plane is not square). Intensity: ``image · (1 + a) + b + σ·noise`` per sample
    and channel, ``a`` uniform in ±``scale``, ``b`` in ±``shift``, σ uniform in
    [0, ``noise``]. Labels are never changed in value.

    :param dims: 2 for ``(N, C, H, W)`` batches, 3 for ``(N, C, D, H, W)``.
    """

    def __init__(
        self,
        dims: int,
        *,
        flips: bool = True,
        rotate: bool = True,
        scale: float = 0.1,
        shift: float = 0.1,
        noise: float = 0.03,
    ) -> None:
        super().__init__()
        import kornia.augmentation as K  # noqa: N812

        if dims not in (2, 3):
            raise ValueError(f"dims must be 2 or 3, not {dims}")
        self.dims = dims
        if not flips:
            self.flips = nn.ModuleList()
        elif dims == 3:
            self.flips = nn.ModuleList(
                [
                    K.RandomDepthicalFlip3D(p=0.5),
                    K.RandomVerticalFlip3D(p=0.5),
                    K.RandomHorizontalFlip3D(p=0.5),
                ]
            )
        else:
            self.flips = nn.ModuleList([K.RandomVerticalFlip(p=0.5), K.RandomHorizontalFlip(p=0.5)])
        self.rotate = rotate
        self.scale, self.shift, self.noise = scale, shift, noise

    def forward(
        self, image: torch.Tensor, label: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``image`` ``(N, C, *s)`` float and ``label`` ``(N, *s)`` integer, augmented alike."""
        if image.dim() != self.dims + 2 or tuple(label.shape) != (image.shape[0], *image.shape[2:]):
            raise ValueError(
                f"PatchAugment({self.dims}D) takes images (N, C, *s) and labels (N, *s), got "
                f"{tuple(image.shape)} and {tuple(label.shape)}"
            )
        dtype = label.dtype
        marks = label.unsqueeze(1).to(image.dtype)
        for flip in self.flips:
            image = flip(image)
            marks = flip(marks, params=flip._params)
        if self.rotate:
            turns = 4 if image.shape[-1] == image.shape[-2] else 2
            ks = torch.randint(0, turns, (image.shape[0],)) * (4 // turns)
            image = torch.stack(
                [torch.rot90(x, int(k), (-2, -1)) for x, k in zip(image, ks, strict=True)]
            )
            marks = torch.stack(
                [torch.rot90(x, int(k), (-2, -1)) for x, k in zip(marks, ks, strict=True)]
            )
        if self.scale or self.shift or self.noise:
            n, c = image.shape[:2]
            view = (n, c) + (1,) * self.dims
            a = (torch.rand(view, device=image.device) * 2 - 1) * self.scale
            b = (torch.rand(view, device=image.device) * 2 - 1) * self.shift
            sigma = torch.rand((n, 1) + (1,) * self.dims, device=image.device) * self.noise
            noise = torch.randn(image.shape, device=image.device)
            image = image * (1 + a) + b + sigma * noise
        return image.contiguous(), marks.squeeze(1).round().to(dtype).contiguous()
