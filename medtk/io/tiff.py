"""TIFF and BigTIFF (plain, multipage, ImageJ, OME-TIFF, tiled pyramids) via tifffile.

The image is the file's first series at full resolution (``series[0]``, level 0): the
store writer builds its own pyramid, so a file's native levels are only counted. Pixels
are read through tifffile's zarr store, which decodes only the tiles or strips a region
touches and is safe to share between threads (tifffile guards the file with a lock). A
level 0 that is one tiled 2D page (a whole-slide image) takes a shorter path: the tiles'
bytes are read under the lock and decoded outside it, so reader threads decode in
parallel, and at about half the cost per tile.

tifffile names axes with letters; medtk maps them to NGFF names (``S``/``C``/``E`` → c,
``Z``/``Q``/``I`` and other stacking letters → z, ``T`` → t, ``Y`` → y, ``X`` → x), drops
axes of length 1 and transposes to NGFF order in ``read``. Two file axes that map to one
NGFF axis (``I`` and ``Z``) are merged, outer first. Alpha is dropped from 8-bit RGBA.

Spacing comes, per axis, from the first source that states it: OME-XML physical sizes,
ImageJ's ``spacing``/``unit`` (with the resolution tags for y and x), an Aperio ``MPP``,
then the resolution tags in inches or centimetres. 72 and 96 dots per inch are what
graphics programs write by default, not a measurement, and are ignored.

Damaged files: tifffile reads as much as it can, which for a truncated stack silently means
fewer pages. ``open`` therefore refuses a file whose chain of pages breaks, whose
contiguous data or first/last page's tiles reach past the end of the file; a tile that
still cannot be decoded raises at ``read``. Every error is one line naming the file.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from medtk.io.sniff import describe, input_error, input_errors, native_dtype, read_head
from medtk.io.source import AXIS_ORDER, ImageSource, Region, metadata_from
from medtk.io.wsi_metadata import (
    MICROMETERS_PER,
    aperio_mpp_and_power,
    common_unit,
    is_aperio,
    objective_power,
    positive_float,
    tidy,
    to_micrometers,
    unit_name,
)

LOG = logging.getLogger(__name__)
TIFF_MAGICS: frozenset[bytes] = frozenset({b"II*\0", b"MM\0*", b"II+\0", b"MM\0+"})
#: tifffile axis letters with a fixed NGFF meaning; any other letter stacks along z.
AXIS_NAMES: dict[str, str] = {
    "S": "c",
    "C": "c",
    "E": "c",  # lambda: spectral channels
    "Z": "z",
    "Q": "z",
    "I": "z",
    "T": "t",
    "Y": "y",
    "X": "x",
}
#: Resolution units of the TIFF tag (ResolutionUnit values) → micrometres per unit.
RESOLUTION_UNITS: dict[int, float] = {2: 25400.0, 3: 10000.0, 4: 1000.0, 5: 1.0}
#: Dots per inch that graphics programs write by default: no statement about pixel size.
DEFAULT_DPI: frozenset[float] = frozenset({72.0, 96.0})
#: tifffile format flags of whole-slide scanners, and of microscope software.
WSI_FLAGS = ("svs", "ndpi", "scn", "philips", "bif", "qpi")
MICROSCOPY_FLAGS = (
    "ome", "imagej", "lsm", "stk", "fluoview", "micromanager", "mmstack", "ndtiff", "nih",
    "scanimage", "andor", "metaseries", "sis", "fei", "sem", "tvips", "nuvu", "indica",
)  # fmt: skip
#: tifffile log messages that mean the chain of pages is broken (truncated or damaged).
BROKEN_CHAIN = (
    "invalid page offset",
    "invalid offset to page",
    "invalid offset to first page",
    "corrupted tag list of page",
)
RGB_PHOTOMETRIC = frozenset({2, 6})  # RGB, YCbCr (decoded to RGB)


def is_tiff(path: Path | str) -> bool:
    """True when ``path`` starts with a TIFF or BigTIFF header (either byte order)."""
    return read_head(path, 4) in TIFF_MAGICS


class TiffReader:
    """TIFF files of any flavour tifffile knows, read tile by tile through its zarr store."""

    def sniff(self, path: Path) -> bool:
        """True for a TIFF or BigTIFF header (``II*\\0``, ``MM\\0*``, ``II+\\0``, ``MM\\0+``)."""
        try:
            return is_tiff(path)
        except Exception:  # sniffing must never raise
            return False

    def open(self, path: Path) -> ImageSource:
        """Parse the file's structure and describe its first series; no pixels are decoded."""
        import tifffile

        path = Path(path)
        if not is_tiff(path):
            raise input_error(path, "not a TIFF file (no TIFF header)")
        with _TiffLog() as log:
            try:
                tif = tifffile.TiffFile(path)
            except Exception as exc:
                raise input_error(path, f"not a readable TIFF ({describe(exc)})") from None
            with input_errors(path, "unreadable TIFF", cleanup=tif.close):
                return _describe(path, tif, log)


class _TiffLog(logging.Filter):
    """Collects (and keeps off the console) what tifffile logs on this thread while opening.

    tifffile reports a broken page chain only in its log and carries on with the pages it
    found; medtk turns that into an error instead of silently ingesting part of a stack.
    """

    def __init__(self) -> None:
        super().__init__()
        self.thread = threading.get_ident()
        self.messages: list[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if record.thread != self.thread:
            return True
        message = record.getMessage()
        self.messages.append(message)
        LOG.debug("tifffile: %s", message)
        return False

    def __enter__(self) -> _TiffLog:
        logging.getLogger("tifffile").addFilter(self)
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger("tifffile").removeFilter(self)

    def broken_chain(self) -> str | None:
        """The first message saying pages could not be followed, or ``None``."""
        return next((m for m in self.messages if any(b in m for b in BROKEN_CHAIN)), None)


@dataclass(frozen=True)
class AxisMap:
    """How the file's axes (tifffile letters) become the NGFF axes ``read`` returns.

    :param letters: tifffile's axis letters of the series, e.g. ``"TZCYX"`` or ``"YXS"``.
    :param source_shape: the series' shape, one entry per letter.
    :param groups: for each NGFF axis, the file axes it is made of (outer first).
    :param axes: the NGFF axes, in NGFF order.
    :param shape: the NGFF shape (alpha already left out of ``c``).
    """

    letters: str
    source_shape: tuple[int, ...]
    groups: tuple[tuple[int, ...], ...]
    axes: tuple[str, ...]
    shape: tuple[int, ...]

    @classmethod
    def plan(cls, letters: str, shape: Sequence[int], drop_alpha: bool = False) -> AxisMap:
        """Group the file's axes by NGFF name; length-1 axes other than y and x are dropped.

        :param letters: tifffile's axes string.
        :param shape: the series' shape.
        :param drop_alpha: keep only the first 3 entries of ``c`` (8-bit RGBA).
        """
        shape = tuple(int(n) for n in shape)
        if len(letters) != len(shape):
            raise ValueError(f"axes {letters!r} do not match shape {shape}")
        grouped: dict[str, list[int]] = {}
        for index, letter in enumerate(letters):
            if shape[index] == 1 and letter not in "YX":
                continue
            grouped.setdefault(AXIS_NAMES.get(letter, "z"), []).append(index)
        if len(grouped.get("y", [])) != 1 or len(grouped.get("x", [])) != 1:
            raise ValueError(f"axes {letters!r} have no single height (Y) and width (X)")
        axes = tuple(a for a in AXIS_ORDER if a in grouped)
        groups = tuple(tuple(grouped[a]) for a in axes)
        sizes = [math.prod(shape[i] for i in group) for group in groups]
        if drop_alpha and "c" in axes:
            c = axes.index("c")
            sizes[c] = min(sizes[c], 3)
        return cls(letters, shape, groups, axes, tuple(sizes))

    def source_key(self, region: Region) -> tuple[int | slice, ...]:
        """The file-order index covering ``region``; merged axes read whole inner rows."""
        key: list[int | slice] = [0] * len(self.source_shape)
        for group, part in zip(self.groups, region, strict=True):
            if len(group) == 1:
                key[group[0]] = part
                continue
            inner = math.prod(self.source_shape[i] for i in group[1:])
            stop = (part.stop - 1) // inner + 1 if part.stop > part.start else part.start // inner
            key[group[0]] = slice(part.start // inner, stop)
            for i in group[1:]:
                key[i] = slice(0, self.source_shape[i])
        return tuple(key)

    def arrange(self, data: np.ndarray, region: Region) -> np.ndarray:
        """The array read with ``source_key(region)`` in NGFF order, cropped to ``region``."""
        kept = [i for group in self.groups for i in group]
        position = {index: n for n, index in enumerate(sorted(kept))}
        data = data.transpose([position[i] for i in kept])
        if all(len(group) == 1 for group in self.groups):
            return data
        merged_shape: list[int] = []
        crop: list[slice] = []
        start = 0
        for group, part in zip(self.groups, region, strict=True):
            size = math.prod(data.shape[start : start + len(group)])
            merged_shape.append(size)
            if len(group) == 1:
                crop.append(slice(None))
            else:
                inner = math.prod(self.source_shape[i] for i in group[1:])
                offset = part.start - (part.start // inner) * inner
                crop.append(slice(offset, offset + part.stop - part.start))
            start += len(group)
        return data.reshape(merged_shape)[tuple(crop)]

    def tile(self, chunks: Sequence[int]) -> tuple[int, ...]:
        """The file's chunk shape (tile or strip, one page deep) in NGFF axes."""
        return tuple(
            max(1, min(math.prod(chunks[i] for i in group), size))
            for group, size in zip(self.groups, self.shape, strict=True)
        )


class _TiffPixels:
    """Thread-safe region reads of one series' level 0 through tifffile's zarr store."""

    def __init__(self, path: Path, tif: Any, series: Any, axis_map: AxisMap, dtype: np.dtype):
        import zarr

        self.path = path
        self.tif = tif
        self.series = series
        self.axis_map = axis_map
        self.dtype = dtype
        self.store = series.aszarr(level=0)
        self.array = zarr.open(self.store, mode="r")
        if tuple(self.array.shape) != axis_map.source_shape:
            raise ValueError(f"zarr shape {self.array.shape} != series {axis_map.source_shape}")
        self.page = _single_tiled_page(series)

    def read(self, region: Region) -> np.ndarray:
        """``region`` (NGFF order) decoded from the tiles it touches."""
        key = self.axis_map.source_key(region)
        try:
            data = self._read_tiles(key) if self.page is not None else np.asarray(self.array[key])
        except Exception as exc:
            raise input_error(self.path, self._diagnose(region, exc)) from None
        return np.ascontiguousarray(self.axis_map.arrange(data, region), dtype=self.dtype)

    def _read_tiles(self, key: tuple[int | slice, ...]) -> np.ndarray:
        """A ``(y, x[, s])`` box of one tiled page: bytes read under the file's lock, tiles
        decoded outside it, so threads decode in parallel (whole-slide images)."""
        page = self.page
        rows, cols = key[0], key[1]
        if not isinstance(rows, slice) or not isinstance(cols, slice):
            raise TypeError(f"a tiled page is read by row and column ranges, not {key}")
        tile_h, tile_w = page.tilelength, page.tilewidth
        across = -(-page.imagewidth // tile_w)
        ty = range(rows.start // tile_h, -(-rows.stop // tile_h))
        tx = range(cols.start // tile_w, -(-cols.stop // tile_w))
        indices = [y * across + x for y in ty for x in tx]
        box = np.empty((len(ty) * tile_h, len(tx) * tile_w, *page.shape[2:]), dtype=page.dtype)
        fh = self.tif.filehandle
        offsets = [page.dataoffsets[i] for i in indices]
        counts = [page.databytecounts[i] for i in indices]
        for data, index in fh.read_segments(offsets, counts, indices=indices, lock=fh.lock):
            tile = page.decode(data, index, jpegtables=page.jpegtables)[0]
            y, x = divmod(index, across)
            top, left = (y - ty.start) * tile_h, (x - tx.start) * tile_w
            target = box[top : top + tile_h, left : left + tile_w]
            target[...] = 0 if tile is None else tile.reshape(target.shape)  # None: no tile
        top, left = ty.start * tile_h, tx.start * tile_w
        crop = box[rows.start - top : rows.stop - top, cols.start - left : cols.stop - left]
        return crop[(slice(None), slice(None), *key[2:])]

    def _diagnose(self, region: Region, exc: Exception) -> str:
        """Why a read failed: name the first tile past the end of the file if there is one."""
        with contextlib.suppress(Exception), self.tif.filehandle.lock:
            size = self.path.stat().st_size
            for number, page in enumerate(self.series):
                problem = truncated_segment(page, size, number)
                if problem:
                    return problem
        where = ", ".join(
            f"{a} {s.start}:{s.stop}" for a, s in zip(self.axis_map.axes, region, strict=True)
        )
        return f"cannot decode the TIFF data of region {where} ({describe(exc)})"

    def close(self) -> None:
        """Release the store's file cache and the file handle."""
        with contextlib.suppress(Exception):
            self.store.close()
        with contextlib.suppress(Exception):
            self.tif.close()


def _single_tiled_page(series: Any) -> Any:
    """Level 0's page when it is one plain tiled 2D page (``YX`` or ``YXS``, samples
    interleaved), the layout of whole-slide images; ``None`` for anything else."""
    try:
        page = series.levels[0].pages[0] if len(series.levels[0].pages) == 1 else None
        if page is None or not page.is_tiled or page.tiledepth > 1:
            return None
        if series.axes not in ("YX", "YXS") or tuple(series.shape) != tuple(page.shape):
            return None
        if page.planarconfig != 1 and page.samplesperpixel > 1:
            return None
        return page
    except Exception:  # any surprise: use the general path
        return None


def truncated_segment(page: Any, size: int, number: int) -> str | None:
    """``"truncated TIFF (tile 12 of page 0 …)"`` when a page's data reaches past the end.

    :param page: a page (or frame) of the series; ``None`` when tifffile could not load it.
    :param size: the size of the file the series starts in; a page of a multi-file
        OME-TIFF is checked against its own file.
    :param number: the page's index in the series, for the message.
    """
    if page is None:
        return f"truncated or damaged TIFF (page {number} cannot be read)"
    with contextlib.suppress(Exception):
        size = int(page.parent.filehandle.size)
    kind = "tile" if getattr(page, "is_tiled", False) else "strip"
    offsets = page.dataoffsets
    counts = page.databytecounts
    for index, (offset, count) in enumerate(zip(offsets, counts, strict=False)):
        if offset and count and offset + count > size:
            return (
                f"truncated TIFF ({kind} {index} of page {number} lies beyond the end of the "
                f"file: it ends at byte {offset + count}, the file has {size})"
            )
    return None


def _describe(path: Path, tif: Any, log: _TiffLog) -> ImageSource:
    """Check the structure, then build the ``ImageSource`` for the first series."""
    all_series = tif.series
    broken = log.broken_chain()
    if broken:
        detail = re.sub(r"<[^>]*>\s*", "", broken).strip()
        pages = len(tif.pages)
        where = f"after page {pages - 1}" if pages else "before the first page"
        raise input_error(
            path, f"truncated or damaged TIFF (the chain of pages breaks {where}: {detail})"
        )
    if not all_series or all_series[0] is None:
        raise input_error(path, "TIFF contains no image")
    series = all_series[0]
    _check_complete(path, series)
    keyframe = series.keyframe
    raw = np.dtype(series.dtype)
    if raw.kind not in "biuf":
        raise input_error(path, f"TIFF samples of type {raw} are not supported")
    dtype = np.dtype(np.uint8) if raw.kind == "b" else native_dtype(raw)
    samples = int(getattr(keyframe, "samplesperpixel", 1) or 1)
    rgb = int(keyframe.photometric) in RGB_PHOTOMETRIC and samples in (3, 4)
    drop_alpha = rgb and samples == 4 and dtype == np.uint8 and "S" in series.axes
    try:
        axis_map = AxisMap.plan(series.axes, series.shape, drop_alpha=drop_alpha)
    except ValueError as exc:
        raise input_error(path, f"unsupported TIFF layout ({exc})") from None
    if math.prod(axis_map.shape) == 0:
        raise input_error(path, f"TIFF image is empty (shape {series.shape})")
    pixels = _TiffPixels(path, tif, series, axis_map, dtype)
    spatial = [a for a in axis_map.axes if a in ("z", "y", "x")]
    stated = _spacing_found(tif, keyframe)
    found, unit = common_unit({a: stated[a] for a in spatial if a in stated})
    levels = series.levels
    metadata: dict[str, Any] = {
        "native_levels": len(levels),
        "native_downsamples": _downsamples(levels, series.axes),
        "tiff_axes": series.axes,
    }
    metadata.update(_slide_facts(tif, found, unit))
    metadata["modality"] = _modality(tif, rgb and dtype == np.uint8, keyframe, len(levels))
    return ImageSource(
        path=path,
        format="tiff",
        axes=axis_map.axes,
        shape=axis_map.shape,
        dtype=dtype,
        spacing=tuple(found.get(a, 1.0) for a in spatial),
        unit=unit,
        read=pixels.read,
        tile=axis_map.tile(pixels.array.chunks),
        metadata=metadata_from(metadata),
        files=(path,),
        close=pixels.close,
    )


def _check_complete(path: Path, series: Any) -> None:
    """Refuse data that reaches past the end of the file (a cut download or copy)."""
    size = path.stat().st_size
    if series.dataoffset is not None:  # contiguous: tifffile computes offsets from page 0
        end = int(series.dataoffset) + int(series.nbytes)
        if end > size:
            raise input_error(
                path,
                f"truncated TIFF (the image data ends at byte {end}, the file has {size})",
            )
        return
    count = len(series)
    for number in sorted({0, count - 1}):
        problem = truncated_segment(series[number], size, number)
        if problem:
            raise input_error(path, problem)


def _downsamples(levels: Sequence[Any], letters: str) -> list[float]:
    """Each native level's downsample factor along x, relative to level 0."""
    x = letters.index("X") if "X" in letters else -1
    width = int(levels[0].shape[x])
    return [float(tidy(width / max(int(level.shape[x]), 1))) for level in levels]


def _spacing_found(tif: Any, keyframe: Any) -> dict[str, tuple[float, str]]:
    """Axis → ``(spacing, NGFF unit)`` for the axes the file states, best source first."""
    found: dict[str, tuple[float, str]] = {}
    sources: list[Mapping[str, tuple[float, str]]] = []
    if tif.is_ome:
        sources.append(_ome_spacing(tif.ome_metadata))
    if tif.is_imagej:
        sources.append(_imagej_spacing(tif.imagej_metadata or {}, keyframe))
    mpp, _ = aperio_mpp_and_power(_description(tif))
    if mpp is not None:
        sources.append({"y": (mpp, "micrometer"), "x": (mpp, "micrometer")})
    sources.append(_tag_spacing(keyframe))
    for source in sources:
        for axis, value in source.items():
            found.setdefault(axis, value)
    return found


def _description(tif: Any) -> str:
    """The first page's ImageDescription (where Aperio and ImageJ write), or ``""``."""
    with contextlib.suppress(Exception):
        return str(tif.pages.first.description or "")
    return ""


def _ome_elements(xml: str | None) -> Iterator[ET.Element]:
    """Every element of an OME-XML document (namespaces kept); nothing if it does not parse."""
    if not xml:
        return iter(())
    try:
        return ET.fromstring(xml).iter()
    except ET.ParseError:
        return iter(())


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _ome_spacing(xml: str | None) -> dict[str, tuple[float, str]]:
    """PhysicalSizeX/Y/Z of the first ``Pixels`` element, with their units (µm by default)."""
    pixels = next((e for e in _ome_elements(xml) if _local(e.tag) == "Pixels"), None)
    if pixels is None:
        return {}
    found: dict[str, tuple[float, str]] = {}
    for axis in "ZYX":
        value = positive_float(pixels.get(f"PhysicalSize{axis}"))
        unit = unit_name(pixels.get(f"PhysicalSize{axis}Unit", "µm"))
        if value is not None and unit is not None:
            found[axis.lower()] = (value, unit)
    return found


def _ome_magnification(xml: str | None) -> float | int | None:
    """The first objective's NominalMagnification in an OME-XML document."""
    for element in _ome_elements(xml):
        if _local(element.tag) == "Objective":
            power = objective_power(element.get("NominalMagnification"))
            if power is not None:
                return power
    return None


def _imagej_spacing(meta: Mapping[str, Any], keyframe: Any) -> dict[str, tuple[float, str]]:
    """ImageJ: z from ``spacing``, y/x from the resolution tags (pixels per ``unit``)."""
    unit = unit_name(meta.get("unit"))
    if unit is None:
        return {}
    found: dict[str, tuple[float, str]] = {}
    z = positive_float(meta.get("spacing"))
    if z is not None:
        found["z"] = (z, unit)
    x_res, y_res = _resolution(keyframe)
    for axis, per_unit in (("y", y_res), ("x", x_res)):
        if per_unit is not None:
            found[axis] = (1.0 / per_unit, unit)
    return found


def _resolution(keyframe: Any) -> tuple[float | None, float | None]:
    """XResolution and YResolution (pixels per unit) as floats, each ``None`` if unusable."""
    try:
        x_res, y_res = keyframe.resolution
    except Exception:
        return None, None
    return positive_float(x_res), positive_float(y_res)


def _tag_spacing(keyframe: Any) -> dict[str, tuple[float, str]]:
    """y/x spacing from the resolution tags in inches or centimetres (not 72/96 dpi)."""
    try:
        unit = int(keyframe.resolutionunit)
    except Exception:
        return {}
    micrometers = RESOLUTION_UNITS.get(unit)
    x_res, y_res = _resolution(keyframe)
    if micrometers is None or x_res is None:
        return {}
    y_res = y_res or x_res
    if unit == 2 and x_res in DEFAULT_DPI and y_res in DEFAULT_DPI:
        return {}
    return {"y": (micrometers / y_res, "micrometer"), "x": (micrometers / x_res, "micrometer")}


def _slide_facts(tif: Any, found: Mapping[str, float], unit: str) -> dict[str, Any]:
    """``mpp`` (µm per pixel, y and x) when the pixel size is known, and ``magnification``."""
    facts: dict[str, Any] = {}
    if "y" in found and "x" in found and unit in MICROMETERS_PER:
        mpp = [to_micrometers(found["y"], unit), to_micrometers(found["x"], unit)]
        if None not in mpp:
            facts["mpp"] = mpp
    _, power = aperio_mpp_and_power(_description(tif))
    if power is None and tif.is_ome:
        power = _ome_magnification(tif.ome_metadata)
    facts["magnification"] = power
    return facts


def _modality(tif: Any, rgb8: bool, keyframe: Any, levels: int) -> str | None:
    """``"WSI"`` for slide scanners' files and RGB tiled pyramids, ``"microscopy"`` for
    microscope software's files, else ``None`` (unknown: left for the user to say)."""
    if any(_flag(tif, name) for name in WSI_FLAGS) or is_aperio(_description(tif)):
        return "WSI"
    if rgb8 and bool(getattr(keyframe, "is_tiled", False)) and levels > 1:
        return "WSI"
    if any(_flag(tif, name) for name in MICROSCOPY_FLAGS):
        return "microscopy"
    return None


def _flag(tif: Any, name: str) -> bool:
    """tifffile's ``is_<name>`` format flag, False where this tifffile lacks it."""
    try:
        return bool(getattr(tif, f"is_{name}", False))
    except Exception:
        return False
