"""DICOM: one file (single- or multi-frame), or a folder holding one series, via pydicom.

``open`` reads only headers (``stop_before_pixels``); ``read`` decodes just the slices a
region spans, one file (or frame) at a time, so a series of any length streams through
bounded memory. Every read opens its own file, so reads are thread-safe without a lock.

Geometry, shared by medtk's DICOM, NIfTI and ITK readers: ``origin`` and ``direction``
are in the patient LPS frame (DICOM's own), with coordinates listed in (z, y, x) order to
match medtk's axes. ``direction[a]`` is the unit vector of image axis ``a`` (rows in
z, y, x order), so the centre of voxel ``(k, j, i)`` lies at
``origin + k·spacing_z·direction[0] + j·spacing_y·direction[1] + i·spacing_x·direction[2]``.
For DICOM, ``direction`` is ``[slice normal, column cosine, row cosine]``, each reversed to
(z, y, x) order, and ``origin`` is the first slice's ``ImagePositionPatient`` reversed.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
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
from medtk.io.source import MILLIMETER, ImageSource, Region, metadata_from, region_shape

DICM_OFFSET = 128
DICM = b"DICM"
#: A folder is DICOM when one of its first this-many files (searched recursively) is.
SNIFF_FOLDER_FILES = 50
#: Media Storage Directory Storage: a DICOMDIR index, never an image.
DIRECTORY_SOP = "1.2.840.10008.1.3.10"
#: VL Whole Slide Microscopy Image Storage: frames are tiles of a slide, not z-slices.
WSI_SOP = "1.2.840.10008.5.1.4.1.1.77.1.6"
#: More frames than this in one file is a corrupt header, not an image.
MAX_FRAMES = 1_000_000
#: Largest relative deviation of one slice gap from the median gap.
SPACING_TOLERANCE = 0.01
#: Two slices closer than this (mm) along the normal sit at the same position.
SAME_POSITION_MM = 1e-3
#: Metadata names and the header keywords they come from.
TEXT_TAGS = {
    "modality": "Modality",
    "subject": "PatientID",
    "series_uid": "SeriesInstanceUID",
    "study_uid": "StudyInstanceUID",
    "series_description": "SeriesDescription",
}
#: Series named in the error for a folder that holds several.
MAX_SERIES_LISTED = 20


def has_preamble(path: Path) -> bool:
    """True when ``path`` is a file with ``DICM`` after the 128-byte preamble."""
    return read_head(path, len(DICM), DICM_OFFSET) == DICM


@dataclass
class _Plane:
    """One 2D image of the series: a single-frame file, or one frame of a multi-frame file."""

    path: Path
    frame: int | None
    position: np.ndarray | None
    orientation: np.ndarray | None
    instance: int | None
    slope: float | None
    intercept: float | None


@dataclass
class _Header:
    """What the reader needs from one file's header."""

    path: Path
    #: metadata strings, read while parsing so later steps touch no lazy element
    texts: dict[str, str | None]
    series_uid: str
    rows: int
    columns: int
    samples: int
    bits_allocated: int
    bits_stored: int
    signed: bool
    photometric: str
    forced: bool
    planes: list[_Plane]
    pixel_spacing: tuple[float, float]
    slice_spacing: float | None


class DicomReader:
    """DICOM images: a single file, or a folder (searched recursively) of one series."""

    def sniff(self, path: Path) -> bool:
        """True for a file with the ``DICM`` preamble, or a folder holding such a file."""
        try:
            path = Path(path)
            if path.is_dir():
                return any(has_preamble(f) for f in _walk_files(path, SNIFF_FOLDER_FILES))
            return has_preamble(path)
        except Exception:  # sniffing must never raise
            return False

    def open(self, path: Path) -> ImageSource:
        """Read every header, group, sort and check the slices; decode no pixel data.

        :param path: one DICOM file, or a folder searched recursively for one series.
        :raises BadInputError: one line naming the file or folder and the problem.
        """
        path = Path(path)
        if path.is_dir():
            headers = _folder_headers(path)
        elif is_regular_file(path):
            header = _read_header(path, forced=not has_preamble(path), single=True)
            if header is None:  # only for skipped files, which single=True turns into errors
                raise input_error(path, "holds no DICOM image")
            headers = [header]
        else:
            raise input_error(path, "does not exist or is not a file or folder")
        return _build_source(path, headers)


def _walk_files(folder: Path, limit: int | None = None) -> list[Path]:
    """Regular files under ``folder`` (recursively, sorted, hidden names skipped)."""
    found: list[Path] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            candidate = Path(root) / name
            if not is_regular_file(candidate):
                continue
            found.append(candidate)
            if limit is not None and len(found) >= limit:
                return found
    return found


def _folder_headers(folder: Path) -> list[_Header]:
    """Headers of the image files in ``folder``; non-DICOM and non-image files are skipped."""
    files = [f for f in _walk_files(folder) if has_preamble(f)]
    if not files:
        raise input_error(folder, "no DICOM files in folder (none has the DICM preamble)")
    headers = [h for h in (_read_header(f, forced=False, single=False) for f in files) if h]
    if not headers:
        raise input_error(
            folder,
            f"no DICOM image files in folder ({len(files)} DICOM file(s) hold no image, "
            "e.g. a DICOMDIR or a report)",
        )
    return headers


def _read_header(path: Path, *, forced: bool, single: bool) -> _Header | None:
    """Parse one file's header; ``None`` for a DICOM file that holds no image (skipped).

    :param forced: parse without the ``DICM`` preamble (a bare dataset).
    :param single: the file was named by the user, so a non-image is an error, not a skip.
    """
    import pydicom

    try:
        dataset = pydicom.dcmread(path, stop_before_pixels=True, force=forced)
        meta = getattr(dataset, "file_meta", None)
        sop = str(meta.get("MediaStorageSOPClassUID", "") if meta is not None else "")
        sop = sop or str(dataset.get("SOPClassUID", "") or "")
        has_image = "Rows" in dataset and "Columns" in dataset
    except Exception as exc:
        if forced:
            raise input_error(
                path, "not a DICOM file (no DICM preamble and no readable dataset)"
            ) from None
        raise input_error(path, f"unreadable DICOM header ({describe(exc)})") from None
    if not sop and not has_image:
        if forced:
            raise input_error(path, "not a DICOM file (no DICM preamble and no readable dataset)")
        raise input_error(path, "unreadable DICOM header (no SOP class after the DICM preamble)")
    if sop == WSI_SOP and has_image:
        raise input_error(
            path,
            "is a DICOM whole-slide image (its frames are tiles, not slices); "
            "read it with the OpenSlide reader",
        )
    if sop == DIRECTORY_SOP or not has_image:
        if single and sop == DIRECTORY_SOP:
            raise input_error(
                path, "is a DICOMDIR index, not an image; point medtk at a series' folder"
            )
        if single:
            name = pydicom.uid.UID(sop).name if sop else "unknown SOP class"
            raise input_error(path, f"holds no image (it is a {name} object, without Rows)")
        return None
    with input_errors(path, "unreadable DICOM header"):
        return _header(path, dataset, forced)


def _header(path: Path, dataset: Any, forced: bool) -> _Header:
    """The reader's view of one parsed header, with one plane per frame."""
    frames = int(dataset.get("NumberOfFrames", 1) or 1)
    if not 1 <= frames <= MAX_FRAMES:
        raise input_error(path, f"NumberOfFrames {frames} is not plausible")
    orientation = _floats(_lookup(dataset, "ImageOrientationPatient"), 6)
    position = _floats(_lookup(dataset, "ImagePositionPatient"), 3)
    instance = dataset.get("InstanceNumber")
    planes: list[_Plane] = []
    offsets = _floats(dataset.get("GridFrameOffsetVector"), frames) if frames > 1 else None
    for frame in range(frames):
        where = position
        if frames > 1:
            # Per-frame positions of an enhanced object, else the legacy offsets along
            # the normal (RT dose); the top-level position alone does not place frames.
            where = _floats(_frame_value(dataset, "ImagePositionPatient", frame), 3)
            if where is None and offsets is not None and position is not None:
                # offsets are relative to the first frame, or absolute (first = its z)
                step = offsets[frame] - offsets[0]
                where = position + step * _normal(orientation) if orientation is not None else None
        slope = _lookup(dataset, "RescaleSlope", frame)
        intercept = _lookup(dataset, "RescaleIntercept", frame)
        planes.append(
            _Plane(
                path=path,
                frame=frame if frames > 1 else None,
                position=where,
                orientation=_floats(_lookup(dataset, "ImageOrientationPatient", frame), 6),
                instance=int(instance) if instance not in (None, "") else None,
                slope=float(slope) if slope not in (None, "") else None,
                intercept=float(intercept) if intercept not in (None, "") else None,
            )
        )
    _check_decodable(path, dataset)
    texts = {name: _text(dataset, keyword) for name, keyword in TEXT_TAGS.items()}
    texts["rescale_type"] = _string(_lookup(dataset, "RescaleType", 0))
    return _Header(
        path=path,
        texts=texts,
        series_uid=texts["series_uid"] or "",
        rows=int(dataset.Rows),
        columns=int(dataset.Columns),
        samples=int(dataset.get("SamplesPerPixel", 1) or 1),
        bits_allocated=int(dataset.get("BitsAllocated", 16) or 16),
        bits_stored=int(dataset.get("BitsStored", dataset.get("BitsAllocated", 16)) or 16),
        signed=int(dataset.get("PixelRepresentation", 0) or 0) == 1,
        photometric=str(dataset.get("PhotometricInterpretation", "MONOCHROME2") or ""),
        forced=forced,
        planes=planes,
        pixel_spacing=_pixel_spacing(dataset),
        slice_spacing=_slice_spacing(dataset),
    )


def _check_decodable(path: Path, dataset: Any) -> None:
    """Refuse at ``open`` pixel data no installed package can decompress."""
    meta = getattr(dataset, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    if syntax is None or not syntax.is_compressed:
        return
    from pydicom.pixels import get_decoder

    try:
        decoder = get_decoder(syntax)
    except NotImplementedError:
        raise input_error(
            path, f"pixel data is compressed as {syntax.name}, which pydicom cannot decode"
        ) from None
    if not decoder.is_available:
        needs = "; ".join(getattr(decoder, "missing_dependencies", [])) or "a decoder plugin"
        raise input_error(
            path, f"pixel data is compressed as {syntax.name}; decoding it needs: {needs}"
        )


def _lookup(dataset: Any, keyword: str, frame: int | None = None) -> Any:
    """``keyword`` from the dataset, else from a multi-frame file's functional groups.

    Enhanced (multi-frame) objects keep spacing, orientation, position and rescale inside
    per-frame and shared functional group sequences rather than at the top level.
    """
    if keyword in dataset:
        return dataset.get(keyword)
    value = _frame_value(dataset, keyword, frame) if frame is not None else None
    if value is None and dataset.get("SharedFunctionalGroupsSequence"):
        value = _group_value(dataset.SharedFunctionalGroupsSequence[0], keyword)
    return value


def _frame_value(dataset: Any, keyword: str, frame: int) -> Any:
    """``keyword`` from frame ``frame``'s per-frame functional group, if there is one."""
    per_frame = dataset.get("PerFrameFunctionalGroupsSequence")
    if not per_frame or frame >= len(per_frame):
        return None
    return _group_value(per_frame[frame], keyword)


def _group_value(group: Any, keyword: str) -> Any:
    """``keyword`` from the first item of any macro sequence in a functional group."""
    for element in group:
        if element.VR == "SQ" and element.value and keyword in element.value[0]:
            return element.value[0].get(keyword)
    return None


def _floats(value: Any, count: int) -> np.ndarray | None:
    """``value`` as ``count`` finite floats, or ``None`` when missing or malformed."""
    if value is None or value == "":
        return None
    try:
        numbers = np.array([float(v) for v in value], dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if numbers.shape != (count,) or not np.all(np.isfinite(numbers)):
        return None
    return numbers


def _normal(orientation: np.ndarray) -> np.ndarray:
    """The slice normal: row cosine × column cosine (unit length where possible)."""
    normal = np.cross(orientation[:3], orientation[3:])
    length = float(np.linalg.norm(normal))
    return normal / length if length > 0 else np.array([0.0, 0.0, 1.0])


def _one_series(folder: Path, headers: list[_Header]) -> list[_Header]:
    """The headers of the single series in ``headers``; several series are an error."""
    series: dict[str, list[_Header]] = {}
    for header in headers:
        series.setdefault(header.series_uid, []).append(header)
    if len(series) == 1:
        return headers
    parts = []
    for uid, members in list(series.items())[:MAX_SERIES_LISTED]:
        first = members[0]
        description = first.texts["series_description"] or ""
        where = first.path.parent.relative_to(folder) if folder.is_dir() else first.path.parent
        parts.append(
            f"{uid or '(no SeriesInstanceUID)'} {description!r} ({len(members)} files, in "
            f"{str(where) if str(where) != '.' else 'the folder itself'})"
        )
    if len(series) > MAX_SERIES_LISTED:
        parts.append(f"and {len(series) - MAX_SERIES_LISTED} more")
    raise input_error(
        folder,
        f"holds {len(series)} DICOM series; point medtk at a folder (or file) holding "
        f"one of them: {'; '.join(parts)}",
    )


def _check_alike(headers: list[_Header]) -> None:
    """Every file of a series must share size, samples and bit depth."""
    first = headers[0]

    def signature(h: _Header) -> tuple[int, ...]:
        return (h.rows, h.columns, h.samples, h.bits_allocated, int(h.signed))

    for header in headers[1:]:
        if signature(header) != signature(first):
            raise input_error(
                header.path,
                f"slice is {header.rows}×{header.columns}, {header.samples} sample(s), "
                f"{header.bits_allocated} bits, but {first.path.name!r} is {first.rows}×"
                f"{first.columns}, {first.samples} sample(s), {first.bits_allocated} bits",
            )


def _sort_planes(source: Path, planes: list[_Plane]) -> tuple[list[_Plane], list[float] | None]:
    """Planes in slice order, and their positions along the normal when all have one.

    Sorted by position along the slice normal (row × column cosine) when every plane has a
    position and an orientation; otherwise by InstanceNumber (then file name and frame).
    """
    reference = planes[0].orientation
    positioned = reference is not None and all(
        p.position is not None and p.orientation is not None for p in planes
    )
    if positioned and reference is not None:
        for plane in planes:
            if np.max(np.abs(plane.orientation - reference)) > 1e-3:
                raise input_error(
                    source,
                    f"slices have different orientations ({_label(planes[0])} and "
                    f"{_label(plane)}); the series is not one volume",
                )
        normal = _normal(reference)
        keyed = sorted(
            ((float(np.dot(normal, p.position)), p) for p in planes),
            key=lambda item: (item[0], item[1].path.name, item[1].frame or 0),
        )
        for (a, pa), (b, pb) in pairwise(keyed):
            if b - a < SAME_POSITION_MM:
                raise input_error(
                    source,
                    f"two slices at the same position {a:g} mm ({_label(pa)} and "
                    f"{_label(pb)}); the series mixes acquisitions (echoes, phases or "
                    "repeats) — point medtk at one of them",
                )
        return [p for _, p in keyed], [k for k, _ in keyed]
    ordered = sorted(
        planes,
        key=lambda p: (
            p.instance if p.instance is not None else math.inf,
            p.path.name,
            p.frame or 0,
        ),
    )
    for a, b in pairwise(ordered):
        if a.instance is not None and a.instance == b.instance and a.frame == b.frame:
            raise input_error(
                source,
                f"slices have no positions and share InstanceNumber {a.instance} "
                f"({_label(a)} and {_label(b)}); cannot order them",
            )
    return ordered, None


def _label(plane: _Plane) -> str:
    """A plane's name in messages: the file name, plus the frame of a multi-frame file."""
    return plane.path.name if plane.frame is None else f"{plane.path.name} frame {plane.frame}"


def _z_spacing(source: Path, positions: list[float] | None, fallback: float | None) -> float:
    """Slice spacing: the median gap between sorted positions, checked to be uniform.

    Without positions (or with one slice): SpacingBetweenSlices, SliceThickness, or 1.0.
    """
    if positions is not None and len(positions) > 1:
        gaps = np.diff(np.array(positions))
        median = float(np.median(gaps))
        uneven = np.flatnonzero(np.abs(gaps - median) > SPACING_TOLERANCE * median)
        if uneven.size:
            shown = ", ".join(
                f"{positions[i]:g} → {positions[i + 1]:g} mm ({gaps[i]:g} mm)" for i in uneven[:3]
            )
            more = f" and {uneven.size - 3} more" if uneven.size > 3 else ""
            raise input_error(
                source,
                f"the series has gaps or uneven slice spacing (median {median:g} mm): "
                f"{shown}{more}",
            )
        return median
    return fallback if fallback is not None else 1.0


def _slice_spacing(dataset: Any) -> float | None:
    """SpacingBetweenSlices, else SliceThickness, when positive; ``None`` otherwise."""
    for keyword in ("SpacingBetweenSlices", "SliceThickness"):
        value = _lookup(dataset, keyword, 0)
        try:
            number = float(value) if value not in (None, "") else 0.0
        except (TypeError, ValueError):
            number = 0.0
        if number > 0 and math.isfinite(number):
            return number
    return None


def _pixel_spacing(dataset: Any) -> tuple[float, float]:
    """(row spacing, column spacing) = (y, x) in mm; 1.0 where the header does not say."""
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        values = _floats(_lookup(dataset, keyword, 0), 2)
        if values is not None and np.all(values > 0):
            return float(values[0]), float(values[1])
    return 1.0, 1.0


def _stored_dtype(header: _Header) -> np.dtype:
    """The dtype pydicom decodes stored values to (1-bit data unpacks to uint8)."""
    bits = header.bits_allocated
    if bits == 1:
        return np.dtype(np.uint8)
    if bits not in (8, 16, 32, 64):
        raise input_error(header.path, f"BitsAllocated {bits} is not supported")
    return np.dtype(f"{'i' if header.signed else 'u'}{bits // 8}")


def _stored_range(header: _Header) -> tuple[int, int]:
    """Smallest and largest stored value BitsStored and PixelRepresentation allow."""
    bits = max(1, min(header.bits_stored, header.bits_allocated, 64))
    if header.signed:
        return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return 0, 2**bits - 1


def _output_dtype(header: _Header, planes: Sequence[_Plane]) -> tuple[np.dtype, bool]:
    """The dtype ``read`` returns, and whether a rescale is applied.

    No rescale (or slope 1, intercept 0 everywhere) keeps the stored dtype. Integer slopes
    and intercepts give int16 when the whole range BitsStored allows still fits after
    rescaling (12-bit CT), else int32 (16-bit CT with intercept -1024): exact, and no
    larger than float32. Fractional slopes or intercepts give float32.
    """
    stored = _stored_dtype(header)
    if all(p.slope is None and p.intercept is None for p in planes):
        return stored, False
    pairs = {(_slope(p), _intercept(p)) for p in planes}
    if pairs == {(1.0, 0.0)}:
        return stored, False
    low, high = _stored_range(header)
    integral = all(s.is_integer() and i.is_integer() for s, i in pairs)
    ends = [s * v + i for s, i in pairs for v in (low, high)]
    for candidate in (np.int16, np.int32):
        limits = np.iinfo(candidate)
        if integral and limits.min <= min(ends) and max(ends) <= limits.max:
            return np.dtype(candidate), True
    return np.dtype(np.float32), True


def _slope(plane: _Plane) -> float:
    """RescaleSlope, 1 when absent."""
    return 1.0 if plane.slope is None else plane.slope


def _intercept(plane: _Plane) -> float:
    """RescaleIntercept, 0 when absent."""
    return 0.0 if plane.intercept is None else plane.intercept


def _rescale_metadata(header: _Header, planes: Sequence[_Plane]) -> dict[str, Any] | None:
    """``{"slope", "intercept", "unit"}``; lists per slice (in z order) when they differ."""
    if all(p.slope is None and p.intercept is None for p in planes):
        return None
    slopes = [_slope(p) for p in planes]
    intercepts = [_intercept(p) for p in planes]
    kind = header.texts["rescale_type"] or ""
    if kind.upper() == "US":  # "unspecified"
        kind = ""
    if not kind and (header.texts["modality"] or "").upper() == "CT":
        kind = "HU"
    return {
        "slope": slopes[0] if len(set(slopes)) == 1 else slopes,
        "intercept": intercepts[0] if len(set(intercepts)) == 1 else intercepts,
        "unit": kind,
    }


def _string(value: Any) -> str | None:
    """A header value as a stripped string, or ``None`` when absent or empty."""
    text = str(value).strip() if value is not None else ""
    return text or None


def _text(dataset: Any, keyword: str) -> str | None:
    """A top-level header string, or ``None`` when absent or empty (metadata omits it)."""
    return _string(dataset.get(keyword))


def _build_source(path: Path, headers: list[_Header]) -> ImageSource:
    """Sort, check and describe the series; ``read`` decodes only the slices it needs."""
    headers = _one_series(path, headers)
    _check_alike(headers)
    first = headers[0]
    if first.samples not in (1, 3):
        raise input_error(first.path, f"SamplesPerPixel {first.samples} is not supported")
    if first.photometric == "PALETTE COLOR":
        raise input_error(first.path, "palette-colour DICOM is not supported")
    colour = first.samples == 3
    planes = [plane for header in headers for plane in header.planes]
    planes, positions = _sort_planes(path, planes)
    by_path = {h.path: h for h in headers}
    reference = by_path[planes[0].path]
    dz = _z_spacing(path, positions, reference.slice_spacing)
    dy, dx = reference.pixel_spacing
    if colour:
        dtype, rescaled = _stored_dtype(first), False
    else:
        dtype, rescaled = _output_dtype(first, planes)
    dtype = native_dtype(dtype)
    rows, columns = first.rows, first.columns
    shape: tuple[int, ...] = (len(planes), rows, columns)
    axes: tuple[str, ...] = ("z", "y", "x")
    if colour:
        shape, axes = (3, *shape), ("c", *axes)

    def read(region: Region) -> np.ndarray:
        out = np.empty(region_shape(region), dtype=dtype)
        z, y, x = region[-3:]
        for k, plane in enumerate(planes[z]):
            pixels = _decode(plane, by_path[plane.path], rows, columns, colour)
            if colour:
                out[:, k] = pixels[region[0], y, x]
            else:
                out[k] = _rescale(pixels[y, x], plane, dtype, rescaled)
        return out

    origin = planes[0].position
    orientation = planes[0].orientation
    direction = None
    if orientation is not None:
        rows_cos, cols_cos = orientation[:3], orientation[3:]
        direction = [
            [float(v) for v in vector[::-1]]
            for vector in (_normal(orientation), cols_cos, rows_cos)
        ]
    files: list[Path] = list(dict.fromkeys(p.path for p in planes))
    base = path if path.is_dir() else path.parent
    metadata = metadata_from(
        {
            "modality": reference.texts["modality"],
            "subject": reference.texts["subject"],
            "rescale": _rescale_metadata(reference, planes) if not colour else None,
            "origin": [float(v) for v in origin[::-1]] if origin is not None else None,
            "direction": direction,
            "series_uid": reference.texts["series_uid"],
            "study_uid": reference.texts["study_uid"],
            "series_description": reference.texts["series_description"],
            "photometric": first.photometric if first.photometric != "MONOCHROME2" else None,
            "files": [f.relative_to(base).as_posix() for f in files],
        }
    )
    return ImageSource(
        path=path,
        format="dicom",
        axes=axes,
        shape=shape,
        dtype=dtype,
        spacing=(dz, dy, dx),
        unit=MILLIMETER,
        read=read,
        tile=(3, 1, rows, columns) if colour else (1, rows, columns),
        metadata=metadata,
        files=tuple(files),
    )


def _decode(plane: _Plane, header: _Header, rows: int, columns: int, colour: bool) -> np.ndarray:
    """One plane's pixels as (rows, columns), or (3, rows, columns) for colour."""
    import pydicom
    from pydicom.pixels import pixel_array

    try:
        if header.forced:
            dataset = pydicom.dcmread(plane.path, force=True)
            pixels = dataset.pixel_array
            if plane.frame is not None:
                pixels = pixels[plane.frame]
        else:
            pixels = pixel_array(plane.path, index=plane.frame)
    except Exception as exc:
        where = "" if plane.frame is None else f" (frame {plane.frame})"
        raise input_error(plane.path, f"cannot read pixel data{where}: {describe(exc)}") from None
    pixels = np.asarray(pixels)
    expected = (rows, columns, 3) if colour else (rows, columns)
    if pixels.shape != expected:
        raise input_error(
            plane.path, f"pixel data has shape {pixels.shape}, but the header says {expected}"
        )
    return np.moveaxis(pixels, -1, 0) if colour else pixels


def _rescale(pixels: np.ndarray, plane: _Plane, dtype: np.dtype, rescaled: bool) -> np.ndarray:
    """Apply this plane's RescaleSlope and RescaleIntercept (they may differ per slice)."""
    if not rescaled:
        return pixels.astype(dtype, copy=False)
    values = pixels.astype(np.float64) * _slope(plane) + _intercept(plane)
    if dtype.kind == "i":
        values = np.rint(values)
    return values.astype(dtype)
