"""Hooks of the ``nas`` family; every target is a lazy import path."""

from __future__ import annotations

from medtk.hookspecs import Register, hookimpl


@hookimpl
def register_tasks(register: Register) -> None:
    """The nas study's steps: synthetic cohort, liver segmentation, fusion models."""
    register(
        "nas-cohort",
        "medtk_nas.cohort_task:CohortTask",
        description="Synthetic NAFLD cohort: CT series, liver masks, H&E slides, labels",
    )
    register(
        "nas-liver",
        "medtk_nas.liver:LiverTask",
        description="2D U-Net liver segmentation of CT slices (window -200..250 HU)",
    )
    register(
        "nas-bags",
        "medtk_nas.task:BagsTask",
        description="Patients as bags: liver-masked CT slices and H&E tissue patches",
    )
    register(
        "nas",
        "medtk_nas.task:NasTask",
        description="Fibrosis and NAS parts from CT and H&E: ct, he, mid or late fusion",
    )
    register(
        "nas-patch",
        "medtk_nas.baseline:PatchTask",
        description="Patch-level baseline: patches carry their patient's label",
    )
