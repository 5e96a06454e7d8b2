"""NIfTI-1 and NIfTI-2 (``.nii``, ``.nii.gz``, ``.hdr``/``.img`` pairs) via nibabel.

NIfTI stores voxels as ``(x, y, z[, 4th])`` with x fastest; medtk presents them in NGFF
order by reversing the axes: 2D → ``("y", "x")``, 3D → ``("z", "y", "x")``, 4D →
``(k, "z", "y", "x")``. The 4th axis ``k`` is ``"c"`` when the intent is a vector (or
RGB) or when it has at most 8 entries and the header sets no time unit; otherwise it is
``"t"``, and its step goes to ``metadata["time_step"]`` / ``["time_unit"]``. Trailing
axes of size 1 beyond the third are dropped, and ITK's vector layout
``(x, y, z, 1, components)`` becomes ``("c", "z", "y", "x")``.

Reads go through ``img.dataobj`` (nibabel's lazy array proxy), so ``scl_slope`` /
``scl_inter`` are applied and only the bytes a region needs are read from a ``.nii``. A
``.nii.gz`` cannot be read at random, so whole x-y slabs are decompressed and the last
two are kept, which turns the writer's block-by-block reads into one forward pass. One
file handle is shared, behind a lock.

Geometry: NIfTI's affine maps voxels to RAS+ millimetres (sform if set, else qform).
medtk states ``origin`` and ``direction`` in LPS, like DICOM and ITK (x and y negated,
what ITK does when it reads NIfTI), listed in (z, y, x) order: ``direction[a]`` is the unit
vector of image axis ``a`` and voxel ``(k, j, i)`` lies at
``origin + k·spacing_z·direction[0] + j·spacing_y·direction[1] + i·spacing_x·direction[2]``.
"""

from __future__ import annotations

import contextlib
import gzip
import math
import struct
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from medtk.io.sniff import (
    GZIP_MAGIC,
    describe,
    input_error,
    input_errors,
    native_dtype,
    read_head,
    read_head_maybe_gzip,
)
from medtk.io.source import MICROMETER, MILLIMETER, ImageSource, Region, metadata_from

HEADER_BYTES = 548
#: A 4th axis this short, with no time unit, holds channels rather than time points.
MAX_CHANNELS = 8
VECTOR_INTENTS = frozenset({"vector", "displacement vector", "rgb vector", "rgba vector"})
SPATIAL_UNITS = {"mm": MILLIMETER, "micron": MICROMETER, "meter": "meter", "unknown": MILLIMETER}
TIME_UNITS = {"sec": "second", "msec": "millisecond", "usec": "microsecond"}
#: Largest decompressed slab kept for ``.nii.gz`` reads; larger regions are read directly.
MAX_SLAB_BYTES = 256 << 20
SHAPE_HINT = "medtk reads 2D, 3D and 4D NIfTI"


def nifti_version(head: bytes) -> tuple[int, bool] | None:
    """``(1 or 2, is a .hdr/.img pair)`` from a header's first bytes; ``None`` if not NIfTI.

    NIfTI-1: ``sizeof_hdr`` 348 (either byte order) and magic ``n+1``/``ni1`` at 344.
    NIfTI-2: ``sizeof_hdr`` 540 and magic ``n+2``/``ni2`` at 4.
    """
    if len(head) < 8:
        return None
    for order in "<>":
        (size,) = struct.unpack(f"{order}i", head[:4])
        if size == 348 and len(head) >= 348 and head[344:348] in (b"n+1\0", b"ni1\0"):
            return 1, head[345:346] == b"i"
        if size == 540 and head[4:8] in (b"n+2\0", b"ni2\0"):
            return 2, head[5:6] == b"i"
    return None


class NiftiReader:
    """NIfTI-1/2 images, read lazily through nibabel's array proxy."""

    def sniff(self, path: Path) -> bool:
        """True when the (decompressed) first bytes are a NIfTI-1 or NIfTI-2 header."""
        try:
            return nifti_version(read_head_maybe_gzip(path, HEADER_BYTES)) is not None
        except Exception:  # sniffing must never raise
            return False

    def open(self, path: Path) -> ImageSource:
        """Parse the header and describe the image; voxel data is read by ``read``.

        :param path: a ``.nii``/``.nii.gz`` file (any name), or the ``.hdr`` of a pair.
        :raises BadInputError: one line naming the file and the problem.
        """
        path = Path(path)
        version = nifti_version(read_head_maybe_gzip(path, HEADER_BYTES))
        if version is None:
            raise input_error(path, "not a NIfTI file (no NIfTI-1 or NIfTI-2 header)")
        compressed = read_head(path, 2) == GZIP_MAGIC
        handle, image, files = _load(path, version, compressed)
        with input_errors(path, "unreadable NIfTI file", cleanup=lambda: _close(handle)):
            return _describe(path, _Volume(path, image, handle, compressed), files)


def _load(path: Path, version: tuple[int, bool], compressed: bool) -> tuple[Any, Any, list[Path]]:
    """Open the header (and its handle); nothing but the header is read yet.

    A single-file NIfTI is opened from a handle we own, so it is found by content even
    without a ``.nii``/``.nii.gz`` name; a ``.hdr``/``.img`` pair goes through
    ``nibabel.load``, which finds the ``.img`` by name.
    """
    import nibabel
    from nibabel.fileholders import FileHolder

    number, pair = version
    if pair:
        try:
            image = nibabel.load(path)
        except Exception as exc:
            raise input_error(
                path, f"unreadable NIfTI header/image pair ({describe(exc)})"
            ) from None
        files = list(dict.fromkeys(Path(f.filename) for f in image.file_map.values() if f.filename))
        for file in files:
            if not file.is_file():
                raise input_error(path, f"its image file {file.name!r} does not exist")
        return None, image, files
    handle: Any = None
    try:
        # kept open (and closed by ImageSource.close) for lazy reads
        handle = gzip.open(path, "rb") if compressed else path.open("rb")  # noqa: SIM115
        holder = FileHolder(fileobj=handle)
        klass = nibabel.Nifti1Image if number == 1 else nibabel.Nifti2Image
        image = klass.from_file_map({"header": holder, "image": holder})
    except Exception as exc:
        _close(handle)
        raise input_error(path, f"unreadable NIfTI header ({describe(exc)})") from None
    return handle, image, [path]


def _close(handle: Any) -> None:
    """Close a handle, ignoring errors (it may already be closed or broken)."""
    if handle is not None:
        with contextlib.suppress(Exception):
            handle.close()


class _Volume:
    """The voxel array behind one NIfTI header, and the thread-safe reads of it."""

    def __init__(self, path: Path, image: Any, handle: Any, compressed: bool) -> None:
        self.path = path
        self.image = image
        self.header = image.header
        self.handle = handle
        self.compressed = compressed
        self.full = tuple(int(n) for n in self.header.get_data_shape())
        self.lock = threading.Lock()
        self.cache: OrderedDict[tuple[tuple[int, int], ...], np.ndarray] = OrderedDict()
        self.slab_bytes = 0

    def check_size(self) -> None:
        """An uncompressed single file must hold all the bytes its header promises."""
        if self.compressed or self.handle is None:
            return
        raw = np.dtype(self.header.get_data_dtype())
        needed = int(self.header.get_data_offset()) + math.prod(self.full) * raw.itemsize
        size = self.path.stat().st_size
        if size < needed:
            raise input_error(
                self.path,
                f"truncated: the header describes {self.full} {raw} voxels ({needed} bytes "
                f"with the header) but the file has {size} bytes",
            )

    def first_voxel(self) -> np.ndarray:
        """The first voxel, scaled as ``read`` scales it: gives the output dtype, and makes
        a file without readable voxel data fail at ``open``."""
        return self.read((slice(0, 1),) * len(self.full))

    def read(self, slicer: tuple[slice | int, ...]) -> np.ndarray:
        """``dataobj[slicer]`` in NIfTI axis order, as one-line errors, under the lock."""
        with input_errors(self.path, "cannot read voxel data"), self.lock:
            return self._slab(slicer) if self._use_slabs(slicer) else self._direct(slicer)

    def _direct(self, slicer: tuple[slice | int, ...]) -> np.ndarray:
        return np.asarray(self.image.dataobj[slicer])

    def _use_slabs(self, slicer: tuple[slice | int, ...]) -> bool:
        """Slabs only for gzip, and only while one stays small."""
        if not self.compressed or not self.slab_bytes:
            return False
        extent = math.prod(s.stop - s.start if isinstance(s, slice) else 1 for s in slicer[2:])
        return self.slab_bytes * extent <= MAX_SLAB_BYTES

    def _slab(self, slicer: tuple[slice | int, ...]) -> np.ndarray:
        """Whole x-y slabs from a gzip stream, the last two kept: one forward pass."""
        rest = slicer[2:]
        key = tuple((s.start, s.stop) if isinstance(s, slice) else (s, s) for s in rest)
        slab = self.cache.get(key)
        if slab is None:
            slab = self._direct((slice(0, self.full[0]), slice(0, self.full[1]), *rest))
            self.cache[key] = slab
            while len(self.cache) > 2:
                self.cache.popitem(last=False)
        else:
            self.cache.move_to_end(key)
        return slab[slicer[0], slicer[1]]

    def close(self) -> None:
        """Drop cached slabs and close the file handle."""
        with self.lock:
            self.cache.clear()
            _close(self.handle)


def _layout(volume: _Volume) -> tuple[list[int], list[str]]:
    """The NIfTI axes kept (others are read at index 0) and their medtk names."""
    full, header = volume.full, volume.header
    if len(full) < 2 or any(n <= 0 for n in full):
        raise input_error(volume.path, f"unexpected shape {full}; {SHAPE_HINT}")
    kept = list(range(len(full)))
    while len(kept) > 3 and full[kept[-1]] == 1:
        kept.pop()
    if len(kept) == 5 and full[3] == 1:  # ITK's vector layout (x, y, z, 1, components)
        kept.remove(3)
    if len(kept) > 4:
        raise input_error(volume.path, f"unexpected shape {full}; {SHAPE_HINT}")
    names = ["x", "y", "z"][: min(3, len(kept))]
    if len(kept) == 4:
        time_unit = header.get_xyzt_units()[1]
        channels = str(header.get_intent()[0]) in VECTOR_INTENTS or len(full) == 5
        channels = channels or (full[kept[3]] <= MAX_CHANNELS and time_unit == "unknown")
        names.append("c" if channels else "t")
    return kept, names


def _describe(path: Path, volume: _Volume, files: list[Path]) -> ImageSource:
    """Axes, shape, dtype, spacing and geometry; ``read`` slices the array proxy."""
    header, full = volume.header, volume.full
    kept, names = _layout(volume)
    axes = tuple(reversed(names))
    shape = tuple(full[i] for i in reversed(kept))
    volume.check_size()
    fields = np.dtype(header.get_data_dtype()).names
    if fields:
        if len(kept) > 3:
            raise input_error(path, f"RGB NIfTI with a 4th axis (shape {full}) is not supported")
        axes, shape = ("c", *axes), (len(fields), *shape)
    probe = volume.first_voxel()
    dtype = native_dtype(probe.dtype[fields[0]] if fields else probe.dtype)
    volume.slab_bytes = math.prod(full[:2]) * dtype.itemsize * (len(fields) if fields else 1)

    def read(region: Region) -> np.ndarray:
        spatial = region[1:] if fields else region
        by_axis = dict(zip(reversed(kept), spatial, strict=True))
        data = volume.read(tuple(by_axis.get(i, 0) for i in range(len(full)))).transpose()
        if fields:
            data = np.stack([data[name] for name in fields[region[0]]], axis=0)
        return np.ascontiguousarray(data, dtype=dtype)

    space_unit, time_unit = header.get_xyzt_units()
    zooms = [float(z) for z in header.get_zooms()]
    spatial_count = len([n for n in names if n in "xyz"])
    spacing = tuple(
        z if math.isfinite(z) and z > 0 else 1.0 for z in reversed(zooms[:spatial_count])
    )
    extras: dict[str, Any] = {}
    if "t" in names and len(zooms) > 3 and zooms[3] > 0:
        extras = {"time_step": zooms[3], "time_unit": TIME_UNITS.get(time_unit, "")}
    description = bytes(header["descrip"].item()).split(b"\0")[0].decode("latin-1").strip()
    return ImageSource(
        path=path,
        format="nifti",
        axes=axes,
        shape=shape,
        dtype=dtype,
        spacing=spacing,
        unit=SPATIAL_UNITS.get(space_unit, MILLIMETER),
        read=read,
        metadata=metadata_from(
            {**_geometry(volume.image), **extras, "description": description or None}
        ),
        files=tuple(files),
        close=volume.close,
    )


def _geometry(image: Any) -> dict[str, Any]:
    """``origin`` and ``direction`` in LPS, (z, y, x) order, from the sform or qform."""
    header = image.header
    sform = int(header["sform_code"])
    qform = int(header["qform_code"])
    source = "sform" if sform > 0 else "qform" if qform > 0 else None
    if source is None:
        return {}
    affine = np.asarray(image.affine, dtype=np.float64)
    lps = np.diag([-1.0, -1.0, 1.0]) @ affine[:3]
    if not np.all(np.isfinite(lps)):
        return {}
    direction = []
    for axis in (2, 1, 0):  # image axes z, y, x are NIfTI's k, j, i
        vector = lps[:, axis]
        length = float(np.linalg.norm(vector))
        vector = vector / length if length > 0 else np.eye(3)[axis]
        direction.append([float(v) for v in vector[::-1]])
    return {
        "origin": [float(v) for v in lps[:, 3][::-1]],
        "direction": direction,
        "affine_source": source,
    }
