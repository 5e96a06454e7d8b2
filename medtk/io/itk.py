"""NRRD (``.nrrd``, ``.nhdr``) and MetaImage (``.mha``, ``.mhd``) via SimpleITK.

These are the formats 3D Slicer and ITK write. Neither is tiled (and a gzip-encoded NRRD
cannot be read at random), so ``open`` reads only the header and the first ``read``
loads the whole image once, under a lock, and keeps it for every later region; memory is
one copy of the image, which for these formats is a CT or MR volume, not a slide.

SimpleITK's array is ``(z, y, x)`` (C order of ITK's x-fastest buffer); spacing, origin
and direction are reversed to match. ITK reads NRRD in RAS space into LPS, so geometry
follows medtk's convention (as for DICOM and NIfTI): LPS, listed in (z, y, x) order,
``direction[a]`` the unit vector of image axis ``a``. Vector pixels (RGB, displacement
fields) become a leading ``"c"`` axis.
"""

from __future__ import annotations

import math
import re
import threading
from pathlib import Path
from typing import Any

import numpy as np

from medtk.io.sniff import input_error, input_errors, native_dtype, one_line, read_head
from medtk.io.source import MILLIMETER, ImageSource, Region, metadata_from

NRRD_MAGIC = b"NRRD000"
SNIFF_BYTES = 2048
#: How much of a file can be header (header text is short; this bounds the parsing).
HEADER_BYTES = 1 << 16
META_OBJECT = re.compile(rb"^\s*ObjectType\s*=", re.MULTILINE)
META_ELEMENT = re.compile(rb"^\s*(ElementType|ElementDataFile)\s*=", re.MULTILINE)
NAMES = {"NrrdImageIO": "NRRD", "MetaImageIO": "MetaImage"}
NUMBER = re.compile(r"[0-9]{1,12}")


def itk_kind(head: bytes) -> str | None:
    """The SimpleITK ImageIO for a file's first bytes: NRRD, MetaImage, or ``None``."""
    if head.startswith(NRRD_MAGIC):
        return "NrrdImageIO"
    if META_OBJECT.search(head) and META_ELEMENT.search(head):
        return "MetaImageIO"
    return None


class ItkReader:
    """NRRD and MetaImage images; the whole image is read once, on the first ``read``."""

    def sniff(self, path: Path) -> bool:
        """True for ``NRRD000…`` magic, or a MetaImage text header (``ObjectType = …``)."""
        try:
            return itk_kind(read_head(path, SNIFF_BYTES)) is not None
        except Exception:  # sniffing must never raise
            return False

    def open(self, path: Path) -> ImageSource:
        """Read the header only; check the data file exists and is long enough.

        :param path: a ``.nrrd``/``.nhdr`` or ``.mha``/``.mhd`` file (any name).
        :raises BadInputError: one line naming the file and the problem.
        """
        import SimpleITK as sitk  # noqa: N813 (SimpleITK's own convention)

        path = Path(path)
        kind = itk_kind(read_head(path, SNIFF_BYTES))
        if kind is None:
            raise input_error(path, "not a NRRD or MetaImage file (no NRRD magic or header)")
        name = NAMES[kind]
        fields, offset = _header_fields(path, kind)
        _check_header(path, kind, fields)
        reader = sitk.ImageFileReader()
        try:
            reader.SetFileName(str(path))
            reader.SetImageIO(kind)
            reader.ReadImageInformation()
            dims = int(reader.GetDimension())
            size = tuple(int(n) for n in reader.GetSize())
            components = int(reader.GetNumberOfComponents())
            probe = sitk.Image([1] * dims, reader.GetPixelID(), components)
            dtype = native_dtype(sitk.GetArrayViewFromImage(probe).dtype)
        except Exception as exc:
            raise input_error(path, f"unreadable {name} header ({itk_message(exc)})") from None
        if dims not in (2, 3, 4) or any(n <= 0 for n in size):
            raise input_error(path, f"unexpected size {size}; medtk reads 2D, 3D and 4D images")
        nbytes = math.prod(size) * components * dtype.itemsize
        files = _data_files(path, kind, fields, offset, nbytes)
        return _source(
            path,
            kind=kind,
            header=reader,
            dims=dims,
            size=size,
            components=components,
            dtype=dtype,
            files=files,
        )


def itk_message(exc: BaseException) -> str:
    """The useful part of a SimpleITK error (its ``ERROR:`` line), on one line."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    for i, line in enumerate(lines):
        if "ERROR:" in line:
            message = line.split("ERROR:", 1)[1].strip()
            message = re.sub(r"^\w+\(0x[0-9a-fA-F]+\):\s*", "", message)
            rest = lines[i + 1 :]
            if rest and all(line.startswith("[nrrd]") for line in rest):
                # teem's trace: the last line says what went wrong
                rest = [rest[-1].removeprefix("[nrrd]").strip()]
            return one_line(" ".join([message, *rest]))
    return one_line(lines[-1]) if lines else type(exc).__name__


def _header_fields(path: Path, kind: str) -> tuple[dict[str, str], int]:
    """Header keys (lower-case) and the byte offset where inline data starts."""
    head = read_head(path, HEADER_BYTES)
    fields: dict[str, str] = {}
    if kind == "NrrdImageIO":
        end = re.search(rb"\r?\n\r?\n", head)
        text = head[: end.start() if end else len(head)].decode("latin-1")
        for line in text.splitlines()[1:]:
            if ":" in line and not line.startswith("#"):
                key, _, value = line.partition(":")
                fields[key.strip().lower()] = value.lstrip("=").strip()
        return fields, end.end() if end else -1
    match = re.search(rb"^\s*ElementDataFile\s*=[^\n]*\n", head, re.MULTILINE)
    text = head[: match.end() if match else len(head)].decode("latin-1")
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            fields[key.strip().lower()] = value.strip()
    return fields, match.end() if match else -1


def _check_header(path: Path, kind: str, fields: dict[str, str]) -> None:
    """Check the keys that size the image before ITK parses them.

    ITK's MetaIO corrupts memory (and aborts the process) on some malformed headers, such
    as a large ``NDims``; so dimensions and sizes are checked here first.
    """
    if kind == "NrrdImageIO":
        dims_key, sizes_key, type_key, allowed = "dimension", "sizes", "type", range(1, 6)
    else:
        dims_key, sizes_key, type_key, allowed = "NDims", "DimSize", "ElementType", range(1, 5)
    dims_text = fields.get(dims_key.lower(), "")
    if not NUMBER.fullmatch(dims_text) or int(dims_text) not in allowed:
        raise input_error(
            path, f"unsupported or missing {dims_key!r} in the header: {one_line(dims_text)!r}"
        )
    sizes_text = fields.get(sizes_key.lower(), "")
    sizes = sizes_text.split()
    if len(sizes) != int(dims_text) or not all(NUMBER.fullmatch(n) and int(n) > 0 for n in sizes):
        raise input_error(
            path,
            f"header {sizes_key!r} {one_line(sizes_text)!r} does not give {dims_text} "
            "positive sizes",
        )
    if not fields.get(type_key.lower()):
        raise input_error(path, f"header has no {type_key!r}")
    channels = fields.get("elementnumberofchannels", "1")
    if kind == "MetaImageIO" and not (NUMBER.fullmatch(channels) and 1 <= int(channels) <= 256):
        raise input_error(path, f"header 'ElementNumberOfChannels' {one_line(channels)!r}")


def _data_files(
    path: Path, kind: str, fields: dict[str, str], offset: int, nbytes: int
) -> list[Path]:
    """The files holding the image (header first), checked to exist and be long enough.

    Only raw, uncompressed data with a known offset is size-checked; a truncated
    compressed file fails on the first ``read`` instead.
    """
    if kind == "NrrdImageIO":
        detached = fields.get("data file", fields.get("datafile"))
        raw = fields.get("encoding", "raw").lower() == "raw"
        plain = raw and not ({"line skip", "lineskip", "byte skip", "byteskip"} & set(fields))
    else:
        detached = fields.get("elementdatafile")
        if detached is not None and detached.upper() == "LOCAL":
            detached = None
        compressed = fields.get("compresseddata", "false").lower() == "true"
        binary = fields.get("binarydata", "true").lower() == "true"
        plain = binary and not compressed and "headersize" not in fields
    if detached is None:
        if plain and offset >= 0:
            _check_length(path, path.stat().st_size - offset, nbytes)
        return [path]
    if not detached.strip():
        raise input_error(path, "the header names no data file")
    if "%" in detached or detached.split()[0].upper() == "LIST":
        return [path]  # slice-per-file layouts; SimpleITK reports missing files itself
    data = path.parent / detached
    if not data.is_file():
        raise input_error(path, f"the data file {detached!r} named in the header does not exist")
    if plain:
        _check_length(data, data.stat().st_size, nbytes)
    return [path, data]


def _check_length(path: Path, have: int, need: int) -> None:
    """Refuse a raw data stream shorter than the header's size × type says."""
    if have < need:
        raise input_error(
            path, f"truncated: the header needs {need} bytes of image data, the file has {have}"
        )


def _geometry(reader: Any, dims: int) -> dict[str, Any]:
    """``origin`` and ``direction`` in LPS, (z, y, x) order (2D images get z = 0)."""
    origin = [float(v) for v in reader.GetOrigin()][:3]
    matrix = np.array(reader.GetDirection(), dtype=np.float64).reshape(dims, dims)
    space = np.eye(3)
    n = min(dims, 3)
    space[:n, :n] = matrix[:n, :n]
    origin = origin + [0.0] * (3 - len(origin))
    if not (np.all(np.isfinite(space)) and all(math.isfinite(v) for v in origin)):
        return {}
    return {
        "origin": origin[::-1],
        "direction": [[float(v) for v in space[:, axis][::-1]] for axis in (2, 1, 0)],
    }


def _source(
    path: Path,
    *,
    kind: str,
    header: Any,
    dims: int,
    size: tuple[int, ...],
    components: int,
    dtype: np.dtype,
    files: list[Path],
) -> ImageSource:
    """Describe the image; ``read`` loads it whole on first use and slices the copy."""
    import SimpleITK as sitk  # noqa: N813 (SimpleITK's own convention)

    axes = ("y", "x") if dims == 2 else ("z", "y", "x") if dims == 3 else ("t", "z", "y", "x")
    shape = tuple(reversed(size))
    channel_at = 1 if dims == 4 else 0
    if components > 1:
        axes = (*axes[:channel_at], "c", *axes[channel_at:])
        shape = (*shape[:channel_at], components, *shape[channel_at:])
    spacing = tuple(
        float(s) if math.isfinite(s) and s > 0 else 1.0
        for s in reversed(header.GetSpacing()[: min(dims, 3)])
    )
    lock = threading.Lock()
    held: dict[str, Any] = {}

    def load() -> np.ndarray:
        with lock:
            if "array" not in held:
                reader = sitk.ImageFileReader()
                try:
                    reader.SetFileName(str(path))
                    reader.SetImageIO(kind)
                    image = reader.Execute()
                    array = sitk.GetArrayViewFromImage(image)
                except Exception as exc:
                    raise input_error(
                        path, f"cannot read {NAMES[kind]} image data ({itk_message(exc)})"
                    ) from None
                if components > 1:
                    array = np.moveaxis(array, -1, channel_at)
                if array.shape != shape:
                    raise input_error(path, f"image data has shape {array.shape}, not {shape}")
                held["image"], held["array"] = image, array  # the view needs its image
            return held["array"]

    def read(region: Region) -> np.ndarray:
        with input_errors(path, "cannot read image data"):
            array = load()
        return np.array(array[region], dtype=dtype)

    def close() -> None:
        with lock:
            held.clear()

    return ImageSource(
        path=path,
        format="itk",
        axes=axes,
        shape=shape,
        dtype=dtype,
        spacing=spacing,
        unit=MILLIMETER,
        read=read,
        metadata=metadata_from({**_geometry(header, dims), "file_format": NAMES[kind]}),
        files=tuple(files),
        close=close,
    )
