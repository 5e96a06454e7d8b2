"""What a reader hands to the store writer: an opened image, read region by region.

A reader never loads a whole image. It describes the image (axes, shape, dtype, physical
spacing, metadata) and gives a thread-safe ``read(region)`` that returns one region of the
full-resolution image, so the writer can stream any size through bounded memory.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

#: NGFF axis names medtk uses, in the order NGFF requires (time, channel, then space).
AXIS_ORDER: tuple[str, ...] = ("t", "c", "z", "y", "x")
SPATIAL_AXES: frozenset[str] = frozenset({"z", "y", "x"})
#: NGFF unit names for the units medtk meets.
MICROMETER = "micrometer"
MILLIMETER = "millimeter"

Region = tuple[slice, ...]


@dataclass
class ImageSource:
    """An opened input image at full resolution.

    :param path: the file or folder it came from (what errors and metadata name).
    :param format: the reader's registered name (``"dicom"``, ``"openslide"`` …).
    :param axes: axis names in NGFF order, e.g. ``("c", "y", "x")`` for an RGB slide,
        ``("z", "y", "x")`` for a CT volume, ``("c", "z", "y", "x")`` for channels.
    :param shape: size along each of ``axes``.
    :param dtype: the dtype ``read`` returns.
    :param spacing: physical size of one pixel along each *spatial* axis, in ``axes``
        order (``z, y, x``); 1.0 where the file does not say.
    :param unit: NGFF unit of ``spacing`` (``"micrometer"``, ``"millimeter"``, or ``""``).
    :param read: ``read(region)`` → the region as an array in ``axes`` order; ``region``
        has one ``slice`` (step 1, bounds inside ``shape``) per axis. Must be thread-safe.
    :param tile: the reader's natural read size per axis (a TIFF tile, one DICOM slice),
        a hint for block sizes; ``None`` when any region costs the same.
    :param metadata: medtk metadata found in the file: ``modality``, ``subject``,
        ``rescale`` (``{"slope", "intercept", "unit"}``), ``magnification``,
        ``mpp`` (µm per pixel, y and x), ``origin``, ``direction``, and free extras.
    :param files: the files whose bytes make up the image, for the source checksum.
    :param close: releases file handles; the writer calls it when done.
    """

    path: Path
    format: str
    axes: tuple[str, ...]
    shape: tuple[int, ...]
    dtype: np.dtype
    spacing: tuple[float, ...]
    unit: str
    read: Callable[[Region], np.ndarray]
    tile: tuple[int, ...] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    files: tuple[Path, ...] = ()
    close: Callable[[], None] = lambda: None

    def __post_init__(self) -> None:
        self.dtype = np.dtype(self.dtype)
        if len(self.axes) != len(self.shape):
            raise ValueError(f"axes {self.axes} do not match shape {self.shape}")
        order = [AXIS_ORDER.index(a) for a in self.axes]
        if order != sorted(order) or len(set(self.axes)) != len(self.axes):
            raise ValueError(f"axes {self.axes} are not in NGFF order {AXIS_ORDER}")
        if len(self.spacing) != len(self.spatial_axes):
            raise ValueError(f"spacing {self.spacing} does not match axes {self.axes}")
        if not self.files:
            self.files = (self.path,)

    @property
    def spatial_axes(self) -> tuple[str, ...]:
        """The spatial axes (``z``, ``y``, ``x``) present, in order."""
        return tuple(a for a in self.axes if a in SPATIAL_AXES)

    def read_all(self) -> np.ndarray:
        """The whole image; only for small images and tests."""
        return self.read(tuple(slice(0, n) for n in self.shape))

    def __enter__(self) -> ImageSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Reader(Protocol):
    """A file format medtk can ingest, as registered through ``register_readers``.

    Register the class: ``register("nifti", "medtk.io.nifti:NiftiReader",
    suffixes=[".nii", ".nii.gz"], priority=0)``. Detection asks every reader's
    ``sniff`` in descending ``priority``; the first that says yes opens the input.
    """

    def sniff(self, path: Path) -> bool:
        """True when ``path`` holds this format, judged by content (a few bytes), not name."""
        ...

    def open(self, path: Path) -> ImageSource:
        """Open ``path``; raise ``BadInputError`` with one line naming the file and problem."""
        ...


def array_source(
    array: Any,
    *,
    path: Path,
    axes: tuple[str, ...],
    spacing: tuple[float, ...],
    unit: str,
    format: str = "array",
    metadata: dict[str, Any] | None = None,
) -> ImageSource:
    """An ``ImageSource`` over a numpy or (lazy) dask array, e.g. a store level after an op.

    Each region of a dask array is computed on the calling thread: the store writer
    already runs blocks in parallel, and nested thread pools would only contend.
    """

    def read(region: Region) -> np.ndarray:
        part = array[region]
        if hasattr(part, "compute"):
            part = part.compute(scheduler="synchronous")
        return np.asarray(part)

    return ImageSource(
        path=path,
        format=format,
        axes=axes,
        shape=tuple(int(n) for n in array.shape),
        dtype=np.dtype(array.dtype),
        spacing=spacing,
        unit=unit,
        read=read,
        metadata=dict(metadata or {}),
    )


def full_region(shape: tuple[int, ...]) -> Region:
    """The region covering a whole array of ``shape``."""
    return tuple(slice(0, n) for n in shape)


def region_shape(region: Region) -> tuple[int, ...]:
    """The shape of the array ``region`` selects."""
    return tuple(s.stop - s.start for s in region)


def metadata_from(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """Drop keys whose value is unknown (``None``), so stores only state what is known."""
    return {k: v for k, v in mapping.items() if v is not None}
