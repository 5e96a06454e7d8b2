"""The synthetic CT series: valid DICOM a reader must sort, HU where anatomy says."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from pydicom.uid import UID, CTImageStorage, ExplicitVRLittleEndian

from medtk.datasets import ct_phantom, write_ct_series

SLICES, SIZE, SPACING = 40, 256, (2.5, 0.8, 0.8)


@pytest.fixture(scope="module")
def series(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_ct_series(tmp_path_factory.mktemp("ct") / "series", seed=1)


@pytest.fixture(scope="module")
def datasets(series: Path) -> list[pydicom.Dataset]:
    """Every file, read with pydicom and sorted by position along the slice normal."""
    read = [pydicom.dcmread(path) for path in sorted(series.iterdir())]
    return sorted(read, key=lambda ds: float(ds.ImagePositionPatient[2]))


def hu_volume(datasets: list[pydicom.Dataset]) -> np.ndarray:
    return np.stack(
        [
            ds.pixel_array.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
            for ds in datasets
        ]
    )


def test_every_file_is_a_ct_image(series: Path, datasets: list[pydicom.Dataset]) -> None:
    assert len(list(series.iterdir())) == SLICES
    for ds in datasets:
        assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
        assert ds.SOPClassUID == CTImageStorage
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert ds.Modality == "CT"
        assert ds.PatientID == "MEDTK-0001"
        assert (ds.Rows, ds.Columns) == (SIZE, SIZE)
        assert [float(v) for v in ds.PixelSpacing] == [0.8, 0.8]
        assert float(ds.SliceThickness) == 2.5
        assert [float(v) for v in ds.ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
        assert (ds.BitsAllocated, ds.PixelRepresentation) == (16, 0)
        assert 12 <= ds.BitsStored <= 16
        assert (float(ds.RescaleSlope), float(ds.RescaleIntercept)) == (1.0, -1024.0)
        assert ds.pixel_array.dtype == np.uint16


def test_uids_are_valid_shared_and_unique(datasets: list[pydicom.Dataset]) -> None:
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID"):
        values = {ds[keyword].value for ds in datasets}
        assert len(values) == 1
        assert UID(values.pop()).is_valid
    instances = {ds.SOPInstanceUID for ds in datasets}
    assert len(instances) == SLICES
    assert all(UID(uid).is_valid for uid in instances)
    first = datasets[0]
    assert len({first.StudyInstanceUID, first.SeriesInstanceUID, first.SOPInstanceUID}) == 3


def test_readers_must_sort_by_position(series: Path, datasets: list[pydicom.Dataset]) -> None:
    by_name = [pydicom.dcmread(p, stop_before_pixels=True) for p in sorted(series.iterdir())]
    z_by_name = [float(ds.ImagePositionPatient[2]) for ds in by_name]
    assert z_by_name != sorted(z_by_name)
    assert z_by_name != sorted(z_by_name, reverse=True)
    z = np.array([float(ds.ImagePositionPatient[2]) for ds in datasets])
    assert np.allclose(np.diff(z), 2.5)
    assert len({tuple(ds.ImagePositionPatient[:2]) for ds in datasets}) == 1
    # instances count from the head down
    assert [ds.InstanceNumber for ds in datasets] == list(range(SLICES, 0, -1))


def test_hu_where_the_anatomy_is(datasets: list[pydicom.Dataset]) -> None:
    hu = hu_volume(datasets)
    expected, liver = ct_phantom(seed=1)
    assert np.array_equal(hu, expected)  # stored losslessly, rescaled back exactly
    corners = hu[:, :12, :12]
    assert abs(corners.mean() + 1000) < 20  # air
    assert 5 < corners.std() < 25  # noise (clipped at -1024 below)
    liver_mask = liver.astype(bool)
    assert abs(hu[liver_mask].mean() - 60.0) < 15
    assert hu.max() > 700  # cortical bone
    centre = hu[:, SIZE // 2 - 20 : SIZE // 2 + 20, SIZE // 2 - 20 : SIZE // 2 + 20]
    assert -150 < np.median(centre) < 200  # soft tissue and fat, not air


def test_liver_is_one_organ_on_the_image_left_in_upper_slices() -> None:
    slices, size = 24, 128
    hu, liver = ct_phantom(slices=slices, size=size, spacing=(4.0, 1.6, 1.6), liver_hu=100.0)
    assert hu.dtype == np.int16
    assert liver.dtype == np.uint8
    assert hu.shape == liver.shape == (slices, size, size)
    present = np.nonzero(liver.any(axis=(1, 2)))[0]
    assert len(present) >= 8
    assert np.all(np.diff(present) == 1)  # a contiguous run of slices
    assert present[-1] == slices - 1  # up to the top slice, under the diaphragm
    assert present[0] > 0  # but not down to the lowest
    _, _, x = np.nonzero(liver)
    assert x.mean() < size / 2  # patient's right = image left
    assert abs(hu[liver.astype(bool)].mean() - 100.0) < 15


def test_hu_ranges_of_other_tissues() -> None:
    hu, _ = ct_phantom(slices=20, size=128, spacing=(5.0, 1.6, 1.6), seed=2, noise_hu=0.0)
    values = hu.ravel()
    assert values.min() >= -1024
    for low, high in ((-1010, -990), (-110, -70), (30, 60), (140, 160), (400, 1000)):
        share = ((values >= low) & (values <= high)).mean()
        assert share > 0.001, (low, high)  # air, fat, soft tissue, aorta/kidney, bone


def test_same_seed_same_bytes_other_seed_other_pixels(tmp_path: Path) -> None:
    options = {"slices": 6, "size": 64}
    a = write_ct_series(tmp_path / "a", seed=4, **options)
    b = write_ct_series(tmp_path / "b", seed=4, **options)
    c = write_ct_series(tmp_path / "c", seed=5, **options)
    assert sorted(p.name for p in a.iterdir()) == sorted(p.name for p in b.iterdir())
    for path in a.iterdir():
        assert path.read_bytes() == (b / path.name).read_bytes()
    pixels_a = hu_volume(sorted(map(pydicom.dcmread, a.iterdir()), key=lambda d: d.InstanceNumber))
    pixels_c = hu_volume(sorted(map(pydicom.dcmread, c.iterdir()), key=lambda d: d.InstanceNumber))
    assert not np.array_equal(pixels_a, pixels_c)
    uids = {pydicom.dcmread(next(p.iterdir())).StudyInstanceUID for p in (a, c)}
    assert len(uids) == 2  # another seed is another study


def test_mask_written_as_nifti_in_the_same_place(tmp_path: Path) -> None:
    folder = write_ct_series(
        tmp_path / "s", slices=8, size=64, spacing=(3.0, 1.5, 1.5), mask_path=tmp_path / "m.nii.gz"
    )
    image = nib.load(tmp_path / "m.nii.gz")
    _, liver = ct_phantom(slices=8, size=64, spacing=(3.0, 1.5, 1.5))
    assert image.shape == (64, 64, 8)
    assert np.array_equal(np.asarray(image.dataobj).transpose(2, 1, 0), liver)
    assert image.header.get_zooms() == (1.5, 1.5, 3.0)
    lowest = min(
        (pydicom.dcmread(p) for p in folder.iterdir()),
        key=lambda ds: float(ds.ImagePositionPatient[2]),
    )
    x, y, z = (float(v) for v in lowest.ImagePositionPatient)
    # voxel (0, 0, 0) at the first voxel of the lowest slice, LPS turned into RAS
    assert np.allclose(image.affine @ [0, 0, 0, 1], [-x, -y, z, 1])
    assert np.allclose(image.affine @ [1, 1, 1, 1], [-x - 1.5, -y - 1.5, z + 3.0, 1])


def test_refuses_a_folder_in_use(tmp_path: Path) -> None:
    (tmp_path / "other.txt").write_text("keep me")
    with pytest.raises(FileExistsError):
        write_ct_series(tmp_path, slices=2, size=32)
    assert [p.name for p in tmp_path.iterdir()] == ["other.txt"]


def test_writes_into_an_empty_folder(tmp_path: Path) -> None:
    write_ct_series(tmp_path, slices=3, size=32)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "IM-0001.dcm",
        "IM-0002.dcm",
        "IM-0003.dcm",
    ]
