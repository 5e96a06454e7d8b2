"""Ingest: any supported input (plus optional label images) → one medtk store, out of core.

The store is written aside under a hidden ``.NAME.partial`` folder next to the output and
renamed into place only when every level, label and attribute is written, so a store that
exists is complete. An interrupted ingest leaves that folder and its journal; running the
same command again resumes it and skips every block already written. An ingest that fails
on bad input removes it.
"""

from __future__ import annotations

import math
import shutil
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from medtk import __version__
from medtk.atomic import check_new_output, replace_path
from medtk.errors import BadInputError
from medtk.io.checksum import file_identity, sha256_files
from medtk.io.detect import open_source
from medtk.io.journal import Journal, kept_if_interrupted
from medtk.io.pyramid import DEFAULT_BLOCK_BYTES, PyramidPlan, PyramidWriter, plan_pyramid
from medtk.io.source import ImageSource, Region
from medtk.io.store import (
    STORE_VERSION,
    create_levels,
    default_chunks,
    write_image_attributes,
    write_label_attributes,
)

if TYPE_CHECKING:
    from medtk.registry import Registry

JOURNAL = ".medtk-journal.jsonl"
#: Percentiles every store records, for normalisation from dataset statistics.
PERCENTILES = (0.5, 1.0, 5.0, 50.0, 95.0, 99.0, 99.5)
#: Percentiles come from the finest level with at most this many values per channel.
PERCENTILE_SAMPLE = 16_000_000


@dataclass
class IngestOptions:
    """How to ingest; every field has the CLI's default."""

    format: str | None = None
    label_format: str | None = None
    label_name: str = "mask"
    modality: str | None = None
    subject: str | None = None
    chunk_xy: int | None = None
    chunk_z: int | None = None
    min_size: int = 256
    workers: int = 4
    block_bytes: int = DEFAULT_BLOCK_BYTES
    overwrite: bool = False


@dataclass
class IngestResult:
    """What an ingest made."""

    path: Path
    resumed_blocks: int
    shape: tuple[int, ...]
    axes: tuple[str, ...]
    levels: int
    labels: list[str] = field(default_factory=list)


class Progress:
    """Progress callbacks an ingest reports to (the CLI draws a rich bar from them)."""

    def start(self, description: str, total: int) -> None:
        """A new ingest of ``total`` blocks begins."""

    def advance(self, blocks: int) -> None:
        """``blocks`` more blocks are done (written now or found in the journal)."""


def partial_path(out: Path) -> Path:
    """Where ``out`` is written before it is complete."""
    return out.parent / f".{out.name}.partial"


def ingest(
    source_path: Path,
    out: Path,
    readers: Registry,
    *,
    label_path: Path | None = None,
    options: IngestOptions | None = None,
    progress: Progress | None = None,
) -> IngestResult:
    """Write ``source_path`` (and optionally a label image) into the store ``out``."""
    options = options or IngestOptions()
    progress = progress or Progress()
    out = Path(out)
    check_new_output(out, overwrite=options.overwrite, directory=True)
    with open_source(Path(source_path), readers, options.format) as source:
        label = open_source(Path(label_path), readers, options.label_format) if label_path else None
        labels = {options.label_name: label} if label is not None else {}
        try:
            return write_store(source, out, labels=labels, options=options, progress=progress)
        finally:
            if label is not None:
                label.close()


def write_store(
    source: ImageSource,
    out: Path,
    *,
    labels: Mapping[str, ImageSource] | None = None,
    options: IngestOptions | None = None,
    progress: Progress | None = None,
) -> IngestResult:
    """Write an opened image (and label images by name) as a store, aside and resumably."""
    import zarr

    options = options or IngestOptions()
    progress = progress or Progress()
    chunks = default_chunks(source.axes, source.shape, xy=options.chunk_xy, z=options.chunk_z)
    plan = plan_pyramid(
        source.shape, source.axes, source.spacing, chunks, min_size=options.min_size
    )
    labels = dict(labels or {})
    label_plans = {name: _label_plan(source, label, plan) for name, label in labels.items()}
    fingerprint = {
        "store_version": STORE_VERSION,
        "source": file_identity(source.files),
        "labels": {name: file_identity(label.files) for name, label in labels.items()},
        "format": source.format,
        "shape": list(source.shape),
        "chunks": list(chunks),
        "min_size": options.min_size,
        "block_bytes": options.block_bytes,
    }
    work = partial_path(out)
    journal_path = work / JOURNAL
    if work.exists() and not _belongs(journal_path, fingerprint):
        shutil.rmtree(work)
    out.parent.mkdir(parents=True, exist_ok=True)
    journal = Journal(journal_path, fingerprint)
    resumed = len(journal)
    checksum: dict[str, str] = {}
    regular_files = [f for f in source.files if Path(f).is_file()]
    hasher = threading.Thread(
        target=lambda: checksum.update(sha256=sha256_files(regular_files) if regular_files else ""),
        daemon=True,
    )
    hasher.start()
    with kept_if_interrupted(work, journal):
        root = zarr.open_group(str(work), mode="a", zarr_format=3)
        writers = _writers(
            root,
            source,
            plan,
            labels=labels,
            label_plans=label_plans,
            journal=journal,
            options=options,
        )
        image = writers[0]
        progress.start(source.path.name, sum(w.total_blocks() for w in writers))
        stats = image.run(progress.advance, PERCENTILES)
        values = [w.run(progress.advance)["values"] for w in writers[1:]]
        if "percentiles" not in stats:  # not exact from histograms: from a small level
            stats["percentiles"], stats["percentiles_level"] = _percentiles(image)
        hasher.join()
        medtk = _medtk_attributes(source, options, stats, checksum.get("sha256") or None)
        write_image_attributes(root, plan, source.unit, source.path.name, medtk)
        _write_label_metadata(root, source, labels, label_plans, values)
        journal.close()
        journal_path.unlink()
        check_new_output(out, overwrite=options.overwrite, directory=True)
        replace_path(work, out)
    return IngestResult(
        path=out,
        resumed_blocks=resumed,
        shape=source.shape,
        axes=source.axes,
        levels=plan.levels,
        labels=list(labels),
    )


def _writers(
    root: Any,
    source: ImageSource,
    plan: PyramidPlan,
    *,
    labels: Mapping[str, ImageSource],
    label_plans: Mapping[str, tuple[PyramidPlan, Callable[[Region], np.ndarray]]],
    journal: Journal,
    options: IngestOptions,
) -> list[PyramidWriter]:
    """One pyramid writer for the image, then one per label image, sharing the journal."""
    image = PyramidWriter(
        name="image",
        plan=plan,
        read=source.read,
        arrays=create_levels(root, plan, source.dtype, resume=journal.resumed, skip_empty=False),
        method="mean",
        journal=journal,
        workers=options.workers,
        budget=options.block_bytes,
        channel_axis=source.axes.index("c") if "c" in source.axes else None,
        itemsize=source.dtype.itemsize,
    )
    writers = [image]
    for name, label in labels.items():
        label_plan, label_read = label_plans[name]
        dtype = _label_dtype(label)
        group = root.require_group("labels").require_group(name)
        writers.append(
            PyramidWriter(
                name=f"labels/{name}",
                plan=label_plan,
                read=label_read,
                arrays=create_levels(group, label_plan, dtype, resume=journal.resumed),
                method="nearest",
                journal=journal,
                workers=options.workers,
                budget=options.block_bytes,
                itemsize=dtype.itemsize,
            )
        )
    return writers


def _write_label_metadata(
    root: Any,
    source: ImageSource,
    labels: Mapping[str, ImageSource],
    label_plans: Mapping[str, tuple[PyramidPlan, Any]],
    values: Sequence[list[int]],
) -> None:
    """The ``labels/`` index and each label image's NGFF and medtk attributes."""
    for (name, label), label_values in zip(labels.items(), values, strict=True):
        write_label_attributes(
            root["labels"],
            label_group=root["labels"][name],
            names=list(labels),
            plan=label_plans[name][0],
            unit=source.unit,
            name=name,
            values=label_values,
        )
        root["labels"][name].attrs["medtk"] = {
            "source": {"path": str(label.path.resolve()), "format": label.format},
            "values": label_values,
        }


def _belongs(journal_path: Path, fingerprint: dict[str, Any]) -> bool:
    """True when a partial write was started by the same work (same input and options)."""
    import json

    try:
        first = journal_path.read_text(encoding="utf-8").split("\n", 1)[0]
        header = json.loads(first)
    except (OSError, ValueError):
        return False
    return header.get("fingerprint") == json.loads(json.dumps(fingerprint, sort_keys=True))


def _label_dtype(label: ImageSource) -> np.dtype:
    """Labels keep an integer dtype; floating-point masks are stored as uint16."""
    return label.dtype if np.issubdtype(label.dtype, np.integer) else np.dtype("uint16")


def _label_plan(
    source: ImageSource, label: ImageSource, plan: PyramidPlan
) -> tuple[PyramidPlan, Callable[[Region], np.ndarray]]:
    """The label's pyramid (the image's, without channels) and a reader checking its values."""
    image_axes = tuple(a for a in source.axes if a != "c")
    image_shape = tuple(n for a, n in zip(source.axes, source.shape, strict=True) if a != "c")
    squeeze = "c" in label.axes and label.shape[label.axes.index("c")] == 1
    label_axes = tuple(a for a in label.axes if not (squeeze and a == "c"))
    label_shape = tuple(
        n for a, n in zip(label.axes, label.shape, strict=True) if not (squeeze and a == "c")
    )
    if (label_axes, label_shape) != (image_axes, image_shape):
        raise BadInputError(
            f"{str(label.path)!r}: label image has axes {''.join(label_axes)} and shape "
            f"{label_shape}, but the image {source.path.name!r} has "
            f"{''.join(image_axes)} {image_shape}"
        )
    keep = [i for i, a in enumerate(source.axes) if a != "c"]
    label_plan = PyramidPlan(
        axes=image_axes,
        shapes=tuple(tuple(s[i] for i in keep) for s in plan.shapes),
        chunks=tuple(tuple(c[i] for i in keep) for c in plan.chunks),
        scales=tuple(tuple(s[i] for i in keep) for s in plan.scales),
        factors=tuple(tuple(f[i] for i in keep) for f in plan.factors),
    )
    dtype = _label_dtype(label)

    def read(region: Region) -> np.ndarray:
        full = region
        if squeeze:
            where = label.axes.index("c")
            full = (*region[:where], slice(0, 1), *region[where:])
        data = np.asarray(label.read(full))
        if squeeze:
            data = data.squeeze(label.axes.index("c"))
        if data.dtype != dtype:
            rounded = np.rint(data)
            if not np.array_equal(rounded, data) or rounded.min(initial=0) < 0:
                raise BadInputError(
                    f"{str(label.path)!r}: label image holds values that are not "
                    "non-negative whole numbers"
                )
            data = rounded.astype(dtype)
        return data

    return label_plan, read


def _percentiles(writer: PyramidWriter) -> tuple[dict[str, list[float]], int]:
    """Per-channel percentiles from the finest level small enough to load at once."""
    plan = writer.plan
    channels = plan.shapes[0][plan.axes.index("c")] if "c" in plan.axes else 1
    level = next(
        (
            i
            for i, shape in enumerate(plan.shapes)
            if math.prod(shape) // channels <= PERCENTILE_SAMPLE
        ),
        plan.levels - 1,
    )
    data = np.asarray(writer.arrays[level][...])
    if writer.channel_axis is not None:
        data = np.moveaxis(data, writer.channel_axis, 0).reshape(channels, -1)
    else:
        data = data.reshape(1, -1)
    values = np.percentile(data, PERCENTILES, axis=1)
    return {f"{p:g}": values[i].tolist() for i, p in enumerate(PERCENTILES)}, level


#: Facts a store states at the top level of its medtk metadata, when known.
KNOWN_KEYS = (
    "modality",
    "subject",
    "rescale",
    "magnification",
    "mpp",
    "origin",
    "direction",
    "window",
    "derived_from",
)
#: Bookkeeping of an earlier store, replaced when a store is made from another one.
BOOKKEEPING = ("store_version", "medtk_version", "created", "source", "stats", "extra")


def _medtk_attributes(
    source: ImageSource, options: IngestOptions, stats: dict[str, Any], sha256: str | None
) -> dict[str, Any]:
    """medtk's metadata for a new store: what it is, where it came from, its statistics."""
    meta = dict(source.metadata)
    extra = dict(meta.pop("extra", None) or {})
    known = {key: meta.pop(key) for key in KNOWN_KEYS if key in meta}
    for key in BOOKKEEPING:
        meta.pop(key, None)
    extra.update(meta)
    if options.modality:
        known["modality"] = options.modality
    if options.subject:
        known["subject"] = options.subject
    known.setdefault("subject", _stem(source.path))
    files = [Path(f) for f in source.files if Path(f).is_file()]
    return {
        "store_version": STORE_VERSION,
        "medtk_version": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        **known,
        "source": {
            "path": str(source.path.resolve()),
            "format": source.format,
            "files": len(files),
            "bytes": sum(f.stat().st_size for f in files),
            "sha256": sha256,
        },
        "stats": stats,
        "extra": extra,
    }


def _stem(path: Path) -> str:
    """A file or folder name without its format suffixes (``ct.nii.gz`` → ``ct``)."""
    name = path.name
    for suffix in (".ome.tiff", ".ome.tif", ".nii.gz", ".tar.gz"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem if Path(name).suffix else name


def store_name(path: Path) -> str:
    """The default store name for an input: its stem plus ``.zarr``."""
    return f"{_stem(Path(path))}.zarr"


def output_paths(sources: Sequence[Path], out: Path) -> list[Path]:
    """One store per input: ``out`` itself for one input, ``out/<stem>.zarr`` for several."""
    if len(sources) == 1:
        return [Path(out)]
    paths = [Path(out) / store_name(s) for s in sources]
    seen: dict[Path, Path] = {}
    for source, path in zip(sources, paths, strict=True):
        if path in seen:
            raise BadInputError(
                f"inputs {str(seen[path])!r} and {str(source)!r} would both be written to "
                f"{str(path)!r}; ingest them in separate commands"
            )
        seen[path] = source
    return paths
