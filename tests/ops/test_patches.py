"""Patch grids: resolution arithmetic, level choice, counts, tissue fractions and means."""

from __future__ import annotations

import csv
import io
import json

import dask.array as da
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from medtk.errors import BadInputError
from medtk.ops.patches import drop_background, grid_rows, patch_grid, patch_means

#: a 20× slide of 2000 × 3000 pixels with a 3-level pyramid
SHAPES = [(3, 2000, 3000), (3, 500, 750), (3, 125, 187)]
DOWNSAMPLES = [1, 4, 16]


def test_5x_on_a_20x_slide_reads_224_at_level_1_covering_896():
    grid = patch_grid(SHAPES, DOWNSAMPLES, None, 20, size=224, magnification=5)
    assert grid.downsample == 4
    assert grid.level == 1 and grid.level_downsample == 4
    assert grid.level_size == 224
    assert set(grid.width) == set(grid.height) == {896}
    assert grid.magnification == 5 and grid.mpp == pytest.approx(2.0)  # 10 / 5
    # 500 × 750 at level 1 holds 2 rows and 3 columns of whole 224 px patches
    assert len(grid) == 6
    np.testing.assert_array_equal(grid.x, [0, 896, 1792] * 2)
    np.testing.assert_array_equal(grid.y, [0] * 3 + [896] * 3)
    np.testing.assert_array_equal(grid.level_x, grid.x // 4)


@pytest.mark.parametrize(
    ("magnification", "level", "level_size"),
    [
        (20, 0, 224),  # the slide's own resolution
        (10, 0, 448),  # downsample 2: level 0, read twice as large
        (5, 1, 224),
        (2, 1, 560),  # downsample 10: level 1 (4 ≤ 10 < 16), 224 · 10 / 4
        (1.25, 2, 224),
        (1, 2, 280),
    ],
)
def test_the_coarsest_level_not_coarser_than_asked(magnification, level, level_size):
    grid = patch_grid(SHAPES, DOWNSAMPLES, None, 20, magnification=magnification)
    assert (grid.level, grid.level_size) == (level, level_size)
    assert set(grid.width) <= {round(224 * 20 / magnification)}


def test_scanner_downsamples_close_to_whole_numbers_are_used():
    grid = patch_grid(SHAPES, [1, 4.0003, 16.0012], None, 20, magnification=5)
    assert grid.level == 1 and grid.level_size == 224


def test_a_single_level_slide_gives_the_same_boxes():
    pyramid = patch_grid(SHAPES, DOWNSAMPLES, None, 20, magnification=5)
    flat = patch_grid(SHAPES[:1], [1], None, 20, magnification=5)
    assert flat.level == 0 and flat.level_size == 896
    np.testing.assert_array_equal(flat.x, pyramid.x)
    np.testing.assert_array_equal(flat.y, pyramid.y)


def test_mpp_only_slides_use_ten_over_mpp():
    # 0.25 µm/px is taken as 40×, so 10× is downsample 4
    by_mag = patch_grid(SHAPES, DOWNSAMPLES, 0.25, None, magnification=10)
    by_mpp = patch_grid(SHAPES, DOWNSAMPLES, [0.25, 0.25], None, mpp=1.0)
    assert by_mag.downsample == by_mpp.downsample == 4
    assert by_mpp.magnification == pytest.approx(10)
    # a slide stating both: magnification requests use its magnification
    both = patch_grid(SHAPES, DOWNSAMPLES, 0.499, 20, magnification=5)
    assert both.downsample == 4
    assert patch_grid(SHAPES, DOWNSAMPLES, 0.499, 20, mpp=1.996).downsample == pytest.approx(4)


def test_no_request_means_level_0_pixels():
    grid = patch_grid(SHAPES, DOWNSAMPLES, None, None, size=500)
    assert grid.level == 0 and len(grid) == 4 * 6
    assert grid.magnification is None and grid.mpp is None


@pytest.mark.parametrize(
    ("base_mpp", "base_mag", "asked", "message"),
    [
        (None, None, {"magnification": 5}, "states neither its magnification"),
        (None, None, {"mpp": 1.0}, "states neither"),
        (None, 20, {"magnification": 40}, "finer than the slide"),
        (0.5, None, {"mpp": 0.25}, "finer than the slide"),
        (0.5, 20, {"magnification": 5, "mpp": 2}, "not both"),
        (None, 20, {"magnification": 0}, "must be positive"),
    ],
)
def test_resolutions_that_cannot_be_had_are_bad_input(base_mpp, base_mag, asked, message):
    with pytest.raises(BadInputError, match=message):
        patch_grid(SHAPES, DOWNSAMPLES, base_mpp, base_mag, **asked)


def test_counts_with_overlap_and_no_partial_edge_patches():
    grid = patch_grid(SHAPES, DOWNSAMPLES, None, 20, magnification=5, stride=112)
    # along y: (500 - 224) // 112 + 1 = 3; along x: (750 - 224) // 112 + 1 = 5
    assert len(grid) == 15 and grid.level_stride == 112
    assert (grid.x + grid.width <= 3000).all() and (grid.y + grid.height <= 2000).all()
    assert (grid.level_x + grid.level_size <= 750).all()
    assert len(patch_grid(SHAPES, DOWNSAMPLES, None, 20, magnification=5, size=600)) == 0


def test_tissue_fraction_by_hand():
    mask = np.zeros((125, 187), dtype=bool)  # level 2: 16 level-0 pixels per mask pixel
    mask[:, :84] = True  # tissue left of x = 1344 at level 0
    grid = patch_grid(
        SHAPES, DOWNSAMPLES, None, 20, magnification=5, tissue_mask=mask, min_tissue=0
    )
    # columns cover [0, 896), [896, 1792), [1792, 2688): all, half, none of it tissue
    np.testing.assert_allclose(grid.tissue, [1, 0.5, 0] * 2)
    kept = patch_grid(SHAPES, DOWNSAMPLES, None, 20, magnification=5, tissue_mask=mask)
    np.testing.assert_array_equal(kept.col, [0, 1, 0, 1])  # min_tissue 0.5 keeps the half
    strict = patch_grid(
        SHAPES, DOWNSAMPLES, None, 20, magnification=5, tissue_mask=mask, min_tissue=0.6
    )
    np.testing.assert_array_equal(strict.col, [0, 0])


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16), stride=st.sampled_from([56, 112, 224, 300]))
def test_tissue_fraction_equals_brute_force(seed, stride):
    rng = np.random.default_rng(seed)
    mask = rng.random((125, 187)) < rng.random()
    grid = patch_grid(
        SHAPES,
        DOWNSAMPLES,
        None,
        20,
        magnification=5,
        stride=stride,
        tissue_mask=mask,
        mask_downsample=16,
        min_tissue=0,
    )
    for i in range(len(grid)):  # 896 = 56 mask pixels; boxes start on multiples of 16
        y, x = grid.y[i] // 16, grid.x[i] // 16
        assert grid.tissue[i] == pytest.approx(mask[y : y + 56, x : x + 56].mean())


@pytest.fixture(scope="module")
def level1() -> np.ndarray:
    """Level 1 (500 × 750) of a white slide with a pink tissue blob in the top left."""
    rng = np.random.default_rng(9)
    level = np.full((3, 500, 750), 240, dtype=np.float64)
    yy, xx = np.mgrid[:500, :750]
    blob = (yy - 200) ** 2 + (xx - 300) ** 2 <= 180**2
    level[:, blob] = np.array([[220], [140], [190]])
    level += rng.normal(0, 3, level.shape)
    return np.clip(np.rint(level), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("stride", [224, 112, 100, 223])
@pytest.mark.parametrize("blocks", ["coarsen", "bands"])
def test_patch_means_equal_numpy(level1, stride, blocks, monkeypatch):
    if blocks == "bands":  # as if block sums were too many to hold
        monkeypatch.setattr("medtk.ops.patches.MAX_BLOCK_SUMS", 0)
    grid = patch_grid(SHAPES, DOWNSAMPLES, None, 20, magnification=5, stride=stride)
    means = patch_means(da.from_array(level1, chunks=(3, 128, 100)), grid)
    expected = [
        level1[:, y : y + 224, x : x + 224].mean()
        for x, y in zip(grid.level_x, grid.level_y, strict=True)
    ]
    np.testing.assert_allclose(means, expected, rtol=1e-12)


def test_drop_background_keeps_the_tissue(level1):
    grid = patch_grid(SHAPES, DOWNSAMPLES, None, 20, magnification=5, stride=112)
    kept = drop_background(level1, grid, threshold=220)
    assert 0 < len(kept) < len(grid)
    assert (kept.mean <= 220).all()
    for x, y in zip(kept.level_x, kept.level_y, strict=True):  # every kept patch has tissue
        assert level1[:, y : y + 224, x : x + 224].mean() <= 220
    dropped = set(zip(grid.row, grid.col, strict=True)) - set(zip(kept.row, kept.col, strict=True))
    assert {(2, 0), (0, 4)} <= dropped  # bottom-left and top-right corners: glass only
    assert (1, 2) not in dropped  # the middle of the blob


def test_patch_means_need_the_grid_level():
    grid = patch_grid(SHAPES, DOWNSAMPLES, None, 20, magnification=5)
    with pytest.raises(BadInputError, match="pass level 1"):
        patch_means(np.zeros((3, 125, 187)), grid)


def test_rows_are_csv_and_json_ready(level1):
    grid = patch_grid(SHAPES, DOWNSAMPLES, None, 20, magnification=5)
    rows = grid_rows(grid)
    assert rows[1] == {
        "row": 0, "col": 1, "x": 896, "y": 0, "width": 896, "height": 896, "level": 1,
        "level_x": 224, "level_y": 0, "level_size": 224, "size": 224, "tissue": None,
        "mean": None,
    }  # fmt: skip
    assert all(type(v) in (int, float, type(None)) for row in rows for v in row.values())
    json.dumps(rows)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(grid_rows(drop_background(level1, grid)))
    assert buffer.getvalue().splitlines()[0].startswith("row,col,x,y,width,height,level")
    assert grid_rows(grid.subset([])) == []
