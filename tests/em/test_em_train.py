"""``medtk train em`` and ``medtk predict em``: a 3D U-Net learns a generated volume, binary
(one-vs-rest) runs train a network per class and predict stacked, prediction is the same
on local threads and on a dask.distributed cluster, bad options are one line (exit 2)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import medtk_em.plugin
import numpy as np
import pytest
import torch
import zarr

import medtk.builtin
from medtk.cli.main import main
from medtk.cli.state import AppState
from medtk.io.ingest import IngestOptions, write_store
from medtk.io.source import array_source
from medtk.plugins import load_plugins

PLUGINS = [("core", medtk.builtin), ("em", medtk_em.plugin)]
#: Mean intensity of each class: background, bright balls, dark balls.
MEANS = (110, 220, 30)
SHAPE = (32, 48, 48)
#: A U-Net small enough to learn the volume in seconds on two CPU cores.
NET = ("--patch", "8", "24", "24", "--depth", "2", "--width", "8", "--val-fraction", "0.25")


def make_volume(shape=SHAPE, seed=0, noise=15.0) -> tuple[np.ndarray, np.ndarray]:
    """Many small balls of class 1 (bright) and 2 (dark) on a grey background, with Gaussian
    noise: about 56 % background, 18 % class 1, 26 % class 2, alike in every patch."""
    rng = np.random.default_rng(seed)
    labels = np.zeros(shape, np.uint8)
    zz, yy, xx = np.indices(shape)
    for value in (1, 2):
        for _ in range(60):
            centre = rng.uniform(0, shape)
            radius = rng.uniform(3.5, 5.5)
            inside = (zz - centre[0]) ** 2 + (yy - centre[1]) ** 2 + (xx - centre[2]) ** 2
            labels[inside <= radius**2] = value
    image = np.asarray(MEANS, np.float32)[labels] + rng.normal(0.0, noise, shape)
    return np.clip(image, 0, 255).astype(np.uint8), labels


def write_volume(path: Path, image: np.ndarray, labels: np.ndarray) -> Path:
    """An OME-Zarr store with the image and its label image ``classes``."""
    spacing = (1.0, 1.0, 1.0)
    source = array_source(image, path=path, axes=("z", "y", "x"), spacing=spacing, unit="")
    label = array_source(
        labels,
        path=path.with_name(f"{path.stem}-labels"),
        axes=("z", "y", "x"),
        spacing=spacing,
        unit="",
    )
    options = IngestOptions(workers=1, min_size=8, chunk_z=16, chunk_xy=32)
    return write_store(source, path, labels={"classes": label}, options=options).path


def medtk(*args: str) -> None:
    """Run medtk in-process (for module-scoped fixtures); it must succeed."""

    def loader():
        return load_plugins(entry_points=False, extra=PLUGINS, env={})

    assert main([str(a) for a in args], state=AppState(loader=loader)) == 0, args


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Two cores shared with other tests: one intra-op thread avoids oversubscription."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def volume(tmp_path_factory) -> tuple[Path, np.ndarray, np.ndarray]:
    image, labels = make_volume()
    path = write_volume(tmp_path_factory.mktemp("em") / "volume.zarr", image, labels)
    return path, image, labels


@pytest.fixture(scope="module")
def multiclass_run(volume) -> Path:
    path, _, _ = volume
    run = path.parent / "multiclass"
    medtk(
        "train",
        "em",
        path,
        "-o",
        run,
        *NET,
        "--samples-per-epoch",
        "32",
        "--epochs",
        "8",
        "--lr",
        "0.02",
        "--seed",
        "1",
    )
    return run


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_multiclass_training_learns_the_classes(volume, multiclass_run, tmp_path):
    path, _, labels = volume
    rows = read_rows(multiclass_run / "metrics.csv")
    assert len(rows) == 8
    assert {"val_loss", "val_f1", "val_f1_0", "val_f1_1", "val_f1_2"} <= set(rows[0])
    losses = [float(r["train_loss"]) for r in rows]
    assert losses[-1] < 0.4 * losses[0]
    assert float(rows[-1]["val_loss"]) < 0.5 * float(rows[0]["val_loss"])
    summary = json.loads((multiclass_run / "summary.json").read_text())
    assert summary["best_epoch"] >= 4 and summary["best_val_f1"] > 0.8
    config = (multiclass_run / "config.yaml").read_text()
    assert "classes: 3" in config and "mode: multiclass" in config
    # the whole pipeline: predict the store, score it (thresholds from the validation slab)
    medtk("predict", "em", path, "-r", multiclass_run, "-o", tmp_path / "pred.zarr")
    medtk(
        "evaluate",
        "em",
        tmp_path / "pred.zarr",
        "--truth",
        path,
        "--val-fraction",
        "0.25",
        "-o",
        tmp_path / "scores",
    )
    scores = json.loads((tmp_path / "scores" / "metrics.json").read_text())
    per_class = scores["modes"]["multiclass"]["classes"]
    fractions = np.bincount(labels[:24].ravel(), minlength=3) / labels[:24].size
    for value, name in enumerate(("0", "1", "2")):
        chance = 2 * fractions[value] / (1 + fractions[value])  # F1 of calling every voxel
        assert per_class[name]["f1"] > max(0.8, chance + 0.1), (name, per_class[name])


def predicted(path: Path) -> tuple[np.ndarray, np.ndarray]:
    group = zarr.open_group(str(path), mode="r")
    return np.asarray(group["0"][:]), np.asarray(group["labels"]["prediction"]["0"][:])


def test_prediction_is_the_same_on_threads_and_on_a_cluster(volume, multiclass_run, tmp_path):
    distributed = pytest.importorskip("distributed")
    path, _, _ = volume
    medtk(
        "predict",
        "em",
        path,
        "-r",
        multiclass_run,
        "-o",
        tmp_path / "threads.zarr",
        "--workers",
        "2",
    )
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        medtk(
            "predict",
            "em",
            path,
            "-r",
            multiclass_run,
            "-o",
            tmp_path / "cluster.zarr",
            "--scheduler",
            cluster.scheduler_address,
        )
    probabilities, labels = predicted(tmp_path / "threads.zarr")
    assert probabilities.shape == (3, *SHAPE) and probabilities.dtype == np.float32
    assert probabilities.min() >= 0.0 and probabilities.max() <= 1.0  # sigmoid per class
    np.testing.assert_array_equal(labels, np.argmax(probabilities, axis=0))
    other, other_labels = predicted(tmp_path / "cluster.zarr")
    np.testing.assert_array_equal(other, probabilities)
    np.testing.assert_array_equal(other_labels, labels)
    described = zarr.open_group(str(tmp_path / "threads.zarr"), mode="r").attrs["medtk"]["em"]
    assert described["mode"] == "multiclass" and described["activation"] == "sigmoid"
    assert described["classes"] == [0, 1, 2] and described["names"] == ["0", "1", "2"]


def test_binary_mode_trains_a_network_per_class_and_predicts_them_stacked(volume, tmp_path, cli):
    path, _, _ = volume
    run = tmp_path / "binary"
    done = cli(
        "train",
        "em",
        str(path),
        "-o",
        str(run),
        "--mode",
        "binary",
        "--patch",
        "8",
        "16",
        "16",
        "--depth",
        "2",
        "--width",
        "4",
        "--val-fraction",
        "0.25",
        "--samples-per-epoch",
        "8",
        "--epochs",
        "1",
        "--loss",
        "dice",
        "--balanced",
        plugins=PLUGINS,
    )
    assert done.code == 0, done.err
    assert done.out.strip() == str(run)
    for value in range(3):
        folder = run / f"class-{value}"
        assert (folder / "model.safetensors").is_file()
        assert f"binary_class: {value}" in (folder / "config.yaml").read_text()
        assert f"out: {folder}" in (folder / "config.yaml").read_text()
        assert "val_f1" in read_rows(folder / "metrics.csv")[0]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["mode"] == "binary" and summary["classes"] == ["0", "1", "2"]
    assert len(summary["best_val_f1"]) == 3
    assert [r["class"] for r in read_rows(run / "classes.csv")] == ["0", "1", "2"]

    stacked = cli(
        "predict",
        "em",
        str(path),
        "-r",
        str(run),
        "-o",
        str(tmp_path / "all.zarr"),
        "--json",
        plugins=PLUGINS,
    )
    assert stacked.code == 0, stacked.err
    record = json.loads(stacked.out)
    assert record["classes"] == 3 and record["class_names"] == ["0", "1", "2"]
    probabilities, labels = predicted(tmp_path / "all.zarr")
    assert probabilities.shape == (3, *SHAPE)
    np.testing.assert_array_equal(labels, np.argmax(probabilities, axis=0))
    # one class's network alone gives that class's channel of the stack
    alone = cli(
        "predict",
        "em",
        str(path),
        "-r",
        str(run / "class-1"),
        "-o",
        str(tmp_path / "one.zarr"),
        plugins=PLUGINS,
    )
    assert alone.code == 0, alone.err
    single, single_labels = predicted(tmp_path / "one.zarr")
    assert single.shape == (1, *SHAPE)
    np.testing.assert_allclose(single[0], probabilities[1], rtol=0, atol=1e-6)
    np.testing.assert_array_equal(single_labels, single[0] >= 0.5)


def test_a_binary_run_missing_a_class_cannot_predict(volume, tmp_path, cli):
    path, _, _ = volume
    run = tmp_path / "binary"
    done = cli(
        "train",
        "em",
        str(path),
        "-o",
        str(run),
        "--mode",
        "binary",
        "--patch",
        "8",
        "16",
        "16",
        "--depth",
        "2",
        "--width",
        "2",
        "--val-fraction",
        "0.25",
        "--samples-per-epoch",
        "4",
        "--epochs",
        "1",
        plugins=PLUGINS,
    )
    assert done.code == 0, done.err
    (run / "class-2" / "config.yaml").unlink()
    failed = cli("predict", "em", str(path), "-r", str(run), plugins=PLUGINS)
    assert failed.code == 2
    assert failed.err_lines == [
        f"medtk: error: binary run {str(run)!r} has no network for class value(s) 2 "
        "(RUN/class-NAME); finish it with --resume"
    ]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--binary-class", "1"], "--binary-class trains one class's network: add --mode binary"),
        (["--mode", "binary", "--binary-class", "5"], "--binary-class 5: the labels hold classes"),
        (["--patch", "8", "18", "18", "--depth", "3"], "every size must be a multiple of 4"),
        (["--patch", "16", "16", "16"], "the validation region is 6 voxels along z"),
        (["--labels", "cells"], "has no label 'cells' (labels: classes)"),
        (["--folds", "3"], "--folds: em validates on a held-out slab"),
        (["--classes", "2"], "holds value 2, more than --classes 2 allows"),
        (["--loss", "focal"], "'focal' is not one of"),
    ],
)
def test_bad_training_options_are_one_line(volume, tmp_path, cli, options, message):
    path, _, _ = volume
    run = tmp_path / "run"
    failed = cli("train", "em", str(path), "-o", str(run), *options, plugins=PLUGINS)
    assert failed.code == 2, failed.err
    assert len(failed.err_lines) == 1 and message in failed.err_lines[0], failed.err
    assert not run.exists()


def test_predict_needs_a_run_and_a_store(volume, multiclass_run, tmp_path, cli):
    path, _, _ = volume
    cases = [
        (["predict", "em", str(path), "-r", str(tmp_path)], "is not a run folder"),
        (
            ["predict", "em", str(tmp_path / "none.zarr"), "-r", str(multiclass_run)],
            "does not exist",
        ),
    ]
    for args, message in cases:
        failed = cli(*args, plugins=PLUGINS)
        assert failed.code == 2 and len(failed.err_lines) == 1, failed.err
        assert message in failed.err_lines[0]


@pytest.mark.slow
def test_a_unet_learns_the_em_phantom(tmp_path, cli):
    """The FIB-SEM phantom's large classes, from a short CPU training (about a minute)."""
    store = tmp_path / "phantom.zarr"
    made = cli(
        "preprocess", "em-phantom", "-o", str(store), "--shape", "48", "128", "128", plugins=PLUGINS
    )
    assert made.code == 0, made.err
    run = tmp_path / "run"
    trained = cli(
        "train",
        "em",
        str(store),
        "-o",
        str(run),
        "--patch",
        "16",
        "64",
        "64",
        "--depth",
        "3",
        "--width",
        "8",
        "--samples-per-epoch",
        "32",
        "--epochs",
        "10",
        "--balanced",
        "--lr",
        "0.01",
        "--val-fraction",
        "0.34",
        plugins=PLUGINS,
    )
    assert trained.code == 0, trained.err
    assert (
        cli(
            "predict",
            "em",
            str(store),
            "-r",
            str(run),
            "-o",
            str(tmp_path / "p.zarr"),
            plugins=PLUGINS,
        ).code
        == 0
    )
    scored = cli(
        "evaluate",
        "em",
        str(tmp_path / "p.zarr"),
        "--truth",
        str(store),
        "--val-fraction",
        "0.34",
        "-o",
        str(tmp_path / "scores"),
        "--json",
        plugins=PLUGINS,
    )
    assert scored.code == 0, scored.err
    classes = json.loads(scored.out)["modes"]["multiclass"]["classes"]
    for name in ("cytosol", "mitochondria", "membranes", "myelin"):
        share = classes[name]["percent"] / 100
        chance = 2 * share / (1 + share)
        assert classes[name]["f1"] > chance + 0.1, (name, classes[name])


def test_predict_runs_on_the_real_cryo_et_tomogram(multiclass_run, tmp_path):
    """The real tomogram (float32, 101 × 135², not a multiple of the tile) goes through
    ingest and blockwise prediction; every voxel gets probabilities and a label."""
    from conftest import sample_file

    tomogram = sample_file("em", "tomo.tif")
    store = tmp_path / "tomo.zarr"
    medtk("preprocess", "ingest", tomogram, "-o", store)
    out = tmp_path / "tomo.em.zarr"
    medtk("predict", "em", store, "-r", multiclass_run, "-o", out)
    probabilities, labels = predicted(out)
    assert probabilities.shape == (3, 101, 135, 135)
    assert np.isfinite(probabilities).all()
    assert probabilities.min() >= 0.0 and probabilities.max() <= 1.0
    np.testing.assert_array_equal(labels, np.argmax(probabilities, axis=0))
