"""Typed options of the core ``medtk preprocess`` steps."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from medtk.config import TaskConfig, argument, option


class IngestConfig(TaskConfig):
    """Options of ``medtk preprocess ingest``."""

    sources: list[Path] = argument(
        ..., "input files or folders (DICOM series, slides, volumes, slice folders)"
    )
    out: Path = option(
        ...,
        "output store for one input; for several, a folder that gets one store each",
        short="-o",
    )
    label: list[Path] = option(
        [], "a label image (mask) per input, in input order, stored under labels/"
    )
    label_name: str = option("mask", "name of the label image inside the store")
    format: str | None = option(None, "force this reader instead of detecting the format")
    label_format: str | None = option(None, "force this reader for the label images")
    modality: str | None = option(None, "modality to record (CT, MR, WSI, EM …) over the file's")
    subject: str | None = option(None, "subject id to record (one input only)")
    chunk_xy: int | None = option(None, "chunk size in y and x (default 1024 2D, 256 3D)", ge=16)
    chunk_z: int | None = option(None, "chunk size in z (default 32)", ge=1)
    min_size: int = option(256, "add pyramid levels until y and x are at most this", ge=16)
    workers: int = option(0, "threads reading and writing blocks (0: two per core, ≤ 8)", ge=0)
    block_mb: int = option(
        16, "MiB per block in flight; peak memory is about 2 × workers × this", ge=1
    )
    overwrite: bool = option(False, "replace existing stores (only once the new one is complete)")


class InfoConfig(TaskConfig):
    """Options of ``medtk preprocess info``."""

    store: Path = argument(..., "the store to describe")


class WindowConfig(TaskConfig):
    """Options of ``medtk preprocess window``."""

    store: Path = argument(..., "a CT store (values in Hounsfield units)")
    hu: tuple[float, float] = option(
        (-200.0, 250.0), "window LOW HIGH in Hounsfield units (the NAFLD liver window)"
    )
    out: Path | None = option(
        None, "output store (default: beside the input, STEM.hu-LOW_HIGH.zarr)", short="-o"
    )
    workers: int = option(0, "threads reading and writing blocks (0: two per core, ≤ 8)", ge=0)
    overwrite: bool = option(False, "replace an existing output store")


class CohortConfig(TaskConfig):
    """Options of ``medtk preprocess cohort``."""

    labels: Path = argument(..., "CSV table with one row per subject (id, group, labels)")
    stores: list[Path] = option(
        [], "folder of stores to match to subjects by subject id (repeat for several)"
    )
    out: Path | None = option(
        None, "cohort table to write (default: beside LABELS, STEM.cohort.csv)", short="-o"
    )
    id_column: str = option("subject", "column with the subject id stores are matched to")
    group_by: str | None = option(
        None, "column whose values never straddle folds, e.g. patient (default: --id-column)"
    )
    stratify: str | None = option(
        None, "label column to balance across folds (default: the first other column)"
    )
    folds: int = option(3, "number of folds", ge=2)
    seed: int = option(0, "seed of the fold assignment")
    allow_missing: bool = option(
        False, "keep subjects without a store (their store column is empty)"
    )
    overwrite: bool = option(False, "replace an existing cohort table")


class PatchesConfig(TaskConfig):
    """Options of ``medtk preprocess patches``."""

    store: Path = argument(..., "a whole-slide image store (RGB, axes cyx)")
    magnification: float | None = option(
        5.0, "objective magnification of the patches (from the slide's own metadata)", gt=0
    )
    mpp: float | None = option(None, "µm per pixel of the patches instead of --magnification", gt=0)
    size: int = option(224, "patch width and height in pixels at that resolution", ge=8)
    stride: int | None = option(None, "step between patches (default: --size, no overlap)", ge=1)
    background: float = option(
        220.0, "drop patches whose mean intensity is above this (white background)"
    )
    tissue: Literal["mean", "otsu", "both"] = option(
        "mean",
        "tissue rule: 'mean' (patch mean only, as the NAFLD pipeline), 'otsu' (Otsu mask "
        "on a low-resolution level, with --min-tissue), or 'both'",
    )
    min_tissue: float = option(
        0.5, "with --tissue otsu/both: least fraction of a patch the mask must cover", ge=0, le=1
    )
    out: Path | None = option(
        None, "output folder (default: beside the store, STEM.patches)", short="-o"
    )
    overwrite: bool = option(False, "replace an existing output folder")


class SampleConfig(TaskConfig):
    """Options of ``medtk preprocess sample``."""

    kind: Literal["slide", "ct", "mr"] = argument(
        ..., "slide: H&E whole-slide TIFF; ct: abdominal DICOM series; mr: brain NIfTI"
    )
    out: Path = option(..., "file (slide, mr) or folder (ct) to write", short="-o")
    size: int = option(
        0, "slide: width and height in pixels (default 8192); ct, mr: in-plane pixels", ge=0
    )
    slices: int = option(0, "ct, mr: number of slices (default 40 for ct, 32 for mr)", ge=0)
    mask: Path | None = option(
        None, "also write the label image: the liver (ct) or tissue classes (mr), as NIfTI"
    )
    seed: int = option(0, "seed: the same seed gives the same pixels")
    overwrite: bool = option(False, "replace an existing output")
