"""`medtk preprocess window`: HU windowing into a new store, labels carried over."""

from __future__ import annotations

import numpy as np

import medtk.builtin
from medtk.io.store import Store

CORE = [("core", medtk.builtin)]


def make_ct(cli, tmp_path, modality="CT"):
    rng = np.random.default_rng(0)
    hu = rng.integers(-1024, 1200, (12, 64, 80)).astype(np.int16)
    np.save(tmp_path / "ct.npy", hu)
    np.save(tmp_path / "liver.npy", (hu > 0).astype(np.uint8))
    result = cli("preprocess", "ingest", str(tmp_path / "ct.npy"), "--label",
                 str(tmp_path / "liver.npy"), "--label-name", "liver", "--modality", modality,
                 "-o", str(tmp_path / "ct.zarr"), plugins=CORE)  # fmt: skip
    assert result.code == 0, result.err
    return hu


def test_window_clips_and_scales_to_uint8(cli, tmp_path):
    hu = make_ct(cli, tmp_path)
    result = cli("preprocess", "window", str(tmp_path / "ct.zarr"), "--hu", "-200", "250",
                 plugins=CORE)  # fmt: skip
    assert result.code == 0, result.err
    out = tmp_path / "ct.hu-200_250.zarr"
    assert result.out.strip() == str(out)
    store = Store.open(out)
    expected = np.rint((np.clip(hu, -200, 250) + 200) / 450 * 255).astype(np.uint8)
    np.testing.assert_array_equal(store.array(0)[...], expected)
    assert store.medtk["window"]["low"] == -200
    assert "rescale" not in store.medtk
    assert store.medtk["derived_from"]["store"] == str((tmp_path / "ct.zarr").resolve())
    assert store.labels == ["liver"]
    np.testing.assert_array_equal(store.label("liver").array(0)[...], (hu > 0).astype(np.uint8))

    info = cli("preprocess", "info", str(out), plugins=CORE)
    assert "window: -200 to 250 HU → 0-255" in info.out
    assert "HU range" not in info.out
    assert "range: min 0; max 255" in info.out
    assert "medtk-store)" in info.out  # no file count or checksum for a derived store
    again = cli("preprocess", "window", str(out), "-o", str(tmp_path / "twice.zarr"),
                plugins=CORE)  # fmt: skip
    assert again.code == 2
    assert "is already windowed (-200 to 250 HU, scaled to 0-255)" in again.err
    assert not (tmp_path / "twice.zarr").exists()


def test_window_refuses_non_ct_and_bad_bounds(cli, tmp_path):
    make_ct(cli, tmp_path, modality="MR")
    result = cli("preprocess", "window", str(tmp_path / "ct.zarr"), plugins=CORE)
    assert result.code == 2
    assert "holds MR data" in result.err
    result = cli("preprocess", "window", str(tmp_path / "ct.zarr"), "--hu", "250", "-200",
                 plugins=CORE)  # fmt: skip
    assert result.code == 2
    assert "LOW must be below HIGH" in result.err
    assert len(list(tmp_path.glob("*.zarr"))) == 1
