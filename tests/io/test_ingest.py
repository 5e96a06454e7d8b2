"""Ingest end to end: stores that napari's reader opens, atomic and resumable writes."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import medtk.builtin
from medtk.errors import BadInputError
from medtk.io.ingest import IngestOptions, partial_path, write_store
from medtk.io.source import array_source
from medtk.io.store import Store

CORE = [("core", medtk.builtin)]


def level_digest(path: Path, level: int = 0) -> str:
    return hashlib.sha256(np.asarray(Store.open(path).array(level)[...]).tobytes()).hexdigest()


@pytest.fixture
def volume(tmp_path: Path) -> tuple[Path, np.ndarray]:
    rng = np.random.default_rng(0)
    data = rng.integers(-1000, 1500, (40, 300, 260)).astype(np.int16)
    path = tmp_path / "ct.npy"
    np.save(path, data)
    return path, data


def test_ingest_writes_a_complete_ome_zarr_store(cli, tmp_path, volume):
    path, data = volume
    labels = (data > 500).astype(np.uint8)
    np.save(tmp_path / "mask.npy", labels)
    out = tmp_path / "ct.zarr"
    result = cli(
        "preprocess", "ingest", str(path), "--label", str(tmp_path / "mask.npy"),
        "-o", str(out), "--modality", "CT", "--subject", "P7", plugins=CORE,
    )  # fmt: skip
    assert result.code == 0, result.err
    assert result.out.splitlines() == [str(out)]
    store = Store.open(out)
    assert store.axes == ("z", "y", "x")
    np.testing.assert_array_equal(store.array(0)[...], data)
    assert store.levels[1].shape == (20, 150, 130)
    meta = store.medtk
    assert meta["modality"] == "CT" and meta["subject"] == "P7"
    assert meta["source"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert meta["stats"]["min"] == [data.min()] and meta["stats"]["max"] == [data.max()]
    assert meta["stats"]["mean"][0] == pytest.approx(data.mean())
    assert meta["stats"]["std"][0] == pytest.approx(data.std(), rel=1e-6)
    assert store.labels == ["mask"]
    np.testing.assert_array_equal(store.label("mask").array(0)[...], labels)
    assert store.label("mask").medtk["values"] == [0, 1]
    assert not partial_path(out).exists()
    assert not any(out.rglob(".medtk-journal*"))


def test_ome_zarr_reader_opens_image_and_labels(cli, tmp_path, volume):
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    path, data = volume
    np.save(tmp_path / "mask.npy", (data > 0).astype(np.uint8))
    out = tmp_path / "ct.zarr"
    assert cli("preprocess", "ingest", str(path), "--label", str(tmp_path / "mask.npy"),
               "-o", str(out), plugins=CORE).code == 0  # fmt: skip
    location = parse_url(str(out))
    assert location.version == "0.5"
    nodes = list(Reader(location)())
    image, label = nodes[0], nodes[-1]
    assert [tuple(d.shape) for d in image.data] == [lv.shape for lv in Store.open(out).levels]
    np.testing.assert_array_equal(np.asarray(image.data[0][5]), data[5])
    assert label.metadata["name"] == "mask"
    assert tuple(label.data[0].shape) == data.shape


def test_info_prints_tree_and_json(cli, tmp_path, volume):
    path, data = volume
    out = tmp_path / "ct.zarr"
    cli("preprocess", "ingest", str(path), "-o", str(out), "--modality", "CT", plugins=CORE)
    tree = cli("preprocess", "info", str(out), plugins=CORE)
    assert tree.code == 0
    assert "(40, 300, 260)" in tree.out
    assert f"HU range: min {data.min()}; max {data.max()}" in tree.out
    record = json.loads(cli("preprocess", "info", str(out), "--json", plugins=CORE).out)
    assert record["axes"] == ["z", "y", "x"]
    assert record["levels"][0]["chunks"] == [32, 256, 256]
    assert record["medtk"]["modality"] == "CT"


def test_several_inputs_make_one_store_each(cli, tmp_path):
    for name in ("a", "b"):
        np.save(tmp_path / f"{name}.npy", np.full((20, 30), ord(name), np.uint8))
    result = cli(
        "preprocess", "ingest", str(tmp_path / "a.npy"), str(tmp_path / "b.npy"),
        "-o", str(tmp_path / "stores"), "--json", plugins=CORE,
    )  # fmt: skip
    assert result.code == 0, result.err
    record = json.loads(result.out)
    assert record["paths"] == [str(tmp_path / "stores" / f"{n}.zarr") for n in "ab"]
    assert int(Store.open(tmp_path / "stores" / "b.zarr").array(0)[0, 0]) == ord("b")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "missing.nii", "does not exist"),
        (lambda d: (d / "notes.txt").write_text("hello") and d / "notes.txt", "not an image file"),
        (lambda d: (d / "empty").mkdir() or d / "empty", "is an empty folder"),
    ],
    ids=["missing", "not-an-image", "empty-folder"],
)
def test_bad_input_is_one_line_and_writes_nothing(cli, tmp_path, make, message):
    source = make(tmp_path)
    out = tmp_path / "out.zarr"
    result = cli("preprocess", "ingest", str(source), "-o", str(out), plugins=CORE)
    assert result.code == 2
    assert len(result.err_lines) == 1 and message in result.err
    assert not out.exists() and not partial_path(out).exists()


def test_existing_output_is_refused_before_any_work(cli, tmp_path, volume):
    path, _ = volume
    out = tmp_path / "ct.zarr"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    result = cli("preprocess", "ingest", str(path), "-o", str(out), plugins=CORE)
    assert result.code == 2 and "already exists" in result.err and len(result.err_lines) == 1
    assert (out / "keep.txt").read_text() == "mine"


def test_label_of_wrong_shape_is_refused(cli, tmp_path, volume):
    path, _ = volume
    np.save(tmp_path / "mask.npy", np.zeros((40, 300, 261), np.uint8))
    out = tmp_path / "ct.zarr"
    result = cli("preprocess", "ingest", str(path), "--label", str(tmp_path / "mask.npy"),
                 "-o", str(out), plugins=CORE)  # fmt: skip
    assert result.code == 2 and "label image has axes zyx and shape (40, 300, 261)" in result.err
    assert not out.exists() and not partial_path(out).exists()


def test_interrupted_write_resumes_and_matches_an_uninterrupted_one(tmp_path):
    rng = np.random.default_rng(3)
    data = rng.integers(0, 255, (3, 700, 900), dtype=np.uint8)
    options = IngestOptions(chunk_xy=128, block_bytes=3 * 256 * 256, workers=2)
    calls = {"n": 0}
    lock = threading.Lock()

    def flaky(region):
        with lock:
            calls["n"] += 1
            if calls["n"] == 12:
                raise KeyboardInterrupt
        return data[region]

    def source(read=None):
        made = array_source(data, path=tmp_path / "rgb.npy", axes=("c", "y", "x"),
                            spacing=(0.5, 0.5), unit="micrometer")  # fmt: skip
        if read is not None:
            made.read = read
        return made

    (tmp_path / "rgb.npy").write_bytes(b"stand-in source file")
    out = tmp_path / "rgb.zarr"
    with pytest.raises(KeyboardInterrupt):
        write_store(source(flaky), out, options=options)
    assert not out.exists() and partial_path(out).exists()
    with pytest.raises(BadInputError, match="unfinished write"):
        Store.open(partial_path(out))

    resumed = write_store(source(), out, options=options)
    assert resumed.resumed_blocks >= 8
    clean = write_store(source(), tmp_path / "clean.zarr", options=options)
    assert clean.resumed_blocks == 0
    for level in range(resumed.levels):
        assert level_digest(out, level) == level_digest(tmp_path / "clean.zarr", level)
    assert Store.open(out).medtk["stats"] == Store.open(tmp_path / "clean.zarr").medtk["stats"]


def test_partial_write_of_another_input_is_discarded(tmp_path):
    out = tmp_path / "img.zarr"
    work = partial_path(out)
    work.mkdir()
    (work / ".medtk-journal.jsonl").write_text('{"fingerprint": {"other": 1}}\n{"key": "x"}\n')
    (tmp_path / "img.npy").write_bytes(b"x")
    data = np.arange(64 * 64, dtype=np.uint16).reshape(64, 64)
    source = array_source(data, path=tmp_path / "img.npy", axes=("y", "x"),
                          spacing=(1.0, 1.0), unit="")  # fmt: skip
    assert write_store(source, out).resumed_blocks == 0
    np.testing.assert_array_equal(Store.open(out).array(0)[...], data)


def _medtk(*args: str) -> list[str]:
    return [sys.executable, "-m", "medtk", *args]


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_killed_ingest_resumes_to_the_same_array(tmp_path, how):
    rng = np.random.default_rng(4)
    np.save(tmp_path / "big.npy", rng.integers(0, 255, (3, 2048, 2048), dtype=np.uint8))
    args = ["preprocess", "ingest", str(tmp_path / "big.npy"), "--chunk-xy", "64",
            "--block-mb", "1", "--workers", "1"]  # fmt: skip
    out = tmp_path / "big.zarr"
    journal = partial_path(out) / ".medtk-journal.jsonl"
    env = {**os.environ, "MEDTK_LOAD_PLUGINS": "core"}
    child = subprocess.Popen(
        _medtk(*args, "-o", str(out)), env=env, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if journal.exists() and journal.read_text().count("\n") >= 6:
            break
        time.sleep(0.005)
    child.send_signal(how)
    _, stderr = child.communicate()
    if how == signal.SIGKILL:
        assert child.returncode == -signal.SIGKILL, "the ingest finished before it was killed"
    else:
        assert child.returncode == 143, stderr
        assert stderr.strip().splitlines()[-1] == (
            f"medtk: error: terminated by SIGTERM while writing {str(out)!r}; "
            "run the same command again to resume it"
        )
    assert not out.exists() and journal.exists()

    done = subprocess.run(_medtk(*args, "-o", str(out)), env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "resumed" in done.stderr
    clean = subprocess.run(_medtk(*args, "-o", str(tmp_path / "clean.zarr")), env=env,
                           capture_output=True, text=True)  # fmt: skip
    assert clean.returncode == 0, clean.stderr
    assert level_digest(out) == level_digest(tmp_path / "clean.zarr")
    assert level_digest(out, 3) == level_digest(tmp_path / "clean.zarr", 3)


def test_many_channels_chunked_one_by_one_keep_per_channel_stats(tmp_path):
    data = np.stack([np.full((40, 50), 10 * c, np.uint16) for c in range(6)])
    data[:, 0, 0] = 1000
    (tmp_path / "six.npy").write_bytes(b"x")
    source = array_source(data, path=tmp_path / "six.npy", axes=("c", "y", "x"),
                          spacing=(1.0, 1.0), unit="")  # fmt: skip
    store = Store.open(write_store(source, tmp_path / "six.zarr").path)
    assert store.levels[0].chunks[0] == 1
    assert store.medtk["stats"]["min"] == [10.0 * c for c in range(6)]
    assert store.medtk["stats"]["max"] == [1000.0] * 6
    assert len(store.ome["omero"]["channels"]) == 6
