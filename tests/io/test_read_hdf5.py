"""HDF5 image/annotation-pair reader: written pair files, layout errors, broken inputs."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from reader_helpers import (
    assert_one_line,
    assert_refuses_junk,
    fuzz_settings,
    sniff_and_open_or_refuse,
)

from medtk.errors import BadInputError
from medtk.io.hdf5 import Hdf5Reader


@pytest.fixture
def reader() -> Hdf5Reader:
    return Hdf5Reader()


def write_samples(path: Path, samples: dict[str, np.ndarray], **options: Any) -> Path:
    """One HDF5 file with a root dataset per sample name."""
    with h5py.File(path, "w", **options) as handle:
        for name, array in samples.items():
            handle.create_dataset(name, data=array)
    return path


def rgb_sample(i: int) -> np.ndarray:
    """Sample ``i`` of an RGB image file: (H, W, 3) uint8 with distinct values."""
    return ((np.arange(16 * 12 * 3).reshape(16, 12, 3) + 7 * i) % 256).astype(np.uint8)


def mask_sample(i: int) -> np.ndarray:
    """The annotation of sample ``i``: (H, W) labels."""
    mask = np.zeros((16, 12), np.uint8)
    mask[i : i + 4, 2:6] = i + 1
    return mask


def test_image_annotation_pair(reader: Hdf5Reader, tmp_path: Path) -> None:
    images = write_samples(tmp_path / "images.h5", {str(i): rgb_sample(i) for i in range(5)})
    labels = write_samples(tmp_path / "labels.h5", {str(i): mask_sample(i) for i in range(5)})
    assert reader.sniff(images)
    with reader.open(images) as source:
        assert source.axes == ("t", "c", "y", "x")
        assert source.shape == (5, 3, 16, 12)
        assert source.dtype == np.uint8
        assert source.spacing == (1.0, 1.0)
        assert source.unit == ""
        assert source.metadata == {"samples": 5, "layout": "image-annotation pairs"}
        block = source.read((slice(1, 3), slice(0, 2), slice(4, 10), slice(3, 12)))
    for k, i in enumerate((1, 2)):
        np.testing.assert_array_equal(block[k], np.moveaxis(rgb_sample(i), -1, 0)[:2, 4:10, 3:])
    with reader.open(labels) as source:
        assert source.axes == ("t", "y", "x")
        assert source.shape == (5, 16, 12)
        np.testing.assert_array_equal(source.read_all()[3], mask_sample(3))


def test_3d_with_and_without_channel(reader: Hdf5Reader, tmp_path: Path) -> None:
    data = np.random.default_rng(0).random((2, 6, 8, 10, 1)).astype(np.float32)
    with_channel = write_samples(tmp_path / "c.h5", {"0": data[0], "1": data[1]})
    with reader.open(with_channel) as source:
        assert source.axes == ("t", "c", "z", "y", "x")
        assert source.shape == (2, 1, 6, 8, 10)
        assert source.spacing == (1.0, 1.0, 1.0)
        np.testing.assert_array_equal(source.read_all(), np.moveaxis(data, -1, 1))
    plain = write_samples(tmp_path / "z.h5", {"0": data[0, ..., 0], "1": data[1, ..., 0]})
    with reader.open(plain) as source:
        assert source.axes == ("t", "z", "y", "x")
        np.testing.assert_array_equal(source.read_all(), data[..., 0])


def test_chunked_datasets_give_a_tile(reader: Hdf5Reader, tmp_path: Path) -> None:
    path = tmp_path / "chunked.h5"
    with h5py.File(path, "w") as handle:
        for i in range(3):
            handle.create_dataset(str(i), data=rgb_sample(i), chunks=(8, 6, 3))
    with reader.open(path) as source:
        assert source.tile == (1, 3, 8, 6)


def test_mismatched_shapes(reader: Hdf5Reader, tmp_path: Path) -> None:
    samples = {str(i): np.zeros((128, 128), np.uint8) for i in range(5)}
    samples["3"] = np.zeros((64, 64), np.uint8)
    path = write_samples(tmp_path / "m.h5", samples)
    with pytest.raises(BadInputError) as caught:
        reader.open(path)
    assert_one_line(
        caught.value, str(path), "dataset '3' has shape (64, 64) but '0' has (128, 128)"
    )


def test_mismatched_dtypes(reader: Hdf5Reader, tmp_path: Path) -> None:
    path = write_samples(
        tmp_path / "d.h5", {"0": np.zeros((4, 4), np.uint8), "1": np.zeros((4, 4), np.float32)}
    )
    with pytest.raises(BadInputError, match="dataset '1' has dtype float32 but '0' has uint8"):
        reader.open(path)


def test_missing_sample_names(reader: Hdf5Reader, tmp_path: Path) -> None:
    path = write_samples(tmp_path / "gap.h5", {n: np.zeros((4, 4)) for n in ("0", "1", "4")})
    with pytest.raises(BadInputError, match=r"'2', '3' missing") as caught:
        reader.open(path)
    assert_one_line(caught.value, str(path))


def test_other_names_are_refused(reader: Hdf5Reader, tmp_path: Path) -> None:
    path = write_samples(tmp_path / "o.h5", {"0": np.zeros((4, 4)), "images": np.zeros((4, 4))})
    with pytest.raises(BadInputError, match="root entries 'images'"):
        reader.open(path)
    empty = write_samples(tmp_path / "empty.h5", {})
    with pytest.raises(BadInputError, match="holds no datasets"):
        reader.open(empty)


def test_group_instead_of_dataset(reader: Hdf5Reader, tmp_path: Path) -> None:
    path = tmp_path / "g.h5"
    with h5py.File(path, "w") as handle:
        handle.create_dataset("0", data=np.zeros((4, 4)))
        handle.create_group("1")
    with pytest.raises(BadInputError, match="'1' is a group"):
        reader.open(path)


def test_unsupported_sample_shape(reader: Hdf5Reader, tmp_path: Path) -> None:
    path = write_samples(tmp_path / "1d.h5", {"0": np.zeros(10), "1": np.zeros(10)})
    with pytest.raises(BadInputError, match=r"sample '0' has shape \(10,\)"):
        reader.open(path)


def test_user_block(reader: Hdf5Reader, tmp_path: Path) -> None:
    path = write_samples(tmp_path / "ub.h5", {"0": np.ones((4, 5), ">f4")}, userblock_size=512)
    assert path.read_bytes()[:8] != b"\x89HDF\r\n\x1a\n"
    assert reader.sniff(path)
    with reader.open(path) as source:
        assert source.dtype == np.dtype("float32")  # big-endian on disk, native in memory
        np.testing.assert_array_equal(source.read_all(), np.ones((1, 4, 5)))


def test_concurrent_reads_agree(reader: Hdf5Reader, tmp_path: Path) -> None:
    path = write_samples(tmp_path / "t.h5", {str(i): rgb_sample(i) for i in range(8)})
    results: dict[int, np.ndarray] = {}
    with reader.open(path) as source:

        def work(i: int) -> None:
            results[i] = source.read((slice(i, i + 1), slice(0, 3), slice(0, 16), slice(0, 12)))

        threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    for i, block in results.items():
        np.testing.assert_array_equal(block[0], np.moveaxis(rgb_sample(i), -1, 0))


def test_not_hdf5(reader: Hdf5Reader, tmp_path: Path) -> None:
    path = tmp_path / "fake.h5"
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 100)  # signature, nothing behind it
    assert reader.sniff(path)
    with pytest.raises(BadInputError, match="unreadable HDF5 file") as caught:
        reader.open(path)
    assert_one_line(caught.value, str(path))


def test_sniff_refuses_junk(reader: Hdf5Reader, tmp_path: Path) -> None:
    assert_refuses_junk(reader, tmp_path)


FUZZ = fuzz_settings(max_examples=40)


@FUZZ
@given(data=st.binary(max_size=2048))
def test_fuzz_random_bytes(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "f.h5"
    reader = Hdf5Reader()
    for prefix in (b"", b"\x89HDF\r\n\x1a\n"):
        path.write_bytes(prefix + data)
        sniff_and_open_or_refuse(reader, path)


@FUZZ
@given(fraction=st.floats(min_value=0.0, max_value=1.0))
def test_fuzz_truncated_file(tmp_path_factory: pytest.TempPathFactory, fraction: float) -> None:
    folder = tmp_path_factory.mktemp("cut")
    path = write_samples(folder / "s.h5", {str(i): rgb_sample(i) for i in range(3)})
    original = path.read_bytes()
    path.write_bytes(original[: int(len(original) * fraction)])
    sniff_and_open_or_refuse(Hdf5Reader(), path)
