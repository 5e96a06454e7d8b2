"""Folders of 2D PNG/JPEG/TIFF slices stacked along z, and single PNG/JPEG pictures.

Microscopes, EM pipelines and exports from viewers often write a volume as one picture per
slice (``slice1.png`` … ``slice240.png``); they are stacked in natural order, so
``slice2`` comes before ``slice10``. PNG and JPEG are decoded with Pillow, TIFF slices with
tifffile. A slice is decoded only when a region needs it; decoded slices are kept in a
small cache shared by the reading threads, because the store writer reads one slice in
several blocks. Each read opens its own file, so nothing else is shared between threads.

Pixels: grey slices give ``("z", "y", "x")`` (``("y", "x")`` for a single picture), colour
ones ``("c", "z", "y", "x")`` with RGB (alpha dropped; palette, CMYK and YCbCr converted
to RGB). 1-bit images give 0/1 as uint8, so that binary masks stay label images. 16-bit
PNGs with colour or alpha, which Pillow would reduce to 8 bits, are decoded with
imagecodecs. Slices carry no physical size: spacing is 1.0 with no unit.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from medtk.io.sniff import (
    describe,
    input_error,
    input_errors,
    is_regular_file,
    native_dtype,
    read_head,
)
from medtk.io.source import ImageSource, Region
from medtk.io.tiff import TIFF_MAGICS

PNG_MAGIC = b"\x89PNG"
JPEG_MAGIC = b"\xff\xd8\xff"
#: Files a folder may hold beside its slices: hidden files, and what desktops leave there.
IGNORED_NAMES = frozenset({"thumbs.db", "desktop.ini"})
#: Decoded slices kept for blocks that cut one slice into several reads.
CACHE_BYTES = 256 << 20
#: Pillow modes read as they are (grey) and the dtype numpy gives each.
GREY_MODES: dict[str, np.dtype] = {
    "1": np.dtype(np.uint8),
    "L": np.dtype(np.uint8),
    "LA": np.dtype(np.uint8),
    "La": np.dtype(np.uint8),
    "I;16": np.dtype(np.uint16),
    "I;16L": np.dtype(np.uint16),
    "I;16B": np.dtype(np.uint16),
    "I;16N": np.dtype(np.uint16),
    "I": np.dtype(np.int32),
    "F": np.dtype(np.float32),
}


def image_kind(path: Path | str) -> str | None:
    """``"png"``, ``"jpeg"`` or ``"tiff"`` by magic bytes; ``None`` for anything else."""
    head = read_head(path, 8)
    if head.startswith(PNG_MAGIC):
        return "png"
    if head.startswith(JPEG_MAGIC):
        return "jpeg"
    if head[:4] in TIFF_MAGICS:
        return "tiff"
    return None


def natural_key(name: str) -> tuple[tuple[Any, ...], str]:
    """Sort key putting ``slice2.png`` before ``slice10.png`` (digit runs compare as numbers)."""
    parts = re.split(r"(\d+)", name)
    return tuple(int(p) if i % 2 else p.lower() for i, p in enumerate(parts)), name


def counts_as_slice(path: Path) -> bool:
    """False for hidden files and the index files desktops leave in folders of pictures."""
    return not path.name.startswith(".") and path.name.lower() not in IGNORED_NAMES


def folder_entries(folder: Path) -> list[Path]:
    """The entries of ``folder`` that count, in natural order."""
    return sorted(filter(counts_as_slice, folder.iterdir()), key=lambda p: natural_key(p.name))


@dataclass(frozen=True)
class SliceLayout:
    """What one slice decodes to: its height and width, colour or grey, and dtype."""

    height: int
    width: int
    rgb: bool
    dtype: np.dtype

    def describe(self) -> str:
        kind = "RGB" if self.rgb else "grey"
        return f"{self.height}×{self.width} {kind} {self.dtype}"


def slice_layout(path: Path, kind: str) -> SliceLayout:
    """The layout of one slice from its header only (no pixels decoded).

    :raises BadInputError: the file is not a 2D grey or RGB image.
    """
    if kind == "tiff":
        return _tiff_layout(path)
    deep = _deep_colour_png(path) if kind == "png" else None
    if deep is not None:
        height, width, colour = deep
        return SliceLayout(height, width, colour, np.dtype(np.uint16))
    from PIL import Image

    try:
        with Image.open(path) as image:
            mode, (width, height) = image.mode, image.size
    except Exception as exc:
        raise input_error(path, f"unreadable {kind.upper()} image ({describe(exc)})") from None
    if mode in GREY_MODES:
        return SliceLayout(height, width, False, GREY_MODES[mode])
    return SliceLayout(height, width, True, np.dtype(np.uint8))


def _deep_colour_png(path: Path) -> tuple[int, int, bool] | None:
    """``(height, width, rgb)`` of a 16-bit PNG with colour or alpha, else ``None``.

    Pillow reduces these to 8 bits, so they are decoded with imagecodecs instead; 16-bit
    grey PNGs without alpha Pillow reads exactly.
    """
    head = read_head(path, 26)
    if len(head) < 26 or head[12:16] != b"IHDR" or head[24] != 16 or head[25] not in (2, 4, 6):
        return None
    width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    return height, width, head[25] != 4


def _tiff_layout(path: Path) -> SliceLayout:
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            shape, axes, dtype = tuple(series.shape), series.axes, np.dtype(series.dtype)
    except Exception as exc:
        raise input_error(path, f"unreadable TIFF slice ({describe(exc)})") from None
    dtype = np.dtype(np.uint8) if dtype.kind == "b" else native_dtype(dtype)
    if axes == "YX":
        return SliceLayout(shape[0], shape[1], False, dtype)
    if axes in ("YXS", "SYX") and shape[axes.index("S")] in (3, 4):
        y, x = axes.index("Y"), axes.index("X")
        return SliceLayout(shape[y], shape[x], True, dtype)
    raise input_error(path, f"not a 2D grey or RGB slice (TIFF axes {axes}, shape {shape})")


def decode_slice(path: Path, kind: str) -> np.ndarray:
    """One whole slice as ``(y, x)`` or ``(y, x, 3)``, in native byte order.

    :raises BadInputError: the file cannot be decoded.
    """
    with input_errors(path, f"cannot decode {kind.upper()} slice"):
        if kind == "tiff":
            import tifffile

            with tifffile.TiffFile(path) as tif:
                series = tif.series[0]
                data = series.asarray()
                if series.axes == "SYX":
                    data = np.moveaxis(data, 0, -1)
        elif kind == "png" and _deep_colour_png(path) is not None:
            import imagecodecs

            data = imagecodecs.png_decode(path.read_bytes())
            if data.ndim == 3 and data.shape[-1] == 2:  # grey and alpha
                data = data[..., 0]
        else:
            data = _decode_pillow(path)
    if data.ndim == 3:
        data = data[..., :3]
    if data.dtype.kind == "b":
        data = data.astype(np.uint8)
    return np.ascontiguousarray(data, dtype=native_dtype(data.dtype))


def _decode_pillow(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        image.load()
        mode = image.mode
        if mode in ("LA", "La"):
            return np.asarray(image.getchannel(0))
        if mode in GREY_MODES:
            return np.asarray(image)
        if mode in ("RGB", "RGBA", "RGBX"):
            return np.asarray(image)
        if mode == "RGBa":  # premultiplied: undo, as RGBA does
            return np.asarray(image.convert("RGBA"))
        return np.asarray(image.convert("RGB"))


class _SliceCache:
    """Decoded slices shared by reader threads, least recently used dropped first.

    One lock per slice makes a second thread wait for a slice being decoded instead of
    decoding it again; the cache itself has its own short lock.
    """

    def __init__(self, files: Sequence[Path], kinds: Sequence[str], budget: int) -> None:
        self.files = list(files)
        self.kinds = list(kinds)
        self.budget = budget
        self.lock = threading.Lock()
        self.slice_locks = [threading.Lock() for _ in self.files]
        self.cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self.bytes = 0

    def get(self, index: int) -> np.ndarray:
        with self.slice_locks[index]:
            with self.lock:
                if index in self.cache:
                    self.cache.move_to_end(index)
                    return self.cache[index]
            data = decode_slice(self.files[index], self.kinds[index])
            with self.lock:
                self.cache[index] = data
                self.bytes += data.nbytes
                while self.bytes > self.budget and len(self.cache) > 1:
                    _, dropped = self.cache.popitem(last=False)
                    self.bytes -= dropped.nbytes
            return data


class SliceFolderReader:
    """A folder of same-sized 2D slices as a volume, or one PNG/JPEG as a 2D image."""

    def sniff(self, path: Path) -> bool:
        """True for a PNG/JPEG file, or a folder holding only PNG/JPEG/TIFF images (≥ 1)."""
        try:
            path = Path(path)
            if is_regular_file(path):
                return image_kind(path) in ("png", "jpeg")
            if not path.is_dir():
                return False
            entries = folder_entries(path)
            return bool(entries) and all(
                is_regular_file(p) and image_kind(p) is not None for p in entries
            )
        except Exception:  # sniffing must never raise
            return False

    def open(self, path: Path) -> ImageSource:
        """Check every slice's header (same size and kind); pixels are decoded per region."""
        path = Path(path)
        if path.is_dir():
            return _open_folder(path)
        kind = image_kind(path)
        if kind not in ("png", "jpeg"):
            raise input_error(path, "not a PNG or JPEG image")
        layout = slice_layout(path, kind)
        return _source(path, [path], [kind], layout, folder=False)


def _open_folder(folder: Path) -> ImageSource:
    """Check a slice folder: only images, at least one, all of one layout."""
    try:
        entries = folder_entries(folder)
    except OSError as exc:
        raise input_error(folder, f"cannot list the folder ({describe(exc)})") from None
    if not entries:
        raise input_error(folder, "folder contains no images")
    kinds: list[str] = []
    for entry in entries:
        kind = image_kind(entry) if is_regular_file(entry) else None
        if kind is None:
            what = "a folder" if entry.is_dir() else "not a PNG, JPEG or TIFF image"
            raise input_error(folder, f"{entry.name!r} is {what}; a slice folder holds only images")
        kinds.append(kind)
    first = slice_layout(entries[0], kinds[0])
    for entry, kind in zip(entries[1:], kinds[1:], strict=True):
        layout = slice_layout(entry, kind)
        if layout != first:
            raise input_error(
                folder,
                f"slice {entry.name!r} is {layout.describe()}, but {entries[0].name!r} is "
                f"{first.describe()}; all slices must match",
            )
    return _source(folder, entries, kinds, first, folder=True)


def _source(
    path: Path, files: list[Path], kinds: list[str], layout: SliceLayout, *, folder: bool
) -> ImageSource:
    """The ``ImageSource`` over ``files`` (one per z) that all have ``layout``."""
    slice_bytes = layout.height * layout.width * (3 if layout.rgb else 1) * layout.dtype.itemsize
    cache = _SliceCache(files, kinds, max(CACHE_BYTES, 2 * slice_bytes))
    plane = (layout.height, layout.width)
    axes = (("c",) if layout.rgb else ()) + (("z",) if folder else ()) + ("y", "x")
    shape = ((3,) if layout.rgb else ()) + ((len(files),) if folder else ()) + plane

    def read(region: Region) -> np.ndarray:
        named = dict(zip(axes, region, strict=True))
        y, x = named["y"], named["x"]
        c = named.get("c", slice(0, 1))
        z = named.get("z", slice(0, 1))
        planes = []
        for index in range(z.start, z.stop):
            data = cache.get(index)
            if data.shape[:2] != plane or (data.ndim == 3) != layout.rgb:
                raise input_error(
                    files[index],
                    f"slice decodes to shape {data.shape}, not {layout.describe()} as at open",
                )
            part = data[y, x]
            planes.append(np.moveaxis(part[..., c], -1, 0) if layout.rgb else part)
        if layout.rgb:
            stacked = np.stack(planes, axis=1) if planes else _empty(region, layout.dtype)
            out = stacked if folder else stacked[:, 0]
        else:
            stacked = np.stack(planes) if planes else _empty(region, layout.dtype)
            out = stacked if folder else stacked[0]
        return np.ascontiguousarray(out, dtype=layout.dtype)

    return ImageSource(
        path=path,
        format="slices",
        axes=axes,
        shape=shape,
        dtype=layout.dtype,
        spacing=(1.0,) * (3 if folder else 2),
        unit="",
        read=read,
        tile=((3,) if layout.rgb else ()) + ((1,) if folder else ()) + plane,
        metadata={"slices": len(files)} if folder else {},
        files=tuple(files),
    )


def _empty(region: Region, dtype: np.dtype) -> np.ndarray:
    """An empty block of the region's shape (a region with no z slices)."""
    return np.zeros(tuple(s.stop - s.start for s in region), dtype=dtype)
