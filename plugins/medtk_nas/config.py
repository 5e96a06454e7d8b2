"""Typed options of the ``nas`` family's commands."""

from __future__ import annotations

from pathlib import Path

from medtk.config import TaskConfig, option


class NasCohortConfig(TaskConfig):
    """Options of ``medtk preprocess nas-cohort``."""

    out: Path = option(
        ...,
        "output folder: ct/PATIENT/ (DICOM), ct/PATIENT.liver.nii.gz, he/PATIENT.tif, labels.csv",
        short="-o",
    )
    patients: int = option(30, "number of patients, P001 …", ge=3, le=999)
    slices: int = option(32, "CT slices per patient, over 160 mm of the upper abdomen", ge=4)
    ct_size: int = option(192, "CT pixels in-plane, over a 384 mm field of view", ge=32, le=1024)
    slide_size: int = option(
        4096, "slide width and height in pixels at 20× (0.5 µm/px); 4096 is 1024 at 5×", ge=512
    )
    seed: int = option(0, "seed of scores and images: the same seed gives the same bytes", ge=0)
    overwrite: bool = option(False, "replace an existing output folder (once the new one is whole)")
