"""NIfTI reader: nibabel's real test files, written variants, broken inputs."""

from __future__ import annotations

import gzip
import shutil
import threading
from pathlib import Path

import nibabel
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from reader_helpers import (
    assert_one_line,
    assert_refuses_junk,
    fuzz_settings,
    open_and_read_or_refuse,
    sniff_and_open_or_refuse,
)

from medtk.errors import BadInputError
from medtk.io.nifti import NiftiReader

NIBABEL_DATA = Path(nibabel.__file__).parent / "tests" / "data"


@pytest.fixture
def reader() -> NiftiReader:
    return NiftiReader()


def reference(path: Path) -> np.ndarray:
    """What nibabel itself reads, in medtk's axis order (all axes reversed)."""
    return np.asarray(nibabel.load(path).dataobj).transpose()


def save(path: Path, data: np.ndarray, affine: np.ndarray | None = None, **units: str) -> Path:
    """Write ``data`` (NIfTI x, y, z[, …] order) as NIfTI-1; ``units`` as xyzt units."""
    image = nibabel.Nifti1Image(data, np.eye(4) if affine is None else affine)
    if units:
        image.header.set_xyzt_units(**units)
    nibabel.save(image, path)
    return path


# --- real files ------------------------------------------------------------------------


def test_example4d_is_t_z_y_x(reader: NiftiReader) -> None:
    path = NIBABEL_DATA / "example4d.nii.gz"
    assert reader.sniff(path)
    with reader.open(path) as source:
        assert source.axes == ("t", "z", "y", "x")
        assert source.shape == (2, 24, 96, 128)
        assert source.spacing == pytest.approx((2.2, 2.0, 2.0))
        assert source.unit == "millimeter"
        assert source.dtype == np.int16
        np.testing.assert_array_equal(source.read_all(), reference(path))
    assert source.metadata["time_unit"] == "second"
    assert source.metadata["affine_source"] == "sform"


def test_big_endian_anatomical_reads_native(reader: NiftiReader) -> None:
    path = NIBABEL_DATA / "anatomical.nii"
    with reader.open(path) as source:
        assert source.axes == ("z", "y", "x")
        assert source.shape == (25, 41, 33)
        assert source.dtype == np.dtype("int16")  # native order, though the file is >i2
        data = source.read_all()
        assert data.dtype.byteorder in ("=", "|")
        np.testing.assert_array_equal(data, reference(path))
        block = source.read((slice(3, 9), slice(10, 30), slice(5, 7)))
        np.testing.assert_array_equal(block, data[3:9, 10:30, 5:7])
    # sform diag(-2, 2, 2), offset (32, -40, -16) in RAS → LPS, listed z, y, x
    assert source.metadata["origin"] == pytest.approx([-16.0, 40.0, -32.0])
    assert source.metadata["direction"] == [[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0]]


def test_nifti2(reader: NiftiReader) -> None:
    path = NIBABEL_DATA / "example_nifti2.nii.gz"
    assert reader.sniff(path)
    with reader.open(path) as source:
        np.testing.assert_array_equal(source.read_all(), reference(path))


# --- written files -----------------------------------------------------------------------


def test_found_by_content_without_a_suffix(reader: NiftiReader, tmp_path: Path) -> None:
    path = tmp_path / "scan"
    shutil.copy(NIBABEL_DATA / "example4d.nii.gz", path)
    assert reader.sniff(path)
    with reader.open(path) as source:
        assert source.shape == (2, 24, 96, 128)
        expected = reference(NIBABEL_DATA / "example4d.nii.gz")
        np.testing.assert_array_equal(source.read_all(), expected)


def test_scaled_data_reads_as_nibabel_scales_it(reader: NiftiReader, tmp_path: Path) -> None:
    data = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6)
    image = nibabel.Nifti1Image(data, np.eye(4))
    image.header.set_slope_inter(0.5, 10.0)
    path = tmp_path / "scaled.nii.gz"
    nibabel.save(image, path)
    expected_dtype = np.asarray(nibabel.load(path).dataobj).dtype
    with reader.open(path) as source:
        assert source.dtype == expected_dtype
        assert source.dtype.kind == "f"
        values = source.read_all()
    np.testing.assert_allclose(values, data.transpose() * 0.5 + 10.0)


def test_2d(reader: NiftiReader, tmp_path: Path) -> None:
    data = np.arange(12, dtype=np.float32).reshape(3, 4)
    with reader.open(save(tmp_path / "plane.nii", data)) as source:
        assert source.axes == ("y", "x")
        assert source.shape == (4, 3)
        assert len(source.spacing) == 2
        np.testing.assert_array_equal(source.read_all(), data.T)


@pytest.mark.parametrize(
    ("fourth", "units", "axis"),
    [
        (3, {}, "c"),  # short, no time unit: channels
        (3, {"t": "sec"}, "t"),  # a time unit: time points
        (12, {}, "t"),  # long: time points
    ],
)
def test_fourth_axis(
    reader: NiftiReader, tmp_path: Path, fourth: int, units: dict[str, str], axis: str
) -> None:
    data = np.random.default_rng(0).random((5, 4, 3, fourth)).astype(np.float32)
    with reader.open(save(tmp_path / "v.nii.gz", data, **units)) as source:
        assert source.axes == (axis, "z", "y", "x")
        assert source.shape == (fourth, 3, 4, 5)
        np.testing.assert_array_equal(source.read_all(), data.transpose())


def test_itk_vector_layout_is_channels(reader: NiftiReader, tmp_path: Path) -> None:
    data = np.random.default_rng(0).random((5, 4, 3, 1, 3)).astype(np.float32)
    with reader.open(save(tmp_path / "field.nii", data)) as source:
        assert source.axes == ("c", "z", "y", "x")
        np.testing.assert_array_equal(source.read_all(), data[:, :, :, 0].transpose())


def test_5d_is_refused(reader: NiftiReader, tmp_path: Path) -> None:
    path = save(tmp_path / "five.nii", np.zeros((2, 3, 4, 2, 2), np.uint8))
    with pytest.raises(BadInputError, match=r"unexpected shape \(2, 3, 4, 2, 2\)") as caught:
        reader.open(path)
    assert_one_line(caught.value, str(path), "medtk reads 2D, 3D and 4D NIfTI")


def test_zero_size_dimension_is_refused(reader: NiftiReader, tmp_path: Path) -> None:
    path = save(tmp_path / "ok.nii", np.zeros((2, 3, 4), np.uint8))
    raw = bytearray(path.read_bytes())
    raw[44:46] = (0).to_bytes(2, "little")  # dim[2] (y) = 0
    path.write_bytes(bytes(raw))
    with pytest.raises(BadInputError, match="unexpected shape") as caught:
        reader.open(path)
    assert_one_line(caught.value, str(path))


def test_micron_units(reader: NiftiReader, tmp_path: Path) -> None:
    path = save(tmp_path / "m.nii", np.zeros((4, 4, 4), np.uint16), xyz="micron")
    with reader.open(path) as source:
        assert source.unit == "micrometer"


def test_geometry_is_lps_in_zyx_order(reader: NiftiReader, tmp_path: Path) -> None:
    affine = np.array(
        [[2.0, 0.0, 0.0, 10.0], [0.0, 3.0, 0.0, 20.0], [0.0, 0.0, 4.0, 30.0], [0, 0, 0, 1]]
    )
    path = save(tmp_path / "g.nii", np.zeros((4, 5, 6), np.int16), affine)
    with reader.open(path) as source:
        assert source.spacing == pytest.approx((4.0, 3.0, 2.0))
        # RAS (10, 20, 30) is LPS (-10, -20, 30); listed z, y, x
        assert source.metadata["origin"] == pytest.approx([30.0, -20.0, -10.0])
        # +i is RAS +x = LPS -x; +j is LPS -y; +k is LPS +z (each listed z, y, x)
        assert source.metadata["direction"] == [
            [1.0, 0.0, 0.0],
            [0.0, -1.0, 0.0],
            [0.0, 0.0, -1.0],
        ]


def test_header_image_pair(reader: NiftiReader, tmp_path: Path) -> None:
    data = np.arange(60, dtype=np.int16).reshape(3, 4, 5)
    nibabel.save(nibabel.Nifti1Pair(data, np.eye(4)), tmp_path / "pair.hdr")
    assert reader.sniff(tmp_path / "pair.hdr")
    with reader.open(tmp_path / "pair.hdr") as source:
        np.testing.assert_array_equal(source.read_all(), data.transpose())
    assert {f.name for f in source.files} == {"pair.hdr", "pair.img"}
    (tmp_path / "pair.img").unlink()
    with pytest.raises(BadInputError, match=r"image file 'pair\.img' does not exist"):
        reader.open(tmp_path / "pair.hdr")


def test_gzip_regions_in_any_order(reader: NiftiReader, tmp_path: Path) -> None:
    data = np.random.default_rng(1).integers(0, 1000, (20, 18, 16), dtype=np.int32)
    path = save(tmp_path / "big.nii.gz", data)
    full = data.transpose()
    with reader.open(path) as source:
        for z0, y0, x0 in [(8, 0, 0), (0, 9, 10), (8, 9, 0), (12, 3, 4), (0, 0, 0)]:
            region = (slice(z0, z0 + 4), slice(y0, y0 + 9), slice(x0, x0 + 10))
            np.testing.assert_array_equal(source.read(region), full[region])


def test_concurrent_reads_agree(reader: NiftiReader) -> None:
    path = NIBABEL_DATA / "example4d.nii.gz"
    expected = reference(path)
    results: dict[int, np.ndarray] = {}
    with reader.open(path) as source:

        def work(k: int) -> None:
            results[k] = source.read((slice(k % 2, k % 2 + 1), slice(k, k + 3), *source_yx))

        source_yx = (slice(0, 96), slice(0, 128))
        threads = [threading.Thread(target=work, args=(k,)) for k in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    for k, block in results.items():
        np.testing.assert_array_equal(block, expected[k % 2 : k % 2 + 1, k : k + 3])


# --- broken files --------------------------------------------------------------------------


def test_truncated_nii_gz(reader: NiftiReader, tmp_path: Path) -> None:
    original = (NIBABEL_DATA / "example4d.nii.gz").read_bytes()
    path = tmp_path / "cut.nii.gz"
    path.write_bytes(original[: len(original) // 2])
    with pytest.raises(BadInputError) as caught, reader.open(path) as source:
        source.read_all()
    assert_one_line(caught.value, str(path))


def test_truncated_nii_fails_at_open(reader: NiftiReader, tmp_path: Path) -> None:
    path = tmp_path / "cut.nii"
    path.write_bytes((NIBABEL_DATA / "anatomical.nii").read_bytes()[:5000])
    with pytest.raises(BadInputError, match="truncated") as caught:
        reader.open(path)
    assert_one_line(caught.value, str(path))


def test_gzip_that_is_not_nifti(reader: NiftiReader, tmp_path: Path) -> None:
    path = tmp_path / "notes.nii.gz"
    path.write_bytes(gzip.compress(b"hello " * 200))
    assert not reader.sniff(path)
    with pytest.raises(BadInputError, match="not a NIfTI file"):
        reader.open(path)


def test_sniff_refuses_junk(reader: NiftiReader, tmp_path: Path) -> None:
    assert_refuses_junk(reader, tmp_path)


FUZZ = fuzz_settings(max_examples=40)
ANATOMICAL = (NIBABEL_DATA / "anatomical.nii").read_bytes()
EXAMPLE4D = (NIBABEL_DATA / "example4d.nii.gz").read_bytes()


@FUZZ
@given(data=st.binary(max_size=2048))
def test_fuzz_random_bytes(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "f.nii"
    path.write_bytes(data)
    sniff_and_open_or_refuse(NiftiReader(), path)


@FUZZ
@given(
    which=st.sampled_from(["nii", "nii.gz"]),
    fraction=st.floats(min_value=0.0, max_value=1.0),
)
def test_fuzz_truncated_file(
    tmp_path_factory: pytest.TempPathFactory, which: str, fraction: float
) -> None:
    original = ANATOMICAL if which == "nii" else EXAMPLE4D
    path = tmp_path_factory.mktemp("cut") / f"f.{which}"
    path.write_bytes(original[: int(len(original) * fraction)])
    sniff_and_open_or_refuse(NiftiReader(), path)


@FUZZ
@given(at=st.integers(min_value=0, max_value=351), value=st.integers(0, 255))
def test_fuzz_corrupt_header_byte(
    tmp_path_factory: pytest.TempPathFactory, at: int, value: int
) -> None:
    raw = bytearray(ANATOMICAL)
    raw[at] = value
    path = tmp_path_factory.mktemp("bad") / "f.nii"
    path.write_bytes(bytes(raw))
    open_and_read_or_refuse(NiftiReader(), path)
