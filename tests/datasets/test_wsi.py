"""The synthetic whole-slide image: real readers open it, it looks like H&E, it streams."""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

import numpy as np
import openslide
import pytest
import tifffile

import medtk.atomic  # noqa: F401  (imported up front: the memory test measures writing only)
from medtk.datasets import SyntheticSlide, slide_tissue_mask, write_slide

WIDTH, HEIGHT, TILE = 2048, 1536, 256


@pytest.fixture(scope="module")
def slide(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_slide(
        tmp_path_factory.mktemp("wsi") / "slide.tif", width=WIDTH, height=HEIGHT, seed=3
    )


@pytest.fixture(scope="module")
def level0(slide: Path) -> np.ndarray:
    with tifffile.TiffFile(slide) as tif:
        return tif.series[0].levels[0].asarray()


def tile_means(image: np.ndarray, tile: int = TILE) -> np.ndarray:
    rows, cols = image.shape[0] // tile, image.shape[1] // tile
    blocks = image[: rows * tile, : cols * tile].reshape(rows, tile, cols, tile, 3)
    return blocks.mean(axis=(1, 3, 4))


def test_tifffile_reads_every_level(slide: Path) -> None:
    with tifffile.TiffFile(slide) as tif:
        assert tif.is_bigtiff
        series = tif.series[0]
        assert [level.shape for level in series.levels] == [
            (HEIGHT, WIDTH, 3),
            (HEIGHT // 4, WIDTH // 4, 3),
        ]
        page = tif.pages[0]
        assert page.is_tiled
        assert (page.tilelength, page.tilewidth) == (TILE, TILE)
        assert page.compression == tifffile.COMPRESSION.JPEG
        assert page.photometric == tifffile.PHOTOMETRIC.YCBCR
        assert page.tags["ResolutionUnit"].value == tifffile.RESUNIT.CENTIMETER
        num, den = page.tags["XResolution"].value
        assert num / den == pytest.approx(1e4 / 0.5)  # 0.5 µm per pixel
        assert "AppMag = 20" in page.description
        assert "MPP = 0.5" in page.description
        reduced = tif.pages[1]
        assert reduced.subfiletype == tifffile.FILETYPE.REDUCEDIMAGE
        num, den = reduced.tags["XResolution"].value
        assert num / den == pytest.approx(1e4 / 2.0)


def test_openslide_reads_it_as_generic_tiff(slide: Path, level0: np.ndarray) -> None:
    assert openslide.OpenSlide.detect_format(str(slide)) == "generic-tiff"
    with openslide.OpenSlide(str(slide)) as osr:
        assert osr.level_count == 2
        assert osr.dimensions == (WIDTH, HEIGHT)
        assert osr.level_dimensions[1] == (WIDTH // 4, HEIGHT // 4)
        assert osr.level_downsamples[1] == pytest.approx(4.0)
        assert float(osr.properties[openslide.PROPERTY_NAME_MPP_X]) == pytest.approx(0.5)
        assert float(osr.properties[openslide.PROPERTY_NAME_MPP_Y]) == pytest.approx(0.5)
        assert "AppMag = 20" in osr.properties[openslide.PROPERTY_NAME_COMMENT]
        region = np.asarray(osr.read_region((512, 384), 0, (600, 500)).convert("RGB"))
    # both decode the same JPEG tiles
    diff = np.abs(region.astype(int) - level0[384:884, 512:1112].astype(int))
    assert diff.max() <= 2


def test_aperio_flavor_reads_as_svs(tmp_path: Path) -> None:
    path = write_slide(
        tmp_path / "slide.svs",
        width=1536,
        height=1024,
        flavor="aperio",
        magnification=40,
        mpp=0.25,
    )
    assert openslide.OpenSlide.detect_format(str(path)) == "aperio"
    with openslide.OpenSlide(str(path)) as osr:
        assert osr.level_count == 2
        assert osr.level_dimensions == ((1536, 1024), (384, 256))
        assert osr.properties[openslide.PROPERTY_NAME_OBJECTIVE_POWER] == "40"
        assert float(osr.properties[openslide.PROPERTY_NAME_MPP_X]) == pytest.approx(0.25)
        assert "thumbnail" in osr.associated_images
    with tifffile.TiffFile(path) as tif:
        assert tif.is_svs
        assert [s.name for s in tif.series] == ["Baseline", "Thumbnail"]
        assert len(tif.series[0].levels) == 2


def test_reduced_level_is_the_block_mean_of_level0(slide: Path, level0: np.ndarray) -> None:
    with tifffile.TiffFile(slide) as tif:
        reduced = tif.series[0].levels[1].asarray().astype(float)
    expected = level0.reshape(HEIGHT // 4, 4, WIDTH // 4, 4, 3).mean(axis=(1, 3))
    assert np.abs(reduced - expected).mean() < 2.0  # JPEG noise only


def test_tissue_covers_a_plausible_share() -> None:
    mask = slide_tissue_mask(width=WIDTH, height=HEIGHT, seed=3, downsample=16)
    assert mask.shape == (HEIGHT // 16, WIDTH // 16)
    assert 0.3 <= mask.mean() <= 0.6
    # margins of glass: tissue keeps off the slide's edges
    assert not mask[0].any()
    assert not mask[-1].any()
    assert not mask[:, 0].any()
    assert not mask[:, -1].any()


def test_looks_like_h_and_e(level0: np.ndarray) -> None:
    means = tile_means(level0)
    background = means > 220
    assert 0.3 <= background.mean() <= 0.8
    blocks = level0.reshape(HEIGHT // TILE, TILE, WIDTH // TILE, TILE, 3).swapaxes(1, 2)
    glass = blocks[blocks.min(axis=(2, 3, 4)) > 215]  # tiles of glass only
    assert len(glass) >= 4
    assert 232 < glass.mean() < 248  # bright, slightly uneven glass
    assert glass.std() < 6
    # tissue: darker than glass, and pink (eosin takes out green more than red or blue)
    pixels = level0.reshape(-1, 3).astype(float)
    tissue = pixels[pixels.sum(axis=1) < 3 * 215]
    assert len(tissue) > 0.2 * len(pixels)
    red, green, blue = tissue.mean(axis=0)
    assert red > green + 25
    assert blue > green + 15
    # nuclei: small dark purple-blue spots (hematoxylin) at a realistic density
    nuclei = (tissue.sum(axis=1) < 3 * 150) & (tissue[:, 2] > tissue[:, 0])
    assert 0.01 < nuclei.mean() < 0.25


def test_mask_matches_the_pixels(level0: np.ndarray) -> None:
    mask = slide_tissue_mask(width=WIDTH, height=HEIGHT, seed=3, downsample=TILE)
    means = tile_means(level0)
    # tiles wholly in glass are bright; tiles the mask calls tissue mostly are not
    assert (means[~mask] > 225).mean() > 0.85
    assert (means[mask] < 225).mean() > 0.6


def test_regions_agree_with_tiles() -> None:
    synthetic = SyntheticSlide(WIDTH, HEIGHT, 0.5, seed=3)
    x, y = 900, 700  # a window across tile borders, inside tissue
    window = synthetic.region(x, y, 300, 200)
    tiles = np.concatenate(
        [
            np.concatenate([synthetic.region(tx, ty, 256, 256) for tx in (768, 1024)], axis=1)
            for ty in (512, 768)
        ],
        axis=0,
    )
    assert np.array_equal(window, tiles[y - 512 : y - 512 + 200, x - 768 : x - 768 + 300])
    assert window.std() > 10  # really tissue, not glass


def test_same_seed_same_file_other_seed_other_pixels(tmp_path: Path) -> None:
    first = write_slide(tmp_path / "a.tif", width=1024, height=1024, seed=5)
    again = write_slide(tmp_path / "b.tif", width=1024, height=1024, seed=5, workers=3)
    other = write_slide(tmp_path / "c.tif", width=1024, height=1024, seed=6)
    assert first.read_bytes() == again.read_bytes()
    with tifffile.TiffFile(first) as a, tifffile.TiffFile(other) as c:
        assert not np.array_equal(a.asarray(), c.asarray())


def test_writing_streams_in_flat_memory(tmp_path: Path) -> None:
    """A 4096² slide (48 MB raw) is written holding a few tiles per worker, not the image."""
    raw = 4096 * 4096 * 3
    tracemalloc.start()
    try:
        write_slide(tmp_path / "big.tif", width=4096, height=4096, workers=2)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < raw / 2, f"peak {peak / 2**20:.1f} MiB"
    with tifffile.TiffFile(tmp_path / "big.tif") as tif:
        assert [level.shape[:2] for level in tif.series[0].levels] == [
            (4096, 4096),
            (1024, 1024),
            (256, 256),
        ]


def test_output_appears_whole(tmp_path: Path) -> None:
    write_slide(tmp_path / "slide.tif", width=512, height=512)
    assert os.listdir(tmp_path) == ["slide.tif"]  # no partial files left beside it
    with openslide.OpenSlide(str(tmp_path / "slide.tif")) as osr:
        assert osr.level_count == 1  # too small for a reduced level


@pytest.mark.parametrize(
    ("option", "value"),
    [("tile", 100), ("compression", "lzma"), ("flavor", "hamamatsu"), ("quality", 0)],
)
def test_rejects_bad_options(tmp_path: Path, option: str, value: object) -> None:
    with pytest.raises(ValueError, match=option):
        write_slide(tmp_path / "x.tif", width=512, height=512, **{option: value})  # type: ignore[arg-type]
    assert not (tmp_path / "x.tif").exists()


@pytest.mark.parametrize("compression", ["zlib", "none"])
def test_lossless_compressions(tmp_path: Path, compression: str) -> None:
    path = write_slide(tmp_path / "s.tif", width=1024, height=1024, compression=compression)  # type: ignore[arg-type]
    with tifffile.TiffFile(path) as tif:
        pixels = tif.series[0].levels[0].asarray()
    assert np.array_equal(pixels, SyntheticSlide(1024, 1024).region(0, 0, 1024, 1024))
    assert openslide.OpenSlide.detect_format(str(path)) == "generic-tiff"
