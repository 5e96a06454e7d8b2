"""TIFF reader: written TIFF flavours, the shared stacks and slide, threads, broken files."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import tifffile
from hypothesis import given, settings
from hypothesis import strategies as st
from reader_helpers import assert_one_line_unchained, fuzz_settings

from conftest import sample_file
from medtk.errors import BadInputError
from medtk.io.source import ImageSource
from medtk.io.tiff import TIFF_MAGICS, AxisMap, TiffReader
from medtk.io.wsi_metadata import aperio_mpp_and_power, common_unit, objective_power, unit_name

RNG_SEED = 7  # the root conftest's ``rng`` fixture seeds with it


def read_all(path: Path) -> tuple[ImageSource, np.ndarray]:
    with TiffReader().open(path) as source:
        return source, source.read_all()


@pytest.fixture
def reader() -> TiffReader:
    return TiffReader()


# --- detection -----------------------------------------------------------------------


@pytest.mark.parametrize("magic", [b"II*\0", b"MM\0*", b"II+\0", b"MM\0+"])
def test_sniff_accepts_tiff_and_bigtiff_headers(reader, tmp_path, magic):
    path = tmp_path / "no-suffix"
    path.write_bytes(magic + b"\0" * 12)
    assert reader.sniff(path)


def test_sniff_refuses_what_is_not_tiff(reader, tmp_path, rng):
    (tmp_path / "empty.tif").write_bytes(b"")
    (tmp_path / "noise.tif").write_bytes(b"XX" + rng.bytes(4000))
    (tmp_path / "png.tif").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 100)
    (tmp_path / "folder.tif").mkdir()
    for name in ["empty.tif", "noise.tif", "png.tif", "folder.tif", "missing.tif"]:
        assert reader.sniff(tmp_path / name) is False, name


def test_open_refuses_a_file_that_is_not_tiff(reader, tmp_path):
    path = tmp_path / "x.tif"
    path.write_bytes(b"GIF89a" + b"\0" * 50)
    with pytest.raises(BadInputError, match="not a TIFF") as info:
        reader.open(path)
    assert_one_line_unchained(info.value, "x.tif")


# --- layouts -------------------------------------------------------------------------


def test_tiled_grey_image_reads_exact_regions(tmp_path, rng):
    image = rng.integers(0, 65535, (600, 700), dtype=np.uint16)
    path = tmp_path / "grey.tif"
    tifffile.imwrite(path, image, tile=(256, 256), compression="zlib")
    with TiffReader().open(path) as source:
        assert (source.axes, source.shape, source.dtype) == (("y", "x"), (600, 700), np.uint16)
        assert source.tile == (256, 256)
        assert (source.spacing, source.unit) == ((1.0, 1.0), "")
        np.testing.assert_array_equal(
            source.read((slice(200, 530), slice(250, 699))), image[200:530, 250:699]
        )
        np.testing.assert_array_equal(source.read_all(), image)
    assert source.metadata["native_levels"] == 1
    assert "modality" not in source.metadata  # a plain TIFF says nothing about what it shows


@pytest.fixture(scope="module")
def tiled_rgb(tmp_path_factory):
    """An RGB image in 64-pixel tiles, big-endian 16-bit, with ragged edge tiles."""
    image = np.random.default_rng(3).integers(0, 65535, (203, 331, 3), dtype=np.uint16)
    path = tmp_path_factory.mktemp("tiled") / "rgb16.tif"
    tifffile.imwrite(path, image, tile=(64, 64), photometric="rgb", byteorder=">")
    return path, image


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_any_region_of_a_tiled_page_equals_the_whole_image_cut(tiled_rgb, data):
    path, image = tiled_rgb
    y0 = data.draw(st.integers(0, 202))
    x0 = data.draw(st.integers(0, 330))
    y1 = data.draw(st.integers(y0 + 1, 203))
    x1 = data.draw(st.integers(x0 + 1, 331))
    c0 = data.draw(st.integers(0, 2))
    c1 = data.draw(st.integers(c0 + 1, 3))
    with TiffReader().open(path) as source:
        part = source.read((slice(c0, c1), slice(y0, y1), slice(x0, x1)))
    assert part.dtype == np.uint16 and part.dtype.isnative
    np.testing.assert_array_equal(part, np.moveaxis(image[y0:y1, x0:x1, c0:c1], -1, 0))


def test_big_endian_bigtiff_reads_in_native_byte_order(tmp_path, rng):
    image = rng.normal(size=(40, 50)).astype(">f4")
    path = tmp_path / "big.tif"
    tifffile.imwrite(path, image, bigtiff=True, byteorder=">")
    _, data = read_all(path)
    assert data.dtype == np.float32 and data.dtype.isnative
    np.testing.assert_array_equal(data, image)


def test_rgb_jpeg_tiles_move_samples_to_channels(tmp_path, rng):
    image = rng.integers(0, 255, (300, 500, 3), dtype=np.uint8)
    path = tmp_path / "rgb.tif"
    tifffile.imwrite(path, image, tile=(128, 128), photometric="rgb", compression="jpeg")
    decoded = tifffile.imread(path)  # lossy: compare with tifffile's own decoding
    source, data = read_all(path)
    assert (source.axes, source.shape, source.tile) == (
        ("c", "y", "x"),
        (3, 300, 500),
        (3, 128, 128),
    )
    np.testing.assert_array_equal(data, np.moveaxis(decoded, -1, 0))
    with TiffReader().open(path) as again:
        part = again.read((slice(1, 3), slice(100, 257), slice(3, 400)))
    np.testing.assert_array_equal(part, np.moveaxis(decoded[100:257, 3:400, 1:3], -1, 0))


def test_8bit_rgba_drops_alpha(tmp_path, rng):
    image = rng.integers(0, 255, (64, 80, 4), dtype=np.uint8)
    path = tmp_path / "rgba.tif"
    tifffile.imwrite(path, image, photometric="rgb", extrasamples=["unassalpha"])
    source, data = read_all(path)
    assert source.shape == (3, 64, 80)
    np.testing.assert_array_equal(data, np.moveaxis(image[..., :3], -1, 0))


def test_planar_rgb(tmp_path, rng):
    image = rng.integers(0, 255, (3, 64, 80), dtype=np.uint8)
    path = tmp_path / "planar.tif"
    tifffile.imwrite(path, image, photometric="rgb", planarconfig="separate")
    source, data = read_all(path)
    assert source.axes == ("c", "y", "x")
    np.testing.assert_array_equal(data, image)


@pytest.mark.parametrize("compression", [None, "zlib"])
def test_multipage_stack_pages_become_z(tmp_path, rng, compression):
    volume = rng.integers(0, 4000, (9, 70, 60), dtype=np.uint16)
    path = tmp_path / "stack.tif"
    with tifffile.TiffWriter(path) as tif:
        for plane in volume:  # separate pages, as microscopes write them
            tif.write(plane, compression=compression, metadata=None)
    with TiffReader().open(path) as source:
        assert (source.axes, source.shape) == (("z", "y", "x"), (9, 70, 60))
        assert source.tile[0] == 1
        region = (slice(2, 7), slice(10, 69), slice(0, 33))
        np.testing.assert_array_equal(source.read(region), volume[region])


def test_imagej_hyperstack_axes_and_spacing(tmp_path, rng):
    data = rng.integers(0, 255, (2, 4, 3, 32, 40), dtype=np.uint8)  # TZCYX
    path = tmp_path / "hyper.tif"
    tifffile.imwrite(
        path,
        data,
        imagej=True,
        resolution=(1 / 0.3, 1 / 0.3),
        metadata={"axes": "TZCYX", "spacing": 2.5, "unit": "um"},
    )
    source, out = read_all(path)
    assert source.axes == ("t", "c", "z", "y", "x")
    assert source.shape == (2, 3, 4, 32, 40)
    np.testing.assert_array_equal(out, data.transpose(0, 2, 1, 3, 4))
    assert source.spacing == pytest.approx((2.5, 0.3, 0.3))
    assert source.unit == "micrometer"
    assert source.metadata["mpp"] == pytest.approx([0.3, 0.3])
    assert source.metadata["modality"] == "microscopy"
    with TiffReader().open(path) as again:
        region = (slice(1, 2), slice(1, 3), slice(0, 4), slice(5, 9), slice(0, 40))
        np.testing.assert_array_equal(again.read(region), out[region])


def test_imagej_micro_sign_unit(tmp_path):
    path = tmp_path / "ij.tif"
    tifffile.imwrite(
        path,
        np.zeros((3, 8, 8), np.uint8),
        imagej=True,
        resolution=(2.0, 2.0),
        metadata={"axes": "ZYX", "spacing": 1.5, "unit": "\\u00B5m"},
    )
    source, _ = read_all(path)
    assert (source.spacing, source.unit) == ((1.5, 0.5, 0.5), "micrometer")


def test_ome_tiff_axes_and_physical_sizes(tmp_path, rng):
    data = rng.integers(0, 255, (2, 5, 48, 64), dtype=np.uint8)
    path = tmp_path / "cells.ome.tif"
    tifffile.imwrite(
        path,
        data,
        ome=True,
        metadata={"axes": "CZYX", "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.4, "PhysicalSizeZ": 2.0},
    )
    source, out = read_all(path)
    assert source.axes == ("c", "z", "y", "x")
    np.testing.assert_array_equal(out, data)
    assert source.spacing == (2.0, 0.4, 0.5)
    assert source.unit == "micrometer"
    assert source.metadata["mpp"] == [0.4, 0.5]
    assert source.metadata["modality"] == "microscopy"


def test_ome_tiff_mixed_units_are_converted_to_micrometers(tmp_path):
    path = tmp_path / "em.ome.tif"
    metadata = {
        "axes": "ZYX",
        "PhysicalSizeX": 4.0,
        "PhysicalSizeXUnit": "nm",
        "PhysicalSizeY": 4.0,
        "PhysicalSizeYUnit": "nm",
        "PhysicalSizeZ": 0.04,
    }
    tifffile.imwrite(path, np.zeros((3, 16, 16), np.uint8), ome=True, metadata=metadata)
    source, _ = read_all(path)
    assert source.spacing == pytest.approx((0.04, 0.004, 0.004))
    assert source.unit == "micrometer"


def test_ome_tiff_in_one_unit_keeps_it(tmp_path):
    path = tmp_path / "mr.ome.tif"
    metadata = {"axes": "ZYX", "PhysicalSizeX": 0.8, "PhysicalSizeXUnit": "mm",
                "PhysicalSizeY": 0.8, "PhysicalSizeYUnit": "mm",
                "PhysicalSizeZ": 5.0, "PhysicalSizeZUnit": "mm"}  # fmt: skip
    tifffile.imwrite(path, np.zeros((3, 16, 16), np.int16), ome=True, metadata=metadata)
    source, _ = read_all(path)
    assert (source.spacing, source.unit) == ((5.0, 0.8, 0.8), "millimeter")
    assert source.metadata["mpp"] == [800.0, 800.0]


def write_pyramid(path: Path, image: np.ndarray, compression: str | None = "zlib") -> None:
    """A tiled RGB pyramid with reduced levels in SubIFDs, 0.25 µm/px in pixels per cm."""
    with tifffile.TiffWriter(path) as tif:
        options = {"tile": (256, 256), "photometric": "rgb", "compression": compression}
        tif.write(
            image,
            subifds=2,
            resolution=(1e4 / 0.25, 1e4 / 0.25),
            resolutionunit="CENTIMETER",
            **options,
        )
        tif.write(image[::2, ::2], subfiletype=1, **options)
        tif.write(image[::4, ::4], subfiletype=1, **options)


def test_tiled_pyramid_reads_level_0_and_counts_levels(tmp_path, rng):
    image = rng.integers(0, 255, (1100, 900, 3), dtype=np.uint8)
    path = tmp_path / "slide.tif"
    write_pyramid(path, image)
    source, data = read_all(path)
    assert source.shape == (3, 1100, 900)
    np.testing.assert_array_equal(data, np.moveaxis(image, -1, 0))
    assert source.tile == (3, 256, 256)
    assert (source.spacing, source.unit) == ((0.25, 0.25), "micrometer")
    meta = source.metadata
    assert meta["native_levels"] == 3
    assert meta["native_downsamples"] == pytest.approx([1.0, 2.0, 4.0], rel=0.01)
    assert meta["modality"] == "WSI"
    assert meta["mpp"] == [0.25, 0.25]


def test_aperio_description_gives_mpp_and_magnification(tmp_path, rng):
    path = tmp_path / "aperio.tif"
    description = (
        "Aperio Image Library v12.0.5\r\n1024x768 (256x256) JPEG/RGB Q=70|AppMag = 40|MPP = 0.2520"
    )
    tifffile.imwrite(
        path,
        rng.integers(0, 255, (300, 280, 3), dtype=np.uint8),
        tile=(256, 256),
        photometric="rgb",
        description=description,
        metadata=None,
    )
    source, _ = read_all(path)
    assert source.metadata["mpp"] == [0.252, 0.252]
    assert source.metadata["magnification"] == 40
    assert source.metadata["modality"] == "WSI"
    assert (source.spacing, source.unit) == ((0.252, 0.252), "micrometer")


@pytest.mark.parametrize(
    ("resolution", "unit", "expected"),
    [
        ((25400 / 0.5, 25400 / 0.5), "INCH", ((0.5, 0.5), "micrometer")),
        ((2000.0, 1000.0), "CENTIMETER", ((10.0, 5.0), "micrometer")),
        ((72.0, 72.0), "INCH", ((1.0, 1.0), "")),  # a graphics program's default, no size
        ((3.0, 3.0), "NONE", ((1.0, 1.0), "")),
    ],
)
def test_resolution_tags(tmp_path, resolution, unit, expected):
    path = tmp_path / "res.tif"
    image = np.zeros((20, 30), np.uint8)
    tifffile.imwrite(path, image, resolution=resolution, resolutionunit=unit)
    source, _ = read_all(path)
    assert (source.spacing, source.unit) == expected


def test_metadata_helpers():
    assert [unit_name(u) for u in ["µm", "\\u00B5m", "micron", "UM", "nm", "pixel", None]] == [
        "micrometer",
        "micrometer",
        "micrometer",
        "micrometer",
        "nanometer",
        None,
        None,
    ]
    assert common_unit({"z": (5.0, "millimeter"), "y": (0.7, "millimeter")}) == (
        {"z": 5.0, "y": 0.7},
        "millimeter",
    )
    assert common_unit({"z": (40.0, "nanometer"), "x": (0.1, "micrometer")}) == (
        {"z": 0.04, "x": 0.1},
        "micrometer",
    )
    assert common_unit({}) == ({}, "")
    assert aperio_mpp_and_power("Aperio Image|AppMag = 40x|MPP = 0.2500") == (0.25, 40)
    assert aperio_mpp_and_power("Aperio Image|AppMag = ?|MPP = 0") == (None, None)
    assert aperio_mpp_and_power("ImageJ=1.52\nimages=3") == (None, None)
    assert objective_power("2.5") == 2.5 and objective_power("nan") is None


# --- axis mapping ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("letters", "shape", "axes"),
    [
        ("IZYX", (3, 4, 10, 12), ("z", "y", "x")),
        ("CYXS", (2, 10, 12, 3), ("c", "y", "x")),
        ("ZTYX", (5, 2, 10, 12), ("t", "z", "y", "x")),
        ("TCYX", (1, 1, 10, 12), ("y", "x")),
        ("YXS", (10, 12, 1), ("y", "x")),
        ("RYX", (6, 10, 12), ("z", "y", "x")),
    ],
)
def test_axis_map_merges_and_reorders_like_numpy(letters, shape, axes, rng):
    array = rng.integers(0, 1000, shape)
    plan = AxisMap.plan(letters, shape)
    assert plan.axes == axes
    # expected: transpose to the plan's grouping, then merge groups
    order = [i for group in plan.groups for i in group]
    squeezed = array.reshape([n for i, n in enumerate(shape) if i in order])
    kept = sorted(order)
    expected = squeezed.transpose([kept.index(i) for i in order]).reshape(plan.shape)
    for _ in range(20):
        region = []
        for n in plan.shape:
            start = int(rng.integers(0, n))
            region.append(slice(start, int(rng.integers(start, n)) + 1))
        region_t = tuple(region)
        got = plan.arrange(np.asarray(array[plan.source_key(region_t)]), region_t)
        np.testing.assert_array_equal(got, expected[region_t])


def test_axis_map_refuses_images_without_height_and_width():
    with pytest.raises(ValueError, match="height"):
        AxisMap.plan("ZC", (3, 4))


# --- the shared sample files -------------------------------------------------------------


def test_real_nuclei_stack():
    path = sample_file("microscopy", "nuclei.tif")
    assert TiffReader().sniff(path)
    with TiffReader().open(path) as source:
        assert (source.axes, source.shape, source.dtype) == (
            ("z", "y", "x"),
            (60, 256, 256),
            np.uint16,
        )
        slab = source.read((slice(20, 30), slice(0, 256), slice(100, 200)))
    np.testing.assert_array_equal(slab, tifffile.imread(path)[20:30, :, 100:200])


def test_real_tomogram():
    path = sample_file("em", "tomo.tif")
    source, data = read_all(path)
    assert (source.axes, source.shape, source.dtype) == (
        ("z", "y", "x"),
        (101, 135, 135),
        np.float32,
    )
    np.testing.assert_array_equal(data, tifffile.imread(path))


def test_real_svs_through_tifffile():
    path = sample_file("histology", "cmu_small_region.svs")
    with TiffReader().open(path) as source:
        assert source.shape == (3, 2967, 2220)
        assert source.tile == (3, 240, 240)
        corner = source.read((slice(0, 3), slice(2900, 2967), slice(2000, 2220)))
    assert corner.shape == (3, 67, 220)
    assert source.metadata["mpp"] == [0.499, 0.499]
    assert source.metadata["magnification"] == 20
    assert source.metadata["modality"] == "WSI"


# --- threads -----------------------------------------------------------------------------


def test_concurrent_reads_equal_serial_reads(tmp_path, rng):
    image = rng.integers(0, 255, (1000, 1200, 3), dtype=np.uint8)
    path = tmp_path / "slide.tif"
    write_pyramid(path, image, compression="jpeg")
    regions = []
    for _ in range(16):
        y, x = int(rng.integers(0, 800)), int(rng.integers(0, 1000))
        regions.append((slice(0, 3), slice(y, y + 200), slice(x, x + 200)))
    with TiffReader().open(path) as source:
        serial = [source.read(r) for r in regions]
        with ThreadPoolExecutor(8) as pool:
            parallel = list(pool.map(source.read, regions))
    for one, other in zip(serial, parallel, strict=True):
        np.testing.assert_array_equal(one, other)


# --- broken files ------------------------------------------------------------------------


def test_truncated_tiled_jpeg_tiff_fails_with_one_line(tmp_path, rng):
    path = tmp_path / "slide.tif"
    tifffile.imwrite(
        path,
        rng.integers(0, 255, (1024, 1024, 3), dtype=np.uint8),
        tile=(256, 256),
        photometric="rgb",
        compression="jpeg",
    )
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * 0.6)])
    with pytest.raises(BadInputError, match="truncated") as info:
        read_all(path)
    assert_one_line_unchained(info.value, "slide.tif")


@pytest.mark.parametrize("kind", ["plain", "zlib", "imagej", "ome"])
def test_truncated_stack_is_refused_not_shortened(tmp_path, rng, kind):
    """tifffile alone would open a cut stack as its first page: medtk must refuse it."""
    volume = rng.integers(0, 60000, (20, 64, 64), dtype=np.uint16)
    path = tmp_path / "stack.tif"
    options = {
        "plain": {},
        "zlib": {"compression": "zlib"},
        "imagej": {"imagej": True, "metadata": {"axes": "ZYX"}},
        "ome": {"ome": True, "metadata": {"axes": "ZYX"}},
    }[kind]
    tifffile.imwrite(path, volume, **options)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * 0.6)])
    with pytest.raises(BadInputError, match="truncated") as info:
        read_all(path)
    assert_one_line_unchained(info.value, "stack.tif")


def test_unparseable_tiff_fails_at_open(tmp_path):
    path = tmp_path / "bad.tif"
    path.write_bytes(b"II*\0" + b"\xff\xff\xff\x7f" + b"\0" * 64)
    with pytest.raises(BadInputError) as info:
        TiffReader().open(path)
    assert_one_line_unchained(info.value, "bad.tif")


def test_corrupt_tile_fails_at_read_naming_the_region(tmp_path, rng):
    path = tmp_path / "bad.tif"
    image = rng.integers(0, 255, (512, 512), dtype=np.uint8)
    tifffile.imwrite(path, image, tile=(256, 256), compression="zlib")
    with tifffile.TiffFile(path) as tif:
        offset = tif.pages.first.dataoffsets[3]
    data = bytearray(path.read_bytes())
    data[offset : offset + 16] = b"\x00" * 16  # break the zlib stream of the last tile
    path.write_bytes(bytes(data))
    with TiffReader().open(path) as source:
        np.testing.assert_array_equal(
            source.read((slice(0, 256), slice(0, 256))), image[:256, :256]
        )
        with pytest.raises(BadInputError, match="cannot decode") as info:
            source.read((slice(300, 400), slice(300, 400)))
    assert_one_line_unchained(info.value, "bad.tif")


# --- fuzz --------------------------------------------------------------------------------

FUZZ = fuzz_settings(max_examples=40)


def open_and_read_or_refuse(path: Path) -> None:
    """Open and read (a corner of a large image): it works or raises ``BadInputError``."""
    error = None
    try:
        with TiffReader().open(path) as source:
            if np.prod(source.shape) * source.dtype.itemsize <= 1 << 24:
                source.read_all()
            else:
                source.read(tuple(slice(0, min(n, 4)) for n in source.shape))
    except BadInputError as exc:
        error = exc
    if error is not None:
        assert_one_line_unchained(error, path.name)


@FUZZ
@given(data=st.binary(max_size=1024), magic=st.sampled_from([b"", b"II*\0", b"MM\0*", b"II+\0"]))
def test_fuzz_random_bytes(tmp_path_factory, data, magic):
    path = tmp_path_factory.mktemp("fuzz") / "random.tif"
    path.write_bytes(magic + data)
    assert TiffReader().sniff(path) is ((magic + data)[:4] in TIFF_MAGICS)
    open_and_read_or_refuse(path)


@pytest.fixture(scope="module")
def valid_tiffs(tmp_path_factory) -> dict[str, bytes]:
    rng = np.random.default_rng(3)
    folder = tmp_path_factory.mktemp("valid")
    files = {
        "tiled-jpeg": (
            {"tile": (64, 64), "photometric": "rgb", "compression": "jpeg"},
            (150, 130, 3),
        ),
        "stack": ({}, (6, 40, 30)),
        "zlib-stack": ({"compression": "zlib", "rowsperstrip": 8}, (6, 40, 30)),
        "imagej": ({"imagej": True, "metadata": {"axes": "ZYX"}}, (6, 40, 30)),
        "ome": ({"ome": True, "metadata": {"axes": "ZYX", "PhysicalSizeX": 0.3}}, (6, 40, 30)),
        "bigtiff": ({"bigtiff": True, "tile": (32, 32)}, (70, 50)),
    }
    out = {}
    for name, (options, shape) in files.items():
        path = folder / f"{name}.tif"
        tifffile.imwrite(path, rng.integers(0, 255, shape, dtype=np.uint8), **options)
        out[name] = path.read_bytes()
    return out


@FUZZ
@given(name=st.sampled_from(["tiled-jpeg", "stack", "zlib-stack", "imagej", "ome", "bigtiff"]),
       fraction=st.floats(min_value=0.0, max_value=1.0))  # fmt: skip
def test_fuzz_truncated_files(tmp_path_factory, valid_tiffs, name, fraction):
    data = valid_tiffs[name]
    path = tmp_path_factory.mktemp("cut") / f"{name}.tif"
    path.write_bytes(data[: int(len(data) * fraction)])
    assert TiffReader().sniff(path) in (True, False)
    open_and_read_or_refuse(path)
