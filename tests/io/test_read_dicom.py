"""DICOM reader: real pydicom test files, synthetic CT series, broken inputs."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid
from reader_helpers import (
    assert_one_line,
    assert_refuses_junk,
    fuzz_settings,
    open_and_read_or_refuse,
    sniff_and_open_or_refuse,
)

from conftest import sample_file
from medtk.errors import BadInputError
from medtk.io.dicom import DicomReader

TEST_FILES = Path(get_testdata_file("CT_small.dcm")).parent
DICOMDIR_TREE = TEST_FILES / "dicomdirtests"
AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def write_slice(
    path: Path,
    stored: np.ndarray,
    *,
    position: Sequence[float] | None = (0.0, 0.0, 0.0),
    orientation: Sequence[float] = AXIAL,
    slope: float | None = 1.0,
    intercept: float | None = -1024.0,
    series_uid: str = "1.2.3.4",
    description: str = "synthetic CT",
    instance: int = 1,
    pixel_spacing: Sequence[float] = (0.8, 0.7),
) -> Path:
    """Write one 12-bit unsigned CT slice the way scanners do; ``stored`` is uint16."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "CT"
    ds.PatientID = "case-007"
    ds.StudyInstanceUID = "1.2.3"
    ds.SeriesInstanceUID = series_uid
    ds.SeriesDescription = description
    ds.InstanceNumber = instance
    if position is not None:
        ds.ImagePositionPatient = [f"{v:g}" for v in position]
    ds.ImageOrientationPatient = [f"{v:g}" for v in orientation]
    ds.PixelSpacing = [f"{v:g}" for v in pixel_spacing]
    ds.SliceThickness = "2.5"
    ds.Rows, ds.Columns = stored.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    if slope is not None:
        ds.RescaleSlope = f"{slope:g}"
    if intercept is not None:
        ds.RescaleIntercept = f"{intercept:g}"
    ds.PixelData = stored.astype("<u2").tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def stored_slice(k: int, shape: tuple[int, int] = (12, 10)) -> np.ndarray:
    """Distinct stored values per slice: slice ``k`` holds ``100 k + pixel index``."""
    return (100 * k + np.arange(shape[0] * shape[1]).reshape(shape)).astype(np.uint16)


def write_series(
    folder: Path, count: int = 6, *, spacing: float = 2.5, start: float = -40.0, **options: Any
) -> list[Path]:
    """A CT series written in shuffled order under meaningless names; slice k at start+k·dz."""
    names = [f"IM{(k * 7919) % 1000:04d}" for k in range(count)]
    order = np.random.default_rng(3).permutation(count)
    paths = []
    for k in order:
        paths.append(
            write_slice(
                folder / names[k],
                stored_slice(int(k)),
                position=(-120.0, -100.0, start + spacing * int(k)),
                instance=int(count - k),  # instance numbers disagree with positions
                **options,
            )
        )
    return paths


@pytest.fixture
def reader() -> DicomReader:
    return DicomReader()


# --- real files ------------------------------------------------------------------------


def test_ct_small_is_hounsfield(reader: DicomReader) -> None:
    path = Path(get_testdata_file("CT_small.dcm"))
    reference = pydicom.dcmread(path)
    with reader.open(path) as source:
        assert source.axes == ("z", "y", "x")
        assert source.shape == (1, 128, 128)
        # BitsStored 16 (signed) minus 1024 does not fit int16: int32 keeps it exact
        assert source.dtype == np.int32
        assert source.spacing == pytest.approx((5.0, 0.661468, 0.661468))
        assert source.unit == "millimeter"
        hu = source.read_all()
    expected = reference.pixel_array.astype(np.int32) - 1024
    np.testing.assert_array_equal(hu[0], expected)
    meta = source.metadata
    assert meta["rescale"] == {"slope": 1.0, "intercept": -1024.0, "unit": "HU"}
    assert meta["modality"] == "CT"
    assert meta["subject"] == "1CT1"
    assert meta["origin"] == pytest.approx([float(v) for v in reference.ImagePositionPatient][::-1])
    assert meta["direction"] == [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    assert meta["series_uid"] == reference.SeriesInstanceUID
    assert meta["files"] == ["CT_small.dcm"]
    assert source.files == (path,)


def test_mr_small_keeps_stored_dtype(reader: DicomReader) -> None:
    path = Path(get_testdata_file("MR_small.dcm"))
    with reader.open(path) as source:
        assert source.dtype == np.int16
        assert "rescale" not in source.metadata
        assert source.metadata["modality"] == "MR"
        np.testing.assert_array_equal(source.read_all()[0], pydicom.dcmread(path).pixel_array)


def test_shared_sample_ct_slice(reader: DicomReader) -> None:
    path = sample_file("ct", "explicit_VR-UN.dcm")
    assert reader.sniff(path)
    with reader.open(path) as source:
        assert source.shape == (1, 512, 512)
        assert source.spacing[1:] == pytest.approx((0.859375, 0.859375))
        hu = source.read_all()
    assert hu.min() == -1024  # air outside the body
    assert source.metadata["rescale"]["unit"] == "HU"


def test_real_series_from_pydicom_test_tree(reader: DicomReader) -> None:
    folder = DICOMDIR_TREE / "98892001" / "CT5N"
    files = sorted(
        folder.iterdir(), key=lambda f: float(pydicom.dcmread(f).ImagePositionPatient[2])
    )
    with reader.open(folder) as source:
        assert source.shape == (5, 16, 16)
        assert source.spacing == pytest.approx((2.5, 0.488281, 0.488281))
        volume = source.read_all()
    assert list(source.files) == files
    assert source.metadata["files"] == [f.name for f in files]
    for k, file in enumerate(files):
        ds = pydicom.dcmread(file)
        expected = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        np.testing.assert_array_equal(volume[k], expected)


def test_real_series_with_a_gap_is_refused(reader: DicomReader) -> None:
    folder = DICOMDIR_TREE / "77654033" / "CT2"
    with pytest.raises(BadInputError, match="gaps or uneven slice spacing") as caught:
        reader.open(folder)
    assert_one_line(caught.value, str(folder), "-99.48", "103.02")


def test_dicomdir_tree_lists_its_series(reader: DicomReader) -> None:
    assert reader.sniff(DICOMDIR_TREE)
    with pytest.raises(BadInputError, match=r"holds \d+ DICOM series") as caught:
        reader.open(DICOMDIR_TREE)
    assert_one_line(caught.value, str(DICOMDIR_TREE), "'FAST LOCALIZER' (1 files", "CT5N")


def test_multi_frame_rt_dose(reader: DicomReader) -> None:
    path = Path(get_testdata_file("rtdose.dcm"))
    with reader.open(path) as source:
        assert source.shape == (15, 10, 10)
        assert source.spacing == pytest.approx((5.0, 10.0, 10.0))  # GridFrameOffsetVector
        np.testing.assert_array_equal(
            source.read((slice(3, 5), slice(0, 10), slice(2, 7))),
            pydicom.dcmread(path).pixel_array[3:5, :, 2:7],
        )


def test_rgb_gets_a_channel_axis(reader: DicomReader) -> None:
    path = Path(get_testdata_file("SC_rgb_small_odd.dcm"))
    with reader.open(path) as source:
        assert source.axes == ("c", "z", "y", "x")
        assert source.shape == (3, 1, 3, 3)
        rgb = source.read_all()
    np.testing.assert_array_equal(rgb[:, 0], np.moveaxis(pydicom.dcmread(path).pixel_array, -1, 0))


# --- synthetic series --------------------------------------------------------------------


def test_series_sorted_by_position_with_hounsfield_values(
    reader: DicomReader, tmp_path: Path
) -> None:
    folder = tmp_path / "ct"
    write_series(folder)
    (folder / "README").write_text("not DICOM\n")
    assert reader.sniff(folder)
    with reader.open(folder) as source:
        assert source.shape == (6, 12, 10)
        assert source.dtype == np.int16  # 12-bit stored, integer rescale
        assert source.spacing == pytest.approx((2.5, 0.8, 0.7))
        assert source.tile == (1, 12, 10)
        volume = source.read_all()
    for k in range(6):
        np.testing.assert_array_equal(volume[k], stored_slice(k).astype(np.int16) - 1024)
    meta = source.metadata
    assert meta["origin"] == pytest.approx([-40.0, -100.0, -120.0])
    assert meta["subject"] == "case-007"
    assert meta["series_description"] == "synthetic CT"
    assert meta["study_uid"] == "1.2.3"
    assert meta["files"] == [f"IM{(k * 7919) % 1000:04d}" for k in range(6)]
    assert "README" not in meta["files"]


def test_region_decodes_only_its_slices(
    reader: DicomReader, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_series(tmp_path / "ct")
    import pydicom.pixels

    decoded: list[Path] = []
    original = pydicom.pixels.pixel_array

    def spy(src: Path, **kwargs: Any) -> np.ndarray:
        decoded.append(Path(src))
        return original(src, **kwargs)

    monkeypatch.setattr(pydicom.pixels, "pixel_array", spy)
    with reader.open(tmp_path / "ct") as source:
        assert decoded == []  # open reads headers only
        block = source.read((slice(2, 4), slice(3, 7), slice(1, 9)))
    assert len(decoded) == 2
    expected = np.stack([stored_slice(k)[3:7, 1:9] for k in (2, 3)]).astype(np.int16) - 1024
    np.testing.assert_array_equal(block, expected)


def test_slope_and_intercept_per_slice(reader: DicomReader, tmp_path: Path) -> None:
    for k in range(3):
        write_slice(
            tmp_path / f"s{k}.dcm",
            stored_slice(k),
            position=(0, 0, 3.0 * k),
            slope=float(k + 1),
            intercept=-1000.0 - k,
        )
    with reader.open(tmp_path) as source:
        assert source.dtype == np.int16
        volume = source.read_all()
    for k in range(3):
        expected = stored_slice(k).astype(np.int64) * (k + 1) - 1000 - k
        np.testing.assert_array_equal(volume[k], expected)
    assert source.metadata["rescale"]["slope"] == [1.0, 2.0, 3.0]


def test_fractional_rescale_gives_float32(reader: DicomReader, tmp_path: Path) -> None:
    write_series(tmp_path / "ct", 3, slope=0.5, intercept=-10.25)
    with reader.open(tmp_path / "ct") as source:
        assert source.dtype == np.float32
        np.testing.assert_allclose(source.read_all()[1], stored_slice(1) * 0.5 - 10.25)


def test_oblique_orientation_sorts_along_the_normal(reader: DicomReader, tmp_path: Path) -> None:
    sagittal = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)  # normal = row × column = (-1, 0, 0)
    for k, x in enumerate([10.0, 12.0, 14.0, 16.0]):
        write_slice(
            tmp_path / f"{k}", stored_slice(k), position=(x, 5.0, 7.0), orientation=sagittal
        )
    with reader.open(tmp_path) as source:
        volume = source.read_all()
    # ascending along (-1, 0, 0): x = 16 first
    np.testing.assert_array_equal(volume[0], stored_slice(3).astype(np.int16) - 1024)
    assert source.metadata["origin"] == [7.0, 5.0, 16.0]
    assert source.metadata["direction"] == [[0.0, 0.0, -1.0], [-1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]


def test_instance_number_when_positions_are_missing(reader: DicomReader, tmp_path: Path) -> None:
    for k in range(3):
        write_slice(tmp_path / f"z{k}", stored_slice(k), position=None, instance=3 - k)
    with reader.open(tmp_path) as source:
        assert source.spacing[0] == 2.5  # SliceThickness
        volume = source.read_all()
    np.testing.assert_array_equal(volume[0], stored_slice(2).astype(np.int16) - 1024)


def test_single_slice_geometry(reader: DicomReader, tmp_path: Path) -> None:
    path = write_slice(tmp_path / "one.dcm", stored_slice(0), position=(1.0, 2.0, 3.0))
    with reader.open(path) as source:
        assert source.shape == (1, 12, 10)
        assert source.metadata["origin"] == [3.0, 2.0, 1.0]


def test_duplicated_positions_are_refused(reader: DicomReader, tmp_path: Path) -> None:
    write_slice(tmp_path / "a", stored_slice(0), position=(0, 0, 5.0))
    write_slice(tmp_path / "b", stored_slice(1), position=(0, 0, 5.0))
    with pytest.raises(BadInputError, match="same position 5 mm") as caught:
        reader.open(tmp_path)
    assert_one_line(caught.value, str(tmp_path), "(a and b)")


def test_uneven_spacing_names_the_positions(reader: DicomReader, tmp_path: Path) -> None:
    for k, z in enumerate([0.0, 2.5, 5.0, 10.0, 12.5]):
        write_slice(tmp_path / f"s{k}", stored_slice(k), position=(0, 0, z))
    with pytest.raises(BadInputError, match="gaps or uneven") as caught:
        reader.open(tmp_path)
    assert_one_line(caught.value, "5 → 10 mm")


def test_two_series_are_refused_with_their_uids(reader: DicomReader, tmp_path: Path) -> None:
    write_series(tmp_path / "a", 3, series_uid="1.2.3.4.1", description="arterial")
    write_series(tmp_path / "b", 2, series_uid="1.2.3.4.2", description="venous")
    with pytest.raises(BadInputError, match="holds 2 DICOM series") as caught:
        reader.open(tmp_path)
    assert_one_line(
        caught.value, "1.2.3.4.1 'arterial' (3 files, in a)", "1.2.3.4.2 'venous' (2 files, in b)"
    )
    with reader.open(tmp_path / "b") as source:  # the way out the message suggests
        assert source.shape[0] == 2


def test_folder_without_dicom_files(reader: DicomReader, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello\n")
    assert not reader.sniff(tmp_path)
    with pytest.raises(BadInputError, match="no DICOM files in folder") as caught:
        reader.open(tmp_path)
    assert_one_line(caught.value, str(tmp_path))


def test_folder_with_only_a_dicomdir(reader: DicomReader, tmp_path: Path) -> None:
    shutil.copy(DICOMDIR_TREE / "DICOMDIR", tmp_path / "DICOMDIR")
    with pytest.raises(BadInputError, match="no DICOM image files in folder"):
        reader.open(tmp_path)
    with pytest.raises(BadInputError, match="DICOMDIR index"):
        reader.open(tmp_path / "DICOMDIR")


def test_whole_slide_dicom_is_left_to_openslide(reader: DicomReader, tmp_path: Path) -> None:
    path = write_slice(tmp_path / "wsi.dcm", stored_slice(0))
    dataset = pydicom.dcmread(path)
    wsi = "1.2.840.10008.5.1.4.1.1.77.1.6"
    dataset.SOPClassUID = dataset.file_meta.MediaStorageSOPClassUID = wsi
    dataset.save_as(path, enforce_file_format=True)
    with pytest.raises(BadInputError, match="whole-slide image"):
        reader.open(path)


def test_truncated_pixel_data_fails_on_read(reader: DicomReader, tmp_path: Path) -> None:
    paths = write_series(tmp_path, 3)
    broken = sorted(paths)[1]
    broken.write_bytes(broken.read_bytes()[:-50])
    source = reader.open(tmp_path)
    with source, pytest.raises(BadInputError, match="cannot read pixel data") as caught:
        source.read_all()
    assert_one_line(caught.value, str(broken))


def test_garbage_after_the_preamble_fails_on_open(reader: DicomReader, tmp_path: Path) -> None:
    write_series(tmp_path, 3)
    garbage = tmp_path / "IM-0003.dcm"
    noise = np.random.default_rng(1).integers(0, 256, 2000, dtype=np.uint8).tobytes()
    garbage.write_bytes(b"\0" * 128 + b"DICM" + noise)
    with pytest.raises(BadInputError, match="unreadable DICOM header") as caught:
        reader.open(tmp_path)
    assert_one_line(caught.value, str(garbage))


def test_random_bytes_named_dcm(reader: DicomReader, tmp_path: Path) -> None:
    path = tmp_path / "x.dcm"
    path.write_bytes(np.random.default_rng(2).integers(0, 256, 3000, dtype=np.uint8).tobytes())
    assert not reader.sniff(path)
    with pytest.raises(BadInputError, match="not a DICOM file") as caught:
        reader.open(path)
    assert_one_line(caught.value, str(path))


def test_concurrent_reads_agree(reader: DicomReader, tmp_path: Path) -> None:
    write_series(tmp_path, 6)
    with reader.open(tmp_path) as source:
        expected = source.read_all()
        results: dict[int, np.ndarray] = {}

        def work(k: int) -> None:
            results[k] = source.read((slice(k, k + 1), slice(0, 12), slice(0, 10)))

        threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    for k in range(6):
        np.testing.assert_array_equal(results[k][0], expected[k])


# --- robustness ----------------------------------------------------------------------------


def test_sniff_refuses_junk(reader: DicomReader, tmp_path: Path) -> None:
    assert_refuses_junk(reader, tmp_path)


FUZZ = fuzz_settings(max_examples=40)


@FUZZ
@given(data=st.binary(max_size=2048))
def test_fuzz_random_bytes(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "f.dcm"
    path.write_bytes(data)
    reader = DicomReader()
    sniff_and_open_or_refuse(reader, path)
    path.write_bytes(b"\0" * 128 + b"DICM" + data)
    assert reader.sniff(path)
    open_and_read_or_refuse(reader, path)


@FUZZ
@given(cut=st.integers(min_value=0, max_value=(TEST_FILES / "CT_small.dcm").stat().st_size))
def test_fuzz_truncated_file(tmp_path_factory: pytest.TempPathFactory, cut: int) -> None:
    path = tmp_path_factory.mktemp("cut") / "ct.dcm"
    path.write_bytes((TEST_FILES / "CT_small.dcm").read_bytes()[:cut])
    reader = DicomReader()
    assert reader.sniff(path) == (cut >= 132)
    open_and_read_or_refuse(reader, path)
