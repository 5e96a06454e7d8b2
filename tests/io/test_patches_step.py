"""`medtk preprocess patches` on the real Aperio slide shipped in shared data."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image

import medtk.builtin
from medtk.io.store import Store

CORE = [("core", medtk.builtin)]


@pytest.fixture
def slide_store(cli, tmp_path, sample_data):
    out = tmp_path / "cmu.zarr"
    svs = sample_data / "histology" / "cmu_small_region.svs"
    assert cli("preprocess", "ingest", str(svs), "-o", str(out), plugins=CORE).code == 0
    return out


def test_patches_at_5x_keep_tissue_and_drop_white(cli, tmp_path, slide_store):
    result = cli("preprocess", "patches", str(slide_store), "--magnification", "5",
                 "--size", "64", "-o", str(tmp_path / "grid"), "--json", plugins=CORE)  # fmt: skip
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    # a 20× slide at 5×: downsample 4, so 64 px patches cover 256 level-0 pixels
    assert summary["level_downsample"] == 4.0
    assert summary["level"] == 2
    with (tmp_path / "grid" / "patches.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == summary["patches"]
    assert 0 < len(rows) < summary["candidates"]
    store = Store.open(slide_store)
    level = np.asarray(store.array(2)[...])
    for row in rows[:10]:
        x, y = int(row["level_x"]), int(row["level_y"])
        patch = level[:, y : y + 64, x : x + 64]
        assert float(row["mean"]) == pytest.approx(patch.mean())
        assert patch.mean() <= 220
        assert int(row["width"]) == 256
    thumbnail = np.asarray(Image.open(tmp_path / "grid" / "thumbnail.png"))
    assert thumbnail.shape[:2] == level.shape[1:] or thumbnail.shape[0] <= 2048
    assert ((thumbnail == (30, 60, 220)).all(axis=-1)).any()  # patch boxes drawn


def test_patches_need_a_known_magnification(cli, tmp_path):
    np.save(tmp_path / "rgb.npy", np.full((600, 500, 3), 128, np.uint8))
    store = tmp_path / "rgb.zarr"
    assert cli("preprocess", "ingest", str(tmp_path / "rgb.npy"), "-o", str(store),
               plugins=CORE).code == 0  # fmt: skip
    result = cli("preprocess", "patches", str(store), "--magnification", "5", plugins=CORE)
    assert result.code == 2
    assert len(result.err_lines) == 1
    assert not (tmp_path / "rgb.patches").exists()


def test_patches_refuse_a_volume(cli, tmp_path):
    np.save(tmp_path / "vol.npy", np.zeros((4, 32, 32), np.int16))
    store = tmp_path / "vol.zarr"
    cli("preprocess", "ingest", str(tmp_path / "vol.npy"), "-o", str(store), plugins=CORE)
    result = cli("preprocess", "patches", str(store), plugins=CORE)
    assert result.code == 2
    assert "is not an RGB slide" in result.err
