"""`medtk preprocess cohort`: subjects matched to stores, grouped and stratified folds."""

from __future__ import annotations

import csv
import json

import numpy as np

import medtk.builtin
from medtk.io.ingest import IngestOptions, write_store
from medtk.io.source import array_source

CORE = [("core", medtk.builtin)]


def write_labels(path, rows):
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerows(rows)


def test_cohort_matches_stores_and_groups_patients(cli, tmp_path):
    stores = tmp_path / "stores"
    rows = [["subject", "patient", "fibrosis"]]
    for i in range(12):
        patient = f"P{i // 2}"  # two scans per patient
        rows.append([f"S{i}", patient, str(i % 3)])
        for modality in ("CT", "WSI"):
            image = np.full((8, 8), i, np.uint8)
            source = array_source(image, path=tmp_path / "x", axes=("y", "x"),
                                  spacing=(1.0, 1.0), unit="")  # fmt: skip
            options = IngestOptions(subject=f"S{i}", modality=modality, workers=1)
            write_store(source, stores / f"S{i}-{modality}.zarr", options=options)
    write_labels(tmp_path / "labels.csv", rows)
    result = cli("preprocess", "cohort", str(tmp_path / "labels.csv"), "--stores", str(stores),
                 "--group-by", "patient", "--folds", "3", "--json", plugins=CORE)  # fmt: skip
    assert result.code == 0, result.err
    record = json.loads(result.out)
    assert record["stratified_by"] == "fibrosis"
    assert record["store_columns"] == ["store_ct", "store_wsi"]
    with (tmp_path / "labels.cohort.csv").open() as handle:
        table = list(csv.DictReader(handle))
    assert len(table) == 12
    folds_of_patient: dict[str, set[str]] = {}
    for row in table:
        folds_of_patient.setdefault(row["patient"], set()).add(row["fold"])
        assert row["store_ct"].endswith(f"{row['subject']}-CT.zarr")
    assert all(len(folds) == 1 for folds in folds_of_patient.values())
    assert {row["fold"] for row in table} == {"0", "1", "2"}


def test_cohort_reports_missing_stores_and_columns(cli, tmp_path):
    (tmp_path / "stores").mkdir()
    write_labels(tmp_path / "labels.csv", [["subject", "label"], ["A", "0"], ["B", "1"]])
    result = cli("preprocess", "cohort", str(tmp_path / "labels.csv"), "--stores",
                 str(tmp_path / "stores"), plugins=CORE)  # fmt: skip
    assert result.code == 2
    assert "2 subject(s) have no store" in result.err
    result = cli("preprocess", "cohort", str(tmp_path / "labels.csv"), "--group-by", "patient",
                 plugins=CORE)  # fmt: skip
    assert result.code == 2
    assert "has no column 'patient'" in result.err
    assert not (tmp_path / "labels.cohort.csv").exists()
