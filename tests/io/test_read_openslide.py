"""OpenSlide reader: the shared Aperio slide, white background, threads, what it refuses."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import openslide
import pytest
import tifffile
from hypothesis import given
from hypothesis import strategies as st
from reader_helpers import assert_one_line_unchained, fuzz_settings

from conftest import sample_file
from medtk.errors import BadInputError
from medtk.io.openslide_reader import OpenSlideReader, on_white


@pytest.fixture
def svs() -> Path:
    return sample_file("histology", "cmu_small_region.svs")


@pytest.fixture
def reader() -> OpenSlideReader:
    return OpenSlideReader()


def expected_rgb(slide: openslide.OpenSlide, x: int, y: int, w: int, h: int) -> np.ndarray:
    """OpenSlide's RGBA composited onto white with float arithmetic, as (c, y, x)."""
    rgba = np.asarray(slide.read_region((x, y), 0, (w, h))).astype(np.float64)
    alpha = rgba[..., 3:] / 255
    rgb = np.rint(rgba[..., :3] * alpha + 255 * (1 - alpha)).astype(np.uint8)
    return np.moveaxis(rgb, -1, 0)


def test_svs_is_described_from_openslide_properties(reader, svs):
    assert reader.sniff(svs)
    with reader.open(svs) as source:
        assert source.axes == ("c", "y", "x")
        assert source.shape == (3, 2967, 2220)
        assert source.dtype == np.uint8
        assert source.spacing == (0.499, 0.499)
        assert source.unit == "micrometer"
        assert source.tile == (3, 240, 240)
    meta = source.metadata
    assert meta["mpp"] == [0.499, 0.499]
    assert meta["magnification"] == 20
    assert meta["vendor"] == "aperio"
    assert meta["modality"] == "WSI"
    assert meta["native_levels"] == 1
    assert meta["native_downsamples"] == [1.0]
    assert set(meta["associated_images"]) == {"label", "macro", "thumbnail"}


def test_svs_region_equals_openslide_read_region(reader, svs):
    with reader.open(svs) as source, openslide.OpenSlide(str(svs)) as slide:
        got = source.read((slice(0, 3), slice(1000, 1333), slice(700, 1190)))
        np.testing.assert_array_equal(got, expected_rgb(slide, 700, 1000, 490, 333))
        green = source.read((slice(1, 2), slice(2900, 2967), slice(2100, 2220)))
        np.testing.assert_array_equal(green, expected_rgb(slide, 2100, 2900, 120, 67)[1:2])
    assert got.dtype == np.uint8 and got.flags.c_contiguous


def test_concurrent_reads_equal_serial_reads(reader, svs):
    rng = np.random.default_rng(5)
    regions = []
    for _ in range(16):
        y, x = int(rng.integers(0, 2700)), int(rng.integers(0, 1950))
        regions.append((slice(0, 3), slice(y, y + 256), slice(x, x + 256)))
    with reader.open(svs) as source:
        serial = [source.read(r) for r in regions]
        with ThreadPoolExecutor(8) as pool:
            parallel = list(pool.map(source.read, regions))
    for one, other in zip(serial, parallel, strict=True):
        np.testing.assert_array_equal(one, other)


def test_transparent_pixels_become_white():
    rgba = np.array(
        [[[10, 20, 30, 255], [10, 20, 30, 0], [0, 0, 0, 128], [200, 100, 50, 51]]], np.uint8
    )
    rgb = on_white(rgba)
    assert rgb.tolist() == [[[10, 20, 30], [255, 255, 255], [127, 127, 127], [244, 224, 214]]]


def test_generic_tiled_tiff_is_left_to_the_tiff_reader(reader, tmp_path):
    path = tmp_path / "generic.tif"
    image = np.zeros((512, 512, 3), np.uint8)
    tifffile.imwrite(path, image, tile=(256, 256), photometric="rgb", compression="jpeg")
    assert openslide.OpenSlide.detect_format(str(path)) == "generic-tiff"
    assert reader.sniff(path) is False


def test_sniff_refuses_junk(reader, tmp_path):
    (tmp_path / "empty.svs").write_bytes(b"")
    (tmp_path / "noise.svs").write_bytes(np.random.default_rng(0).bytes(5000))
    (tmp_path / "folder.svs").mkdir()
    for name in ["empty.svs", "noise.svs", "folder.svs", "missing.svs"]:
        assert reader.sniff(tmp_path / name) is False, name


def test_sniff_refuses_a_png(reader):
    assert reader.sniff(sample_file("histology", "target_image.png")) is False


def test_open_refuses_a_file_that_is_not_a_slide(reader, tmp_path):
    path = tmp_path / "notes.svs"
    path.write_text("not a slide\n")
    with pytest.raises(BadInputError) as info:
        reader.open(path)
    assert_one_line_unchained(info.value, "notes.svs")


def test_truncated_svs_fails_with_one_line(reader, svs, tmp_path):
    path = tmp_path / "cut.svs"
    data = svs.read_bytes()
    path.write_bytes(data[: int(len(data) * 0.6)])
    assert reader.sniff(path) is False  # its directory sits at the end: gone
    with pytest.raises(BadInputError) as info, reader.open(path) as source:  # open or read
        source.read_all()
    assert_one_line_unchained(info.value, "cut.svs")


def test_damaged_tiles_fail_at_read_with_one_line(reader, svs, tmp_path):
    path = tmp_path / "damaged.svs"
    data = bytearray(svs.read_bytes())
    with tifffile.TiffFile(svs) as tif:
        page = tif.pages.first
        offset, count = page.dataoffsets[40], page.databytecounts[40]
    data[offset : offset + count] = b"\xff" * count  # no JPEG left in tile 40
    path.write_bytes(bytes(data))
    with reader.open(path) as source:
        tile_y, tile_x = divmod(40, -(-2220 // 240))
        region = (
            slice(0, 3),
            slice(tile_y * 240, tile_y * 240 + 10),
            slice(tile_x * 240, tile_x * 240 + 10),
        )
        with pytest.raises(BadInputError, match="cannot read slide region") as info:
            source.read(region)
    assert_one_line_unchained(info.value, "damaged.svs")


@fuzz_settings(max_examples=30)
@given(data=st.binary(max_size=2048), magic=st.sampled_from([b"", b"II*\0", b"MM\0*"]))
def test_fuzz_random_bytes_are_never_a_slide(tmp_path_factory, data, magic):
    path = tmp_path_factory.mktemp("fuzz") / "random.svs"
    path.write_bytes(magic + data)
    assert OpenSlideReader().sniff(path) is False
