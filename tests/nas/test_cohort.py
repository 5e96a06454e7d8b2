"""The synthetic NAFLD cohort: scores that look like a cohort, images that follow the scores."""

from __future__ import annotations

import csv
import hashlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import medtk_nas.plugin
import numpy as np
import pydicom
import pytest
from medtk_nas.cohort import (
    FIBROSIS_STAGES,
    LiverSlide,
    ct_appearance,
    ct_spacing,
    draw_patients,
    histology,
    patient_from_scores,
    read_labels,
    write_labels,
)
from scipy import ndimage
from skimage.measure import perimeter

import medtk.builtin
from medtk.datasets import ct_phantom
from medtk.datasets.wsi import _EOSIN, _HEMATOXYLIN
from medtk.io.store import Store

PLUGINS = [("core", medtk.builtin), ("nas", medtk_nas.plugin)]
COLUMNS = ["patient", "steatosis", "lobular", "ballooning", "fibrosis"]
TINY = ["--slices", "6", "--ct-size", "48", "--slide-size", "512"]


# ---- scores ---------------------------------------------------------------------------------


def test_labels_have_the_columns_and_score_ranges(tmp_path: Path) -> None:
    path = write_labels(tmp_path / "labels.csv", draw_patients(30, seed=0))
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == COLUMNS
    assert [r[0] for r in rows[1:]] == [f"P{i:03d}" for i in range(1, 31)]
    labels = read_labels(path)
    assert {r["steatosis"] for r in labels} <= {0, 1, 2, 3}
    assert {r["lobular"] for r in labels} <= {0, 1, 2, 3}
    assert {r["ballooning"] for r in labels} <= {0, 1, 2}
    assert {r["fibrosis"] for r in labels} <= set(FIBROSIS_STAGES)
    assert 3.5 in {r["fibrosis"] for r in labels}  # as in the source's table
    assert "3.5" in {r[4] for r in rows[1:]} and "3.0" not in {r[4] for r in rows[1:]}
    # a biopsy-proven NAFLD cohort: nearly everyone has steatosis
    assert sum(r["steatosis"] >= 1 for r in labels) >= 27


def test_scores_correlate_as_in_nafld() -> None:
    patients = draw_patients(600, seed=1)
    scores = np.array([[p.steatosis, p.lobular, p.ballooning, p.fibrosis] for p in patients])
    ranks = np.argsort(np.argsort(scores, axis=0, kind="stable"), axis=0)
    rho = np.corrcoef(ranks.T)
    assert rho[3, 2] > 0.3  # fibrosis with ballooning
    assert rho[3, 1] > 0.25  # fibrosis with lobular inflammation
    assert abs(rho[3, 0]) < 0.2  # fibrosis barely with steatosis


def test_same_seed_same_cohort_other_seed_other_cohort() -> None:
    assert draw_patients(30, seed=4) == draw_patients(30, seed=4)
    assert draw_patients(30, seed=4) != draw_patients(30, seed=5)


# ---- CT -----------------------------------------------------------------------------------------


def liver_ct(steatosis: int = 1, fibrosis: float = 0.0, *, size: int = 96, seed: int = 3):
    patient = patient_from_scores(
        "T", steatosis=steatosis, lobular=1, ballooning=0, fibrosis=fibrosis, seed=seed
    )
    return ct_phantom(
        slices=12,
        size=size,
        spacing=ct_spacing(size, 12),
        seed=patient.seed,
        phase="unenhanced",
        **ct_appearance(patient).kwargs(),
    )


def test_liver_attenuation_falls_with_steatosis() -> None:
    means = []
    for grade in range(4):
        hu, liver = liver_ct(steatosis=grade)
        means.append(hu[liver == 1].mean())
    assert means == sorted(means, reverse=True)
    assert 52 < means[0] < 70  # normal liver: ~55-65 HU, above the spleen's 50
    assert means[2] < 40  # < 40 HU: >= 30 % of hepatocytes with fat
    assert means[3] < 20


def isoperimetric(mask: np.ndarray) -> float:
    """Mean perimeter² / (4π area) over slices: 1 for a disc, larger for a bumpy outline."""
    return float(
        np.mean([perimeter(m) ** 2 / (4 * np.pi * m.sum()) for m in mask if m.sum() > 150])
    )


def test_fibrosis_makes_the_liver_outline_irregular() -> None:
    rough = {stage: isoperimetric(liver_ct(fibrosis=stage, size=128)[1]) for stage in (0, 3.5, 4)}
    assert rough[0] < rough[3.5] < rough[4]
    assert rough[4] > 1.1 * rough[0]


# ---- H&E ------------------------------------------------------------------------------------


def liver_slide(
    *, steatosis: int = 1, lobular: int = 0, fibrosis: float = 0.0, seed: int = 2
) -> LiverSlide:
    patient = patient_from_scores(
        "T", steatosis=steatosis, lobular=lobular, ballooning=0, fibrosis=fibrosis, seed=seed
    )
    return LiverSlide(2048, 2048, 0.5, seed, histology(patient))


def stains(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eosin and hematoxylin optical density, unmixed from the pixels (Beer–Lambert)."""
    od = -np.log(np.clip(rgb.astype(np.float32), 1, 255) / np.float32(241.0))
    unmix = np.linalg.pinv(np.stack([_EOSIN, _HEMATOXYLIN], axis=1)).T.astype(np.float32)
    conc = od.reshape(-1, 3) @ unmix
    return conc[:, 0].reshape(rgb.shape[:2]), conc[:, 1].reshape(rgb.shape[:2])


def render(slide: LiverSlide) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Eosin and hematoxylin of the whole level 0, and its tissue (a little inside it)."""
    step = 512
    corners = [(x, y) for y in range(0, slide.height, step) for x in range(0, slide.width, step)]
    with ThreadPoolExecutor(2) as pool:
        tiles = list(pool.map(lambda c: slide.region(*c, step, step), corners))
    per_row = slide.width // step
    pixels = np.concatenate(
        [np.concatenate(tiles[i : i + per_row], axis=1) for i in range(0, len(tiles), per_row)]
    )
    tissue = np.kron(slide.tissue_mask(16), np.ones((16, 16), bool))
    return (*stains(pixels), ndimage.binary_erosion(tissue, iterations=20))


@pytest.fixture(scope="module")
def slides() -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Four biopsies of one patient layout, differing in one score each."""
    return {
        "baseline": render(liver_slide()),
        "lobular 3": render(liver_slide(lobular=3)),
        "fibrosis 2": render(liver_slide(fibrosis=2)),
        "fibrosis 4": render(liver_slide(fibrosis=4)),
    }


def test_fat_vacuoles_follow_steatosis() -> None:
    white = []
    for grade in range(4):
        slide = liver_slide(steatosis=grade)
        mask = slide.tissue_mask(32)
        inner = np.argwhere(ndimage.binary_erosion(mask, np.ones((20, 20)), border_value=0))
        y, x = inner[len(inner) // 2] * 32 - 256
        pixels = slide.region(int(x), int(y), 512, 512)
        white.append((pixels.min(axis=-1) > 215).mean())
    assert white == sorted(white)
    assert white[0] < 0.12  # sinusoids and veins; fat in < 5 % of hepatocytes
    assert white[3] > 3 * white[0] and white[3] > white[0] + 0.2


def dark_blue_clusters(eosin: np.ndarray, hema: np.ndarray, tissue: np.ndarray) -> float:
    """Share of tissue in clusters of dark-blue nuclei (lymphocyte foci, not scattered nuclei)."""
    dark = (hema > 0.9) & tissue
    return float((ndimage.uniform_filter(dark.astype(np.float32), 61) > 0.12)[tissue].mean())


def test_lobular_inflammation_adds_lymphocyte_foci(slides) -> None:
    none = dark_blue_clusters(*slides["baseline"])
    many = dark_blue_clusters(*slides["lobular 3"])
    assert none < 0.002
    assert many > 0.004 and many > 5 * none


def collagen(eosin: np.ndarray, hema: np.ndarray, tissue: np.ndarray) -> float:
    """Share of tissue stained by eosin alone (collagen), not eosin with hematoxylin."""
    return float(((eosin > 0.45) & (hema < 0.06))[tissue].mean())


def test_fibrosis_adds_pink_septa(slides) -> None:
    portal = collagen(*slides["baseline"])
    spurs = collagen(*slides["fibrosis 2"])
    cirrhosis = collagen(*slides["fibrosis 4"])
    assert portal < spurs < cirrhosis
    assert cirrhosis > 3 * portal


def test_tiles_agree_with_a_larger_region() -> None:
    slide = liver_slide(steatosis=2, lobular=3, fibrosis=3)
    whole = slide.region(700, 900, 300, 200)
    np.testing.assert_array_equal(whole[:100, :128], slide.region(700, 900, 128, 100))
    np.testing.assert_array_equal(whole[57:, 131:], slide.region(831, 957, 169, 143))


# ---- the command --------------------------------------------------------------------------------


def digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_cli_writes_a_cohort_medtk_can_ingest(cli, tmp_path: Path) -> None:
    out = tmp_path / "cohort"
    result = cli("preprocess", "nas-cohort", "-o", str(out), "--patients", "3", *TINY,
                 plugins=PLUGINS)  # fmt: skip
    assert result.code == 0, result.err
    assert result.out.splitlines() == [str(out)]
    ids = ["P001", "P002", "P003"]
    assert [r["patient"] for r in read_labels(out / "labels.csv")] == ids
    for patient in ids:
        series = sorted((out / "ct" / patient).iterdir())
        assert len(series) == 6
        ds = pydicom.dcmread(series[0])
        assert ds.PatientID == patient and ds.Modality == "CT"
        assert (out / "ct" / f"{patient}.liver.nii.gz").is_file()
        assert (out / "he" / f"{patient}.tif").is_file()
    assert not list(tmp_path.glob(".cohort.partial-*"))

    ct_store, he_store = tmp_path / "ct.zarr", tmp_path / "he.zarr"
    assert cli("preprocess", "ingest", str(out / "ct" / "P002"),
               "--label", str(out / "ct" / "P002.liver.nii.gz"), "-o", str(ct_store),
               plugins=PLUGINS).code == 0  # fmt: skip
    store = Store.open(ct_store)
    assert store.medtk["modality"] == "CT" and store.medtk["subject"] == "P002"
    hu, liver = np.asarray(store.array(0)[...]), np.asarray(store.label("mask").array(0)[...])
    assert hu.shape == liver.shape == (6, 48, 48)
    assert liver.any() and -50 < hu[liver == 1].mean() < 90  # a liver, in Hounsfield units

    assert cli("preprocess", "ingest", str(out / "he" / "P001.tif"), "-o", str(he_store),
               plugins=PLUGINS).code == 0  # fmt: skip
    store = Store.open(he_store)
    assert store.medtk["magnification"] == 20 and store.medtk["mpp"] == [0.5, 0.5]
    assert store.levels[0].shape == (3, 512, 512)


def test_same_seed_same_bytes(cli, tmp_path: Path) -> None:
    runs = {}
    for name, seed in (("a", "7"), ("b", "7"), ("c", "8")):
        result = cli("preprocess", "nas-cohort", "-o", str(tmp_path / name), "--patients", "3",
                     "--seed", seed, *TINY, plugins=PLUGINS)  # fmt: skip
        assert result.code == 0, result.err
        runs[name] = digest(tmp_path / name)
    assert runs["a"] == runs["b"]
    assert runs["a"].keys() == runs["c"].keys()
    assert all(runs["a"][k] != runs["c"][k] for k in runs["a"] if k.endswith(".tif"))


def test_existing_output_is_refused_and_too_few_patients_is_bad_usage(cli, tmp_path) -> None:
    (tmp_path / "taken").mkdir()
    result = cli("preprocess", "nas-cohort", "-o", str(tmp_path / "taken"), *TINY,
                 plugins=PLUGINS)  # fmt: skip
    assert result.code == 2 and "already exists" in result.err
    result = cli("preprocess", "nas-cohort", "-o", str(tmp_path / "new"), "--patients", "2",
                 *TINY, plugins=PLUGINS)  # fmt: skip
    assert result.code == 2
    assert not (tmp_path / "new").exists()
