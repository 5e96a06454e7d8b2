"""NRRD and MetaImage reader: the shared CT and MRI volumes, written files, broken inputs."""

from __future__ import annotations

import re
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk  # noqa: N813 (SimpleITK's own convention)
from hypothesis import given
from hypothesis import strategies as st
from reader_helpers import (
    assert_one_line,
    assert_refuses_junk,
    fuzz_settings,
    sniff_and_open_or_refuse,
)

from conftest import sample_file
from medtk.errors import BadInputError
from medtk.io.itk import ItkReader


@pytest.fixture
def reader() -> ItkReader:
    return ItkReader()


def volume(shape: tuple[int, int, int] = (6, 5, 4)) -> np.ndarray:
    """A small int16 volume (z, y, x) with distinct values."""
    return (np.arange(np.prod(shape)) - 50).astype(np.int16).reshape(shape)


def write(path: Path, array: np.ndarray, *, vector: bool = False, compress: bool = False) -> Path:
    """Write ``array`` (z, y, x[, c]) with spacing x 0.5, y 0.6, z 2.0 and origin (1, 2, 3)."""
    image = sitk.GetImageFromArray(array, isVector=vector)
    image.SetSpacing([0.5, 0.6, 2.0][: image.GetDimension()])
    image.SetOrigin([1.0, 2.0, 3.0][: image.GetDimension()])
    sitk.WriteImage(image, str(path), useCompression=compress)
    return path


# --- the shared sample volumes -----------------------------------------------------------


def test_lung_ct_nrrd(reader: ItkReader) -> None:
    path = sample_file("ct", "lung2_image.nrrd")
    assert reader.sniff(path)
    with reader.open(path) as source:
        assert source.axes == ("z", "y", "x")
        assert source.shape == (61, 512, 512)
        assert source.dtype == np.int16
        assert source.spacing == pytest.approx((5.0, 0.63, 0.63), abs=0.01)
        assert source.unit == "millimeter"
        slab = source.read((slice(50, 61), slice(0, 512), slice(0, 512)))
    assert slab.min() == -1024  # air, in HU
    assert slab.max() > 100  # liver and bone in the lowest slices
    assert len(source.metadata["origin"]) == 3


def test_brain_mri_nrrd(reader: ItkReader) -> None:
    path = sample_file("mri", "brain1_image.nrrd")
    with reader.open(path) as source:
        assert source.shape == (25, 256, 256)
        assert source.spacing == pytest.approx((6.5, 0.78, 0.78), abs=0.01)
        expected = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))
        np.testing.assert_array_equal(source.read_all(), expected)


# --- written files -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "compress", "files"),
    [
        ("a.mha", False, ["a.mha"]),
        ("b.mhd", False, ["b.mhd", "b.raw"]),
        ("c.mha", True, ["c.mha"]),
        ("d.nrrd", False, ["d.nrrd"]),
        ("e.nrrd", True, ["e.nrrd"]),
        ("f.nhdr", False, ["f.nhdr", "f.raw"]),
    ],
)
def test_written_files_read_back(
    reader: ItkReader, tmp_path: Path, name: str, compress: bool, files: list[str]
) -> None:
    path = write(tmp_path / name, volume(), compress=compress)
    assert reader.sniff(path)
    with reader.open(path) as source:
        assert source.axes == ("z", "y", "x")
        assert source.shape == (6, 5, 4)
        assert source.spacing == pytest.approx((2.0, 0.6, 0.5))
        np.testing.assert_array_equal(source.read_all(), volume())
        np.testing.assert_array_equal(
            source.read((slice(2, 5), slice(1, 3), slice(0, 4))), volume()[2:5, 1:3]
        )
    assert [f.name for f in source.files] == files
    assert source.metadata["origin"] == pytest.approx([3.0, 2.0, 1.0])
    assert source.metadata["direction"] == [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]


def test_rgb_gets_a_channel_axis(reader: ItkReader, tmp_path: Path) -> None:
    rgb = np.random.default_rng(0).integers(0, 255, (7, 9, 3), dtype=np.uint8)
    with reader.open(write(tmp_path / "rgb.mha", rgb, vector=True)) as source:
        assert source.axes == ("c", "y", "x")
        assert source.shape == (3, 7, 9)
        assert source.spacing == pytest.approx((0.6, 0.5))
        np.testing.assert_array_equal(source.read_all(), np.moveaxis(rgb, -1, 0))


def test_found_by_content_without_a_suffix(reader: ItkReader, tmp_path: Path) -> None:
    write(tmp_path / "v.nrrd", volume())
    shutil.copy(tmp_path / "v.nrrd", tmp_path / "scan")
    assert reader.sniff(tmp_path / "scan")
    with reader.open(tmp_path / "scan") as source:
        np.testing.assert_array_equal(source.read_all(), volume())


def test_image_is_read_once_on_first_read(
    reader: ItkReader, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "v.mha", volume())
    calls: list[str] = []
    original = sitk.ImageFileReader.Execute

    def spy(self: sitk.ImageFileReader) -> sitk.Image:
        calls.append(self.GetFileName())
        return original(self)

    monkeypatch.setattr(sitk.ImageFileReader, "Execute", spy)
    with reader.open(path) as source:
        assert calls == []  # open reads the header only
        threads = [
            threading.Thread(
                target=source.read, args=((slice(k, k + 1), slice(0, 5), slice(0, 4)),)
            )
            for k in range(6)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        np.testing.assert_array_equal(source.read_all(), volume())
    assert calls == [str(path)]


# --- broken files --------------------------------------------------------------------------


def test_truncated_mha_fails_at_open(reader: ItkReader, tmp_path: Path) -> None:
    path = write(tmp_path / "v.mha", volume())
    path.write_bytes(path.read_bytes()[:-50])
    with pytest.raises(BadInputError, match="truncated") as caught:
        reader.open(path)
    assert_one_line(caught.value, str(path))


def test_truncated_compressed_nrrd_fails_at_read(reader: ItkReader, tmp_path: Path) -> None:
    path = write(tmp_path / "v.nrrd", volume((20, 30, 40)), compress=True)
    path.write_bytes(path.read_bytes()[:-40])
    source = reader.open(path)
    with source, pytest.raises(BadInputError, match="cannot read NRRD image data") as caught:
        source.read_all()
    assert_one_line(caught.value, str(path))


def test_missing_raw_file(reader: ItkReader, tmp_path: Path) -> None:
    path = write(tmp_path / "v.mhd", volume())
    (tmp_path / "v.raw").unlink()
    with pytest.raises(BadInputError, match=r"'v\.raw' named in the header does not exist"):
        reader.open(path)


def test_broken_header(reader: ItkReader, tmp_path: Path) -> None:
    path = tmp_path / "bad.mha"
    path.write_text("ObjectType = Image\nNDims = 3\nElementType = MET_NOPE\nDimSize = x\n")
    assert reader.sniff(path)
    with pytest.raises(BadInputError) as caught:
        reader.open(path)
    assert_one_line(caught.value, str(path))


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("NDims = 73", "'NDims'"),  # ITK's MetaIO aborts the process on this one
        ("DimSize = 4 5", "'DimSize' '4 5' does not give 3 positive sizes"),
        ("DimSize = 4 0 6", "does not give 3 positive sizes"),
    ],
)
def test_header_checked_before_itk_parses_it(
    reader: ItkReader, tmp_path: Path, line: str, problem: str
) -> None:
    path = write(tmp_path / "v.mha", volume())
    key = line.split(" =", maxsplit=1)[0]
    raw = path.read_bytes()
    header, marker, data = raw.partition(b"ElementDataFile = LOCAL\n")
    lines = [line if text.startswith(key + " ") else text for text in header.decode().splitlines()]
    path.write_bytes(("\n".join(lines) + "\n").encode() + marker + data)
    with pytest.raises(BadInputError, match=re.escape(problem)) as caught:
        reader.open(path)
    assert_one_line(caught.value, str(path))


def test_sniff_refuses_junk(reader: ItkReader, tmp_path: Path) -> None:
    assert_refuses_junk(reader, tmp_path)


FUZZ = fuzz_settings(max_examples=30)


@FUZZ
@given(data=st.binary(max_size=2048))
def test_fuzz_random_bytes(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    folder = tmp_path_factory.mktemp("fuzz")
    reader = ItkReader()
    for name, prefix in [("f.mha", b""), ("g.nrrd", b"NRRD0004\n"), ("h.mha", b"ObjectType = ")]:
        (folder / name).write_bytes(prefix + data)
        sniff_and_open_or_refuse(reader, folder / name)


@FUZZ
@given(
    name=st.sampled_from(["v.mha", "v.nrrd", "z.nrrd"]),
    fraction=st.floats(min_value=0.0, max_value=1.0),
)
def test_fuzz_truncated_file(
    tmp_path_factory: pytest.TempPathFactory, name: str, fraction: float
) -> None:
    folder = tmp_path_factory.mktemp("cut")
    path = write(folder / name, volume(), compress=name.startswith("z"))
    original = path.read_bytes()
    path.write_bytes(original[: int(len(original) * fraction)])
    sniff_and_open_or_refuse(ItkReader(), path)
