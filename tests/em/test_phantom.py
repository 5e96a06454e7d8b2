"""The synthetic FIB-SEM phantom: classes as published, FIB-SEM contrast, seeded, a store."""

from __future__ import annotations

import json
from pathlib import Path

import medtk_em.plugin
import numpy as np
import pytest
from medtk_em.phantom import (
    CLASSES,
    MEMBRANE,
    MITO,
    MYELIN,
    SYNAPSE,
    VESICLE,
    Phantom,
    class_fractions,
)

import medtk.builtin
from medtk.io.store import Store

PLUGINS = [("core", medtk.builtin), ("em", medtk_em.plugin)]
#: The fractions FIB-SEM segmentations of neuropil report (what the phantom claims).
PUBLISHED = {
    "cytosol": (0.60, 0.70),
    "membranes": (0.10, 0.15),
    "mitochondria": (0.08, 0.12),
    "myelin": (0.03, 0.08),
    "vesicles": (0.01, 0.03),
    "ER": (0.01, 0.02),
    "synapses": (0.005, 0.01),
    "microtubules": (0.005, 0.01),
}
SHAPE, SEED = (48, 160, 160), 5


@pytest.fixture(scope="module")
def phantom() -> Phantom:
    return Phantom(SHAPE, seed=SEED)


@pytest.fixture(scope="module")
def volume(phantom: Phantom) -> tuple[np.ndarray, np.ndarray]:
    """Image and labels of the whole test volume."""
    return phantom.image_and_labels()


@pytest.fixture(scope="module")
def clean_image(phantom: Phantom) -> np.ndarray:
    """The same volume imaged without detector noise, drift or curtains (blur only)."""
    return Phantom(SHAPE, seed=SEED, noise=0.0).image()


def test_every_class_is_present(volume: tuple[np.ndarray, np.ndarray]) -> None:
    image, labels = volume
    assert image.dtype == labels.dtype == np.uint8
    assert image.shape == labels.shape == SHAPE
    assert set(np.unique(labels)) == set(range(len(CLASSES)))


def test_class_fractions_match_published_fib_sem(volume: tuple[np.ndarray, np.ndarray]) -> None:
    fractions = class_fractions(volume[1])
    assert sum(fractions.values()) == pytest.approx(1.0)
    for name, (low, high) in PUBLISHED.items():
        assert low <= fractions[name] <= high, (name, fractions[name])


def test_stained_membranes_and_myelin_are_dark(volume: tuple[np.ndarray, np.ndarray]) -> None:
    image, labels = volume
    mean = {value: image[labels == value].mean() for value in range(len(CLASSES))}
    cytosol = mean[0]
    assert mean[MYELIN] < mean[MEMBRANE] < cytosol - 50
    assert mean[MYELIN] < 70
    for dark in (SYNAPSE, MITO, VESICLE):
        assert mean[dark] < cytosol - 25, CLASSES[dark]


def test_noise_is_there_and_white(
    volume: tuple[np.ndarray, np.ndarray], clean_image: np.ndarray
) -> None:
    """Deep in the cytosol the noisy image scatters around the clean one by ~10 grey
    levels (Poisson-Gaussian at this brightness), independently from voxel to voxel."""
    from scipy import ndimage

    image, labels = volume
    deep = ndimage.binary_erosion(labels == 0, iterations=3)
    residual = image.astype(np.float64) - clean_image
    residual -= residual.mean(axis=1, keepdims=True)  # drift and curtains vary slowly
    assert 6.0 < residual[deep].std() < 16.0
    pairs = deep[:, :, :-1] & deep[:, :, 1:]
    neighbour = np.corrcoef(residual[:, :, :-1][pairs], residual[:, :, 1:][pairs])[0, 1]
    assert abs(neighbour) < 0.15


def test_blur_spreads_dark_membranes_into_their_neighbours(
    volume: tuple[np.ndarray, np.ndarray], clean_image: np.ndarray
) -> None:
    """The point spread makes neighbouring voxels alike and edges soft: cytosol right next
    to a membrane is darker than cytosol a few voxels away."""
    from scipy import ndimage

    _, labels = volume
    image = clean_image.astype(np.float64)
    membrane = labels == MEMBRANE
    distance = ndimage.distance_transform_edt(~membrane)
    cytosol = labels == 0
    touching = image[cytosol & (distance <= 1.0)].mean()
    far = image[cytosol & (distance >= 5.0)].mean()
    assert far - touching > 10
    along_x = np.corrcoef(image[:, :, :-1].ravel(), image[:, :, 1:].ravel())[0, 1]
    assert along_x > 0.9


def test_drift_and_curtains_vary_along_z_and_x(
    volume: tuple[np.ndarray, np.ndarray], clean_image: np.ndarray
) -> None:
    """Averaged along y, the detector's share of the image still varies across x
    (curtaining stripes run along y) and from slice to slice (drift): far more than
    averaged noise alone would."""
    image, _ = volume
    detector = (image.astype(np.float64) - clean_image).mean(axis=1)  # (z, x)
    noise_alone = 12.0 / np.sqrt(SHAPE[1])
    assert detector.std(axis=1).mean() > 3 * noise_alone  # across x, within a slice
    assert detector.mean(axis=1).std() > 3 * noise_alone / np.sqrt(SHAPE[2])  # along z


def test_the_same_seed_gives_the_same_voxels_block_by_block(
    phantom: Phantom, volume: tuple[np.ndarray, np.ndarray]
) -> None:
    image, labels = volume
    again = Phantom(SHAPE, seed=SEED)
    region = (slice(5, 29), slice(70, 131), slice(3, 50))  # not aligned to anything
    block_image, block_labels = again.image_and_labels(region)
    assert np.array_equal(block_image, image[region])
    assert np.array_equal(block_labels, labels[region])
    assert np.array_equal(again.labels(region), labels[region])
    other = Phantom(SHAPE, seed=SEED + 1).labels(region)
    assert (other != labels[region]).mean() > 0.2


def test_structures_keep_their_physical_size() -> None:
    """The same seed and physical extent at half the voxel size is the same tissue,
    sampled twice as finely: every other voxel is the coarse volume's."""
    coarse = Phantom((16, 48, 48), seed=2, voxel_nm=8.0).labels()
    fine = Phantom((32, 96, 96), seed=2, voxel_nm=4.0).labels()
    assert (fine[::2, ::2, ::2] == coarse).mean() > 0.99


def test_cli_writes_a_store_with_labels_and_class_names(tmp_path: Path, cli) -> None:
    out = tmp_path / "em.zarr"
    result = cli(
        "preprocess", "em-phantom", "-o", str(out), "--shape", "32", "96", "96", "--seed", "3",
        "--voxel-nm", "6", "--json", plugins=PLUGINS,
    )  # fmt: skip
    assert result.code == 0, result.err

    record = json.loads(result.out)
    assert record["path"] == str(out)
    assert record["shape"] == [32, 96, 96]
    assert set(record["fractions"]) == set(CLASSES)
    assert sum(record["fractions"].values()) == pytest.approx(1.0)
    store = Store.open(out)
    assert store.axes == ("z", "y", "x")
    assert store.unit == "nanometer"
    assert store.spacing == (6.0, 6.0, 6.0)
    assert store.levels[0].shape == (32, 96, 96)
    assert store.levels[0].dtype == "uint8"
    assert store.labels == ["classes"]
    assert store.medtk["classes"] == list(CLASSES)
    assert store.medtk["modality"] == "EM"
    labels = store.label("classes")
    assert labels.levels[0].shape == (32, 96, 96)
    assert labels.levels[0].dtype == "uint8"
    assert labels.medtk["classes"] == list(CLASSES)
    names = {p["label-value"]: p["name"] for p in labels.ome["image-label"]["properties"]}
    assert names == dict(enumerate(CLASSES))
    # what the store holds is the phantom, voxel for voxel, and its fractions are the record's
    phantom = Phantom((32, 96, 96), seed=3, voxel_nm=6.0)
    stored = np.asarray(labels.array(0)[...])
    assert np.array_equal(stored, phantom.labels())
    assert np.array_equal(np.asarray(store.array(0)[...]), phantom.image())
    assert class_fractions(stored) == pytest.approx(record["fractions"])
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # nothing aside


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        (("8", "64", "64"), "each side must be 16 to 4096 voxels, got 8 × 64 × 64"),
        (("2048", "2048", "2048"), "more than 2^30 voxels"),
    ],
)
def test_a_bad_shape_is_one_line_and_exit_2(
    tmp_path: Path, cli, shape: tuple[str, ...], message: str
) -> None:
    out = tmp_path / "bad.zarr"
    result = cli("preprocess", "em-phantom", "-o", str(out), "--shape", *shape, plugins=PLUGINS)
    assert result.code == 2
    assert len(result.err_lines) == 1
    assert "--shape" in result.err and message in result.err
    assert not out.exists()


def test_an_existing_store_needs_overwrite(tmp_path: Path, cli) -> None:
    out = tmp_path / "em.zarr"
    args = ("preprocess", "em-phantom", "-o", str(out), "--shape", "16", "32", "32")
    assert cli(*args, plugins=PLUGINS).code == 0
    refused = cli(*args, plugins=PLUGINS)
    assert refused.code == 2 and "--overwrite" in refused.err
    assert cli(*args, "--seed", "1", "--overwrite", plugins=PLUGINS).code == 0
    assert Store.open(out).medtk["classes"] == list(CLASSES)
