"""Every kind of bad input to `medtk preprocess ingest`: exit 2, one line, nothing written."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import medtk.builtin
from medtk.io.ingest import partial_path

CORE = [("core", medtk.builtin)]


def truncated_tiff(folder: Path) -> Path:
    import tifffile

    path = folder / "slide.tif"
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (1024, 1024, 3), dtype=np.uint8)
    tifffile.imwrite(path, image, tile=(256, 256), photometric="rgb", compression="zlib")
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * 0.6)])
    return path


def dicom_slice(path: Path, *, series: str, z: float, study: str = "1.2.3") -> None:
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "CT"
    ds.PatientID = "P1"
    ds.StudyInstanceUID = study
    ds.SeriesInstanceUID = series
    ds.ImagePositionPatient = [0.0, 0.0, z]
    ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    ds.PixelSpacing = [0.7, 0.7]
    ds.SliceThickness = 2.0
    ds.RescaleSlope = 1
    ds.RescaleIntercept = -1024
    ds.Rows = ds.Columns = 16
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.PixelData = np.full((16, 16), 1000, np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)


def corrupt_dicom(folder: Path) -> Path:
    path = folder / "IM0001.dcm"
    dicom_slice(path, series="1.2.3.4", z=0.0)
    data = path.read_bytes()
    path.write_bytes(data[:200] + b"\xff" * 40 + data[240:300])
    return path


def mixed_series(folder: Path) -> Path:
    series = folder / "series"
    series.mkdir()
    for i in range(3):
        dicom_slice(series / f"a{i}.dcm", series="1.2.3.4", z=2.0 * i)
        dicom_slice(series / f"b{i}.dcm", series="1.2.3.5", z=2.0 * i)
    return series


def nifti_5d(folder: Path) -> Path:
    import nibabel

    path = folder / "odd.nii.gz"
    nibabel.save(nibabel.Nifti1Image(np.zeros((4, 4, 4, 2, 2), np.float32), np.eye(4)), path)
    return path


def empty_folder(folder: Path) -> Path:
    (folder / "empty").mkdir()
    return folder / "empty"


def not_an_image(folder: Path) -> Path:
    path = folder / "report.pdf"
    path.write_bytes(b"%PDF-1.4\n" + bytes(range(256)) * 4)
    return path


CASES: dict[str, tuple[Callable[[Path], Path], str]] = {
    "truncated-tiff": (truncated_tiff, "slide.tif"),
    "corrupt-dicom": (corrupt_dicom, "IM0001.dcm"),
    "mixed-series": (mixed_series, "series"),
    "nifti-5d": (nifti_5d, "odd.nii.gz"),
    "empty-folder": (empty_folder, "empty"),
    "not-an-image": (not_an_image, "report.pdf"),
    "missing-path": (lambda folder: folder / "nowhere.nrrd", "nowhere.nrrd"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_exits_2_with_one_line_naming_the_file(cli, tmp_path, case):
    make, name = CASES[case]
    source = make(tmp_path)
    out = tmp_path / "out.zarr"
    result = cli("preprocess", "ingest", str(source), "-o", str(out), plugins=CORE)
    assert result.code == 2, result.err
    assert len(result.err_lines) == 1, result.err
    assert name in result.err
    assert "Traceback" not in result.err
    assert not out.exists()
    assert not partial_path(out).exists()
