"""Slice folders and single pictures: natural order, modes, mismatches, junk, threads."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import tifffile
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image
from reader_helpers import assert_one_line_unchained, fuzz_settings

from conftest import sample_file
from medtk.errors import BadInputError
from medtk.io.slices import SliceFolderReader, natural_key

RNG_SEED = 11  # the root conftest's ``rng`` fixture seeds with it


@pytest.fixture
def reader() -> SliceFolderReader:
    return SliceFolderReader()


def write_png_folder(folder: Path, volume: np.ndarray, name: str = "slice{}.png") -> Path:
    """One PNG per z, numbered from 1 without zero padding (so name order is wrong)."""
    folder.mkdir(parents=True, exist_ok=True)
    for index, plane in enumerate(volume, start=1):
        Image.fromarray(plane).save(folder / name.format(index))
    return folder


def test_natural_key_orders_numbers_by_value():
    names = ["slice10.png", "slice2.png", "Slice1.png", "slice1b.png", "a.png"]
    assert sorted(names, key=natural_key) == [
        "a.png",
        "Slice1.png",
        "slice1b.png",
        "slice2.png",
        "slice10.png",
    ]


def test_folder_of_12_pngs_stacks_in_natural_order(reader, tmp_path, rng):
    volume = rng.integers(0, 255, (12, 30, 40), dtype=np.uint8)
    folder = write_png_folder(tmp_path / "stack", volume)
    assert reader.sniff(folder)
    with reader.open(folder) as source:
        assert (source.axes, source.shape, source.dtype) == (
            ("z", "y", "x"),
            (12, 30, 40),
            np.uint8,
        )
        assert (source.spacing, source.unit) == ((1.0, 1.0, 1.0), "")
        assert source.tile == (1, 30, 40)
        np.testing.assert_array_equal(source.read_all(), volume)
        region = (slice(8, 12), slice(3, 17), slice(20, 40))
        np.testing.assert_array_equal(source.read(region), volume[region])
    assert [f.name for f in source.files][:3] == ["slice1.png", "slice2.png", "slice3.png"]
    assert source.files[-1].name == "slice12.png"


def test_rgba_png_folder_gives_rgb_channels_first(reader, tmp_path, rng):
    volume = rng.integers(0, 255, (4, 20, 25, 4), dtype=np.uint8)
    folder = write_png_folder(tmp_path / "rgba", volume)
    with reader.open(folder) as source:
        assert (source.axes, source.shape) == (("c", "z", "y", "x"), (3, 4, 20, 25))
        expected = np.moveaxis(volume[..., :3], -1, 0)
        np.testing.assert_array_equal(source.read_all(), expected)
        region = (slice(1, 3), slice(1, 3), slice(5, 10), slice(0, 25))
        np.testing.assert_array_equal(source.read(region), expected[region])


def test_16bit_png_and_tiff_slices_mix(reader, tmp_path, rng):
    volume = rng.integers(0, 65535, (3, 20, 24), dtype=np.uint16)
    folder = tmp_path / "mixed"
    folder.mkdir()
    Image.fromarray(volume[0]).save(folder / "s1.png")
    tifffile.imwrite(folder / "s2.tif", volume[1])
    tifffile.imwrite(folder / "s3.tif", volume[2], byteorder=">")
    assert reader.sniff(folder)
    with reader.open(folder) as source:
        assert source.dtype == np.uint16
        np.testing.assert_array_equal(source.read_all(), volume)


def test_16bit_colour_pngs_keep_16_bits(reader, tmp_path, rng):
    import imagecodecs

    volume = rng.integers(0, 65535, (2, 12, 14, 4), dtype=np.uint16)
    folder = tmp_path / "deep"
    folder.mkdir()
    for index, plane in enumerate(volume):
        (folder / f"s{index}.png").write_bytes(imagecodecs.png_encode(plane))
    with reader.open(folder) as source:
        assert (source.shape, source.dtype) == ((3, 2, 12, 14), np.uint16)
        np.testing.assert_array_equal(source.read_all(), np.moveaxis(volume[..., :3], -1, 0))


def test_rgb_tiff_slices(reader, tmp_path, rng):
    volume = rng.integers(0, 255, (2, 16, 18, 3), dtype=np.uint8)
    folder = tmp_path / "rgb"
    folder.mkdir()
    tifffile.imwrite(folder / "a1.tif", volume[0], photometric="rgb")
    tifffile.imwrite(
        folder / "a2.tif", np.moveaxis(volume[1], -1, 0), photometric="rgb", planarconfig="separate"
    )
    with reader.open(folder) as source:
        assert source.shape == (3, 2, 16, 18)
        np.testing.assert_array_equal(source.read_all(), np.moveaxis(volume, -1, 0))


def test_hidden_files_are_ignored(reader, tmp_path, rng):
    folder = write_png_folder(tmp_path / "s", rng.integers(0, 255, (2, 8, 8), dtype=np.uint8))
    (folder / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (folder / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0")
    assert reader.sniff(folder)
    with reader.open(folder) as source:
        assert source.shape == (2, 8, 8)


def test_single_grey_png(reader, tmp_path, rng):
    image = rng.integers(0, 255, (33, 44), dtype=np.uint8)
    path = tmp_path / "one.png"
    Image.fromarray(image).save(path)
    assert reader.sniff(path)
    with reader.open(path) as source:
        assert (source.axes, source.shape, source.spacing) == (("y", "x"), (33, 44), (1.0, 1.0))
        np.testing.assert_array_equal(source.read((slice(3, 30), slice(0, 44))), image[3:30])


def test_single_rgb_jpeg_equals_pillow(reader, tmp_path, rng):
    path = tmp_path / "photo.jpeg"
    Image.fromarray(rng.integers(0, 255, (40, 60, 3), dtype=np.uint8)).save(path, quality=90)
    with Image.open(path) as image:
        decoded = np.asarray(image)
    assert reader.sniff(path)
    with reader.open(path) as source:
        assert (source.axes, source.shape) == (("c", "y", "x"), (3, 40, 60))
        np.testing.assert_array_equal(source.read_all(), np.moveaxis(decoded, -1, 0))
        np.testing.assert_array_equal(
            source.read((slice(2, 3), slice(0, 10), slice(5, 6))),
            np.moveaxis(decoded[:10, 5:6, 2:3], -1, 0),
        )


def test_palette_and_1bit_pngs(reader, tmp_path):
    palette = Image.new("P", (8, 6))
    palette.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    palette.putpixel((2, 3), 1)
    palette.save(tmp_path / "p.png")
    with reader.open(tmp_path / "p.png") as source:
        assert source.shape == (3, 6, 8)
        assert source.read_all()[:, 3, 2].tolist() == [255, 0, 0]
    mask = Image.new("1", (8, 6))
    mask.putpixel((1, 1), 1)
    mask.save(tmp_path / "m.png")
    with reader.open(tmp_path / "m.png") as source:
        data = source.read_all()
    assert data.dtype == np.uint8 and data.sum() == 1 and data[1, 1] == 1


def test_real_histology_png(reader):
    path = sample_file("histology", "target_image.png")
    assert reader.sniff(path)
    with reader.open(path) as source:
        assert (source.axes, source.shape, source.dtype) == (
            ("c", "y", "x"),
            (3, 1000, 1000),
            np.uint8,
        )
        part = source.read((slice(0, 3), slice(500, 600), slice(0, 1000)))
    with Image.open(path) as image:
        expected = np.asarray(image.convert("RGB"))[500:600]
    np.testing.assert_array_equal(part, np.moveaxis(expected, -1, 0))


def test_concurrent_reads_equal_serial_reads(reader, tmp_path, rng):
    volume = rng.integers(0, 255, (20, 64, 64), dtype=np.uint8)
    folder = write_png_folder(tmp_path / "stack", volume)
    regions = []
    for _ in range(16):
        z, y, x = (int(rng.integers(0, n - 8)) for n in volume.shape)
        regions.append((slice(z, z + 8), slice(y, y + 20), slice(x, x + 30)))
    with reader.open(folder) as source:
        serial = [source.read(r) for r in regions]
        with ThreadPoolExecutor(8) as pool:
            parallel = list(pool.map(source.read, regions))
    for region, one, other in zip(regions, serial, parallel, strict=True):
        np.testing.assert_array_equal(one, other)
        np.testing.assert_array_equal(one, volume[region])


# --- refusals ----------------------------------------------------------------------------


def test_mixed_shapes_name_the_odd_file_and_both_shapes(reader, tmp_path, rng):
    folder = write_png_folder(tmp_path / "mixed", rng.integers(0, 255, (3, 20, 30), dtype=np.uint8))
    Image.fromarray(np.zeros((21, 30), np.uint8)).save(folder / "slice4.png")
    with pytest.raises(BadInputError) as info:
        reader.open(folder)
    assert_one_line_unchained(info.value, "slice4.png", "slice1.png", "21×30", "20×30")


def test_mixed_grey_and_colour_are_refused(reader, tmp_path, rng):
    folder = write_png_folder(tmp_path / "mixed", rng.integers(0, 255, (2, 20, 30), dtype=np.uint8))
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(folder / "slice3.png")
    with pytest.raises(BadInputError) as info:
        reader.open(folder)
    assert_one_line_unchained(info.value, "slice3.png", "RGB", "grey")


def test_empty_folder(reader, tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / ".hidden").write_bytes(b"x")
    assert reader.sniff(tmp_path / "empty") is False
    with pytest.raises(BadInputError, match="folder contains no images") as info:
        reader.open(tmp_path / "empty")
    assert_one_line_unchained(info.value, "empty")


def test_folder_with_a_text_file(reader, tmp_path, rng):
    folder = write_png_folder(tmp_path / "s", rng.integers(0, 255, (2, 8, 8), dtype=np.uint8))
    (folder / "notes.txt").write_text("scan settings\n")
    assert reader.sniff(folder) is False
    with pytest.raises(BadInputError) as info:
        reader.open(folder)
    assert_one_line_unchained(info.value, "notes.txt")


def test_folder_with_a_subfolder_is_not_a_slice_folder(reader, tmp_path, rng):
    folder = write_png_folder(tmp_path / "s", rng.integers(0, 255, (2, 8, 8), dtype=np.uint8))
    (folder / "more").mkdir()
    assert reader.sniff(folder) is False


def test_sniff_refuses_junk_and_single_tiffs(reader, tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "noise.png").write_bytes(np.random.default_rng(0).bytes(3000))
    tifffile.imwrite(tmp_path / "one.tif", np.zeros((4, 4), np.uint8))  # the TIFF reader's
    for name in ["empty.png", "noise.png", "one.tif", "missing.png"]:
        assert reader.sniff(tmp_path / name) is False, name


def test_truncated_png_fails_at_read_naming_the_file(reader, tmp_path, rng):
    folder = write_png_folder(tmp_path / "s", rng.integers(0, 255, (3, 64, 64), dtype=np.uint8))
    data = (folder / "slice2.png").read_bytes()
    (folder / "slice2.png").write_bytes(data[: len(data) // 2])
    with reader.open(folder) as source:  # headers are intact: the damage shows when decoding
        source.read((slice(0, 1), slice(0, 64), slice(0, 64)))
        with pytest.raises(BadInputError) as info:
            source.read((slice(1, 2), slice(0, 64), slice(0, 64)))
    assert_one_line_unchained(info.value, "slice2.png")


def test_png_header_without_image_fails_at_open(reader, tmp_path):
    path = tmp_path / "broken.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    assert reader.sniff(path)
    with pytest.raises(BadInputError) as info:
        reader.open(path)
    assert_one_line_unchained(info.value, "broken.png")


@fuzz_settings(max_examples=40)
@given(
    data=st.binary(max_size=1024),
    magic=st.sampled_from([b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"II*\0"]),
    cut=st.floats(min_value=0.0, max_value=1.0),
)
def test_fuzz_random_and_truncated_pictures(tmp_path_factory, data, magic, cut):
    folder = tmp_path_factory.mktemp("fuzz")
    (folder / "random.png").write_bytes(magic + data)
    buffer = folder / "valid.png"
    Image.fromarray(np.arange(256, dtype=np.uint8).reshape(16, 16)).save(buffer)
    valid = buffer.read_bytes()
    buffer.write_bytes(valid[: int(len(valid) * cut)])
    reader = SliceFolderReader()
    for path in (folder / "random.png", buffer, folder):
        assert reader.sniff(path) in (True, False)
        error = None
        try:
            with reader.open(path) as source:
                source.read_all()
        except BadInputError as exc:
            error = exc
        if error is not None:
            assert_one_line_unchained(error)
