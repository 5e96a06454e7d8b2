"""Tissue masks: the NAFLD mean rule and Otsu's threshold, against scikit-image."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
from skimage.color import rgb2gray
from skimage.filters import threshold_otsu

from conftest import sample_file
from medtk.errors import BadInputError
from medtk.ops.tissue import grey_level, mean_intensity_mask, otsu_mask


def slide_thumbnail(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A white glass background with a pink H&E-like blob; returns (rgb, blob)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:90, :120]
    blob = (yy - 45) ** 2 / 30**2 + (xx - 55) ** 2 / 40**2 <= 1
    rgb = np.empty((3, 90, 120))
    rgb[:, ~blob] = np.array([[243], [241], [246]])  # glass: mean 243
    rgb[:, blob] = np.array([[225], [150], [195]])  # eosin pink: mean 190
    rgb += rng.normal(0, 4, rgb.shape)
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8), blob


def test_mean_rule_covers_the_blob():
    rgb, blob = slide_thumbnail()
    mask = mean_intensity_mask(rgb)
    assert mask.dtype == np.bool_ and mask.shape == (90, 120)
    np.testing.assert_array_equal(mask, blob)


def test_mean_rule_is_mean_over_rgb_above_220():
    pixels = [  # (R, G, B) and its mean
        [(221, 220, 219), (255, 200, 200), (222, 221, 221)],  # 220, 218.3, 221.3
        [(221, 221, 221), (0, 0, 0), (250, 250, 161)],  # 221, 0, 220.3
    ]
    rgb = np.moveaxis(np.array(pixels, np.uint8), -1, 0)
    np.testing.assert_array_equal(mean_intensity_mask(rgb), [[1, 1, 0], [0, 1, 0]])
    np.testing.assert_array_equal(mean_intensity_mask(rgb, threshold=219), [[0, 1, 0], [0, 1, 0]])


def test_otsu_without_cleaning_is_skimage_threshold():
    rgb, _ = slide_thumbnail(seed=1)
    grey = rgb.astype(np.float64).mean(axis=0)
    mask = otsu_mask(rgb, min_size=0, hole_size=0)
    np.testing.assert_array_equal(mask, grey <= threshold_otsu(grey))


def test_otsu_covers_the_blob_and_cleans_up():
    rgb, blob = slide_thumbnail(seed=2)
    rgb[:, 5:8, 5:8] = 120  # a 9-pixel speck of dust on the glass
    rgb[:, 44:47, 54:57] = 245  # a 9-pixel hole (a vessel lumen) in the tissue
    raw = otsu_mask(rgb, min_size=0, hole_size=0)
    assert raw[6, 6] and not raw[45, 55]
    mask = otsu_mask(rgb, min_size=20, hole_size=20)
    assert not mask[5:8, 5:8].any()
    assert mask[44:47, 54:57].all()
    iou = (mask & blob).sum() / (mask | blob).sum()
    assert iou > 0.99


def test_luminance_matches_skimage_rgb2gray():
    rgb, _ = slide_thumbnail()
    expected = rgb2gray(np.moveaxis(rgb, 0, -1)) * 255
    np.testing.assert_allclose(grey_level(rgb, "luminance"), expected, rtol=1e-6)
    mask = otsu_mask(rgb, grey="luminance", min_size=0, hole_size=0)
    np.testing.assert_array_equal(mask, expected <= threshold_otsu(expected))


def test_dask_levels_are_accepted():
    rgb, blob = slide_thumbnail()
    mask = otsu_mask(da.from_array(rgb, chunks=(3, 30, 30)))
    assert isinstance(mask, np.ndarray)
    np.testing.assert_array_equal(mean_intensity_mask(da.from_array(rgb, chunks=32)), blob)


def test_a_blank_level_has_no_tissue():
    glass = np.full((3, 20, 20), 242, np.uint8)
    assert not otsu_mask(glass).any()
    assert not mean_intensity_mask(glass).any()


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ((20, 30, 3), "channel-last"),
        ((4, 20, 30), r"\(3, y, x\)"),
        ((20, 30), r"\(3, y, x\)"),
        ((3, 0, 5), "empty"),
    ],
)
def test_not_an_rgb_level_is_bad_input(shape, message):
    with pytest.raises(BadInputError, match=message):
        otsu_mask(np.zeros(shape, np.uint8))


def test_real_h_and_e_tile():
    from PIL import Image

    sample = sample_file("histology", "target_image.png")
    rgb = np.moveaxis(np.asarray(Image.open(sample).convert("RGB")), -1, 0)[:, ::4, ::4]
    grey = rgb.astype(np.float64).mean(axis=0)
    np.testing.assert_array_equal(
        otsu_mask(rgb, min_size=0, hole_size=0), grey <= threshold_otsu(grey)
    )
    mask = otsu_mask(rgb)
    # the tile is tissue edge to edge: most of it is tissue, and cleaning only adds a little
    assert mask.mean() > 0.5
    assert mask.sum() >= (grey <= threshold_otsu(grey)).sum() - 100
