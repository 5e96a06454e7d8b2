"""The synthetic NIfTI volumes: nibabel reads them with the geometry asked for."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from medtk.datasets import MR_LABELS, mr_phantom, write_nifti, write_nifti_label

SHAPE, SPACING = (32, 96, 96), (3.0, 1.0, 1.0)


@pytest.fixture(scope="module")
def volume(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_nifti(tmp_path_factory.mktemp("nii") / "brain.nii.gz", seed=2)


def zyx(image: nib.Nifti1Image) -> np.ndarray:
    """NIfTI stores (x, y, z); medtk's arrays are (z, y, x)."""
    return np.asarray(image.dataobj).transpose(2, 1, 0)


def test_geometry(volume: Path) -> None:
    image = nib.load(volume)
    assert isinstance(image, nib.Nifti1Image)
    assert image.shape == SHAPE[::-1]
    assert image.header.get_zooms() == SPACING[::-1]
    assert image.header.get_xyzt_units() == ("mm", "sec")
    assert int(image.header["qform_code"]) == 1
    assert int(image.header["sform_code"]) == 1
    assert np.allclose(image.get_qform(), image.get_sform())
    assert np.allclose(np.diag(image.affine)[:3], SPACING[::-1])
    # centred on the origin
    centre = image.affine @ [*((np.array(SHAPE[::-1]) - 1) / 2), 1]
    assert np.allclose(centre[:3], 0)
    assert nib.aff2axcodes(image.affine) == ("R", "A", "S")
    assert image.get_data_dtype() == np.int16


def test_content_is_brain_like(volume: Path) -> None:
    data = zyx(nib.load(volume)).astype(float)
    image, labels = mr_phantom(shape=SHAPE, spacing=SPACING, seed=2)
    assert np.array_equal(data, np.rint(image * 1000))
    mean = {name: data[labels == value].mean() for name, value in MR_LABELS.items()}
    assert mean["white matter"] > mean["grey matter"] > mean["csf"]
    assert mean["grey matter"] > mean["skull"]
    assert mean["scalp"] > mean["grey matter"]
    assert 600 < mean["white matter"] < 1000
    assert (labels == MR_LABELS["lesion"]).sum() > 20
    # the enhancing rim of the lesion outshines white matter
    assert np.percentile(data[labels == MR_LABELS["lesion"]], 90) > 1.15 * mean["white matter"]
    # Rician noise leaves a dim, positive floor outside the head
    background = data[labels == MR_LABELS["background"]]
    assert 5 < background.mean() < 80
    assert background.min() >= 0
    # bias field: white matter is brighter on one side of the head than the other
    white = labels == MR_LABELS["white matter"]
    front = data[:, SHAPE[1] // 2 :][white[:, SHAPE[1] // 2 :]].mean()
    back = data[:, : SHAPE[1] // 2][white[:, : SHAPE[1] // 2]].mean()
    assert abs(front - back) > 5


def test_labels_match_the_image(tmp_path: Path) -> None:
    path = write_nifti_label(tmp_path / "labels.nii.gz", seed=2)
    image = nib.load(path)
    _, labels = mr_phantom(shape=SHAPE, spacing=SPACING, seed=2)
    assert image.get_data_dtype() == np.uint8
    assert np.array_equal(zyx(image), labels)
    assert set(np.unique(labels)) == set(MR_LABELS.values())


def test_shape_and_spacing_are_z_y_x(tmp_path: Path) -> None:
    path = write_nifti(tmp_path / "v.nii", shape=(10, 40, 56), spacing=(5.0, 0.8, 0.7))
    image = nib.load(path)
    assert image.shape == (56, 40, 10)
    assert image.header.get_zooms() == pytest.approx((0.7, 0.8, 5.0))
    assert zyx(image).shape == (10, 40, 56)


def test_float32_and_ct(tmp_path: Path) -> None:
    mr = nib.load(write_nifti(tmp_path / "f.nii.gz", shape=(8, 48, 48), dtype="float32"))
    assert mr.get_data_dtype() == np.float32
    assert 0.6 < np.asarray(mr.dataobj).max() < 2.0
    ct = nib.load(write_nifti(tmp_path / "ct.nii.gz", shape=(8, 64, 64), kind="ct"))
    hu = zyx(ct)
    assert hu.min() >= -1024
    assert hu.max() > 400
    liver = zyx(nib.load(write_nifti_label(tmp_path / "l.nii.gz", shape=(8, 64, 64), kind="ct")))
    assert set(np.unique(liver)) == {0, 1}


def test_same_seed_same_voxels_other_seed_other_voxels(tmp_path: Path) -> None:
    options = {"shape": (8, 48, 48), "spacing": (3.0, 2.0, 2.0)}
    a = zyx(nib.load(write_nifti(tmp_path / "a.nii.gz", seed=7, **options)))
    b = zyx(nib.load(write_nifti(tmp_path / "b.nii.gz", seed=7, **options)))
    c = zyx(nib.load(write_nifti(tmp_path / "c.nii.gz", seed=8, **options)))
    assert a.tobytes() == b.tobytes()
    assert not np.array_equal(a, c)


def test_rejects_unknown_kind(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="kind"):
        write_nifti(tmp_path / "x.nii.gz", kind="pet")  # type: ignore[arg-type]
