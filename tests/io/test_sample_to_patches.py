"""From generated sample data to stores, windows and patches: the documented workflow."""

from __future__ import annotations

import json

import numpy as np
import pytest

import medtk.builtin
from medtk.io.store import Store

CORE = [("core", medtk.builtin)]


def test_ct_series_with_liver_mask_ingests_in_hounsfield_units(cli, tmp_path):
    series, mask, store = tmp_path / "ct", tmp_path / "liver.nii.gz", tmp_path / "ct.zarr"
    made = cli("preprocess", "sample", "ct", "-o", str(series), "--mask", str(mask),
               "--slices", "16", "--size", "128", plugins=CORE)  # fmt: skip
    assert made.code == 0, made.err
    ingested = cli("preprocess", "ingest", str(series), "--label", str(mask),
                   "--label-name", "liver", "-o", str(store), plugins=CORE)  # fmt: skip
    assert ingested.code == 0, ingested.err
    opened = Store.open(store)
    assert opened.medtk["modality"] == "CT"
    assert opened.medtk["rescale"]["unit"] == "HU"
    assert opened.spacing == (2.5, 0.8, 0.8)
    hu = np.asarray(opened.array(0)[...])
    liver = np.asarray(opened.label("liver").array(0)[...]) > 0
    assert liver.any()
    assert hu[liver].mean() == pytest.approx(60, abs=15)  # the label sits on the liver
    assert hu.min() <= -1000  # air around the body


def test_mr_volume_keeps_its_spacing(cli, tmp_path):
    path = tmp_path / "brain.nii.gz"
    assert cli("preprocess", "sample", "mr", "-o", str(path), "--slices", "12", "--size", "64",
               plugins=CORE).code == 0  # fmt: skip
    assert cli("preprocess", "ingest", str(path), "-o", str(tmp_path / "brain.zarr"),
               plugins=CORE).code == 0  # fmt: skip
    store = Store.open(tmp_path / "brain.zarr")
    assert store.levels[0].shape == (12, 64, 64)
    assert store.spacing == (3.0, 1.0, 1.0)


def test_generated_slide_gives_tissue_patches(cli, tmp_path):
    slide, store = tmp_path / "slide.tif", tmp_path / "slide.zarr"
    assert cli("preprocess", "sample", "slide", "-o", str(slide), "--size", "3072",
               plugins=CORE).code == 0  # fmt: skip
    result = cli("preprocess", "ingest", str(slide), "-o", str(store), "--json", plugins=CORE)
    assert result.code == 0, result.err
    opened = Store.open(store)
    assert opened.medtk["magnification"] == 20
    assert opened.medtk["mpp"] == [0.5, 0.5]
    grid = cli("preprocess", "patches", str(store), "--magnification", "5", "--size", "64",
               "--json", plugins=CORE)  # fmt: skip
    assert grid.code == 0, grid.err
    summary = json.loads(grid.out)
    assert summary["level_downsample"] == 4.0
    # the slide is part tissue, part glass: the rule keeps some patches and drops others
    assert 0.15 < summary["patches"] / summary["candidates"] < 0.9
