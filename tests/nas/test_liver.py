"""`medtk train|predict|evaluate nas-liver`: 2D liver segmentation of synthetic CT volumes.

One small run is trained once for the module (three 16-slice 64 x 64 phantom CT series,
slices resampled to 32 x 32, a 3-level U-Net of width 8, 12 epochs) and predicted, scored
and resumed by the tests below.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import medtk_nas.plugin
import numpy as np
import pytest
import torch
import zarr
from medtk_nas.liver import held_out, keep_largest_component
from medtk_nas.liver_data import Augment, HuWindow, LiverSliceNet, LiverSlices, Volume, resize

import medtk.builtin
from medtk.cli.main import main
from medtk.cli.state import AppState
from medtk.datasets.ct import write_ct_series
from medtk.engine.inference import infer
from medtk.io.store import Store
from medtk.nn.models.unet import UNet
from medtk.ops.intensity import window
from medtk.plugins import load_plugins

PLUGINS = [("core", medtk.builtin), ("nas", medtk_nas.plugin)]
TRAIN = ["--size", "32", "--depth", "3", "--width", "8", "--epochs", "12", "--batch-size", "4",
         "--lr", "3e-3", "--val-fraction", "0.34", "--device", "cpu"]  # fmt: skip


def medtk(*args: str) -> int:
    """`medtk ARGS` in-process, for module fixtures (the `cli` fixture is per test)."""

    def loader():
        return load_plugins(entry_points=False, extra=PLUGINS, env={})

    return main(list(args), state=AppState(loader=loader))


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Tiny networks: one thread is as fast, and does not fight other processes for cores."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """Three phantom CT series (patients P0-P2) ingested as stores with a liver label."""
    folder = tmp_path_factory.mktemp("ct")
    for i in range(3):
        series = write_ct_series(folder / f"s{i}", slices=16, size=64, seed=i,
                                 patient_id=f"P{i}", mask_path=folder / f"m{i}.nii.gz")  # fmt: skip
        code = medtk("preprocess", "ingest", str(series), "-o", str(folder / f"ct{i}.zarr"),
                     "--label", str(folder / f"m{i}.nii.gz"), "--label-name", "liver")  # fmt: skip
        assert code == 0
    return folder


@pytest.fixture(scope="module")
def run(data) -> Path:
    """The module's trained run (validation: the whole of P2, picked by the seed)."""
    stores = [str(data / f"ct{i}.zarr") for i in range(3)]
    assert medtk("train", "nas-liver", *stores, "-o", str(data / "run"), *TRAIN) == 0
    return data / "run"


@pytest.fixture(scope="module")
def predicted(run, data) -> Path:
    out = data / "ct2.nas-liver.zarr"
    assert medtk("predict", "nas-liver", str(data / "ct2.zarr"), "-r", str(run),
                 "--device", "cpu") == 0  # fmt: skip
    return out


def truth_of(store: Path) -> np.ndarray:
    return Store.open(store).label("liver").array(0)[...] == 1


def dice_by_hand(truth: np.ndarray, predicted: np.ndarray) -> float:
    return 2 * np.count_nonzero(truth & predicted) / (truth.sum() + predicted.sum())


# --------------------------------------------------------------------------------------
# training


def test_training_holds_out_a_patient_and_reaches_a_validation_dice_above_0_8(run, data):
    summary = json.loads((run / "summary.json").read_text())
    assert summary["epochs"] == 12
    assert summary["best_val_dice"] > 0.8  # measured 0.89-0.93 on CPU
    with (run / "metrics.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert {"train_loss", "val_loss", "val_dice", "val_jaccard"} <= set(rows[0])
    assert float(rows[-1]["train_loss"]) < float(rows[0]["train_loss"])
    with (run / "predictions.csv").open() as handle:
        (held,) = list(csv.DictReader(handle))
    assert held["store"] == str((data / "ct2.zarr").resolve())
    assert (held["subject"], held["z_start"], held["z_stop"]) == ("P2", "0", "16")
    assert float(held["dice"]) == pytest.approx(summary["best_val_dice"])


def test_a_resumed_run_continues_from_its_saved_options(cli, run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    result = cli("train", "nas-liver", "--resume", str(copy), "--epochs", "13", plugins=PLUGINS)
    assert result.code == 0, result.err
    with (copy / "metrics.csv").open() as handle:
        assert len(list(csv.DictReader(handle))) == 13
    assert "training on 32 slices of 2 volume(s), validating on 16 slices of 1" in result.err


def test_held_out_slices_whole_patients_folds_and_one_volume_slabs():
    def volume(subject, depth=20, liver=range(12, 18)):
        masks = np.zeros((depth, 4, 4), np.uint8)
        masks[list(liver)] = 1
        return Volume(Path(f"{subject}.zarr"), subject, masks * 0, masks, (depth, 4, 4))

    five = [volume(s) for s in ("a", "b", "c", "d", "e")]
    held = held_out(five, val_fraction=0.4, folds=0, fold=None, seed=3)
    assert sum(h is not None for h in held) == 2
    assert all(h in (None, (0, 20)) for h in held)
    # one patient's two volumes stay together, in every fold
    two_of_a = [volume("a"), volume("a"), volume("b"), volume("c")]
    for fold in range(3):
        held = held_out(two_of_a, val_fraction=0.2, folds=3, fold=fold, seed=0)
        assert (held[0] is None) == (held[1] is None)
    folds = [held_out(five, val_fraction=0.2, folds=5, fold=f, seed=0) for f in range(5)]
    assert sorted(next(i for i, h in enumerate(f) if h) for f in folds) == [0, 1, 2, 3, 4]
    # one volume: a slab of 20% of the slices centred on the liver (slices 12-17)
    assert held_out([volume("a")], val_fraction=0.2, folds=0, fold=None, seed=0) == [(13, 17)]
    slabs = [
        held_out([volume("a")], val_fraction=0.2, folds=3, fold=f, seed=0)[0] for f in range(3)
    ]
    assert slabs == [(0, 7), (7, 14), (14, 20)]


def test_slices_are_drawn_per_volume_with_the_liver_fraction():
    masks = np.zeros((10, 8, 8), np.uint8)
    masks[6:8, 2:5, 2:5] = 1
    volume = Volume(Path("v.zarr"), "v", np.full((10, 8, 8), 128, np.uint8), masks, (10, 8, 8))
    torch.manual_seed(0)
    everything = LiverSlices([volume], [np.arange(10)])
    assert len(everything) == 10
    assert [everything.pick(i) for i in range(10)] == [(0, z) for z in range(10)]
    liver = LiverSlices([volume], [np.arange(9)], per_volume=50, liver_fraction=1.0)
    assert len(liver) == 50
    assert {liver.pick(i)[1] for i in range(50)} == {6, 7}
    anywhere = LiverSlices([volume], [np.arange(5)], per_volume=50, liver_fraction=0.0)
    assert {anywhere.pick(i)[1] for i in range(50)} == set(range(5))
    x, y = everything[6]
    assert x.shape == y.shape == (1, 8, 8)
    assert x.dtype == torch.float32
    assert x.max() == pytest.approx(128 / 255)


def test_augmentation_keeps_the_mask_binary_and_the_image_in_range():
    torch.manual_seed(1)
    x = torch.rand(1, 32, 32)
    y = (torch.rand(1, 32, 32) > 0.5).float()
    for _ in range(5):
        ax, ay = Augment(flip=0.5, rotate=20, zoom=0.2, jitter=0.3)(x, y)
        assert ax.shape == ay.shape == (1, 32, 32)
        assert set(ay.unique().tolist()) <= {0.0, 1.0}
        assert float(ax.min()) >= 0 and float(ax.max()) <= 1
    fx, fy = Augment(flip=1.0, rotate=0, zoom=0, jitter=0)(x, y)
    assert torch.equal(fx, x.flip(-1)) and torch.equal(fy, y.flip(-1))


# --------------------------------------------------------------------------------------
# the per-slice network


def test_the_slice_wrapper_equals_the_unet_on_each_windowed_slice():
    torch.manual_seed(0)
    net = UNet(2, in_channels=1, classes=1, depth=3, width=4).eval()
    hu = torch.from_numpy(np.random.default_rng(0).integers(-1024, 1500, (2, 1, 3, 32, 40)))
    wrapped = LiverSliceNet(net, HuWindow(-200, 250), divisor=4).eval()
    with torch.no_grad():
        got = wrapped(hu)
        assert got.shape == (2, 1, 3, 32, 40)
        windowed = torch.from_numpy(window(hu.numpy(), -200, 250).compute() / 255).float()
        for n in range(2):
            for z in range(3):
                want = net(windowed[n, :, z][None])
                torch.testing.assert_close(got[n, :, z], want[0])  # batched: float rounding
        # a store twice the training size: each slice is halved, run, and enlarged back
        halved = LiverSliceNet(net, HuWindow(-200, 250), zoom=(0.5, 0.5), divisor=4).eval()
        slices = windowed.transpose(1, 2).reshape(6, 1, 32, 40)
        small = (resize(slices, (16, 20)) * 255).round() / 255
        want = resize(net(small), (32, 40)).reshape(2, 3, 1, 32, 40).transpose(1, 2)
        torch.testing.assert_close(halved(hu), want)
        # a windowed store (0-255 over the same window) gives the same logits as its HU
        levels = torch.from_numpy(window(hu.numpy(), -200, 250).compute())
        stored = LiverSliceNet(net, HuWindow(-200, 250, (-200.0, 250.0)), divisor=4).eval()
        torch.testing.assert_close(stored(levels), got, rtol=0, atol=0)
    # tiled inference asks a volume's network for 3D channels-last: the slices get 2D
    assert wrapped.to(memory_format=torch.channels_last_3d) is wrapped


def test_tiled_inference_over_a_store_equals_the_network_per_slice(cli, tmp_path):
    hu = np.random.default_rng(2).integers(-1000, 1000, (5, 24, 32)).astype(np.int16)
    np.save(tmp_path / "ct.npy", hu)
    result = cli("preprocess", "ingest", str(tmp_path / "ct.npy"), "-o", str(tmp_path / "ct.zarr"),
                 "--modality", "CT", plugins=PLUGINS)  # fmt: skip
    assert result.code == 0, result.err
    torch.manual_seed(0)
    net = UNet(2, in_channels=1, classes=1, depth=2, width=4).eval()
    model = LiverSliceNet(net, HuWindow(), divisor=2)
    out = infer(tmp_path / "ct.zarr", model, tmp_path / "p.zarr", tile=(1, 24, 32),
                activation="sigmoid", output="probabilities")  # fmt: skip
    got = zarr.open_group(str(out.path), mode="r")["0"][...]
    with torch.no_grad():
        x = torch.from_numpy(window(hu, -200, 250).compute() / 255).float()[:, None]
        want = torch.sigmoid(net(x)).numpy().transpose(1, 0, 2, 3)
    np.testing.assert_allclose(got, want, atol=1e-6)


# --------------------------------------------------------------------------------------
# predict and evaluate


def test_predict_writes_a_liver_label_matching_the_truth(predicted, data, cli, tmp_path):
    store = Store.open(predicted)
    assert store.axes == ("c", "z", "y", "x")
    assert store.levels[0].shape == (1, 16, 64, 64)
    assert store.medtk["prediction"]["tile"] == [1, 64, 64]
    assert store.labels == ["prediction"]
    labels = store.label("prediction").array(0)[...]
    assert set(np.unique(labels)) == {0, 1}
    assert dice_by_hand(truth_of(data / "ct2.zarr"), labels == 1) > 0.8  # measured 0.90-0.93
    # the windowed copy of the store gives the same prediction (it is not windowed twice)
    assert cli("preprocess", "window", str(data / "ct2.zarr"), "-o", str(tmp_path / "w.zarr"),
               plugins=PLUGINS).code == 0  # fmt: skip
    result = cli("predict", "nas-liver", str(tmp_path / "w.zarr"), "-r", str(data / "run"),
                 "-o", str(tmp_path / "pw.zarr"), "--device", "cpu", "--json",
                 plugins=PLUGINS)  # fmt: skip
    assert result.code == 0, result.err
    assert json.loads(result.out)["size"] == 32
    again = zarr.open_group(str(tmp_path / "pw.zarr"), mode="r")
    np.testing.assert_array_equal(again["0"][...], store.array(0)[...])


def test_largest_component_removes_stray_pieces(predicted, tmp_path):
    copy = tmp_path / "p.zarr"
    shutil.copytree(predicted, copy)
    labels = zarr.open_group(str(copy), mode="r+")["labels/prediction/0"]
    liver = np.zeros(labels.shape, np.uint8)
    liver[5:10, 10:40, 10:40] = 1
    labels[...] = liver
    labels[0, :3, :3] = 1  # a stray piece, not touching the liver
    labels[4, 39, 39] = 1  # touching it diagonally: part of it
    assert keep_largest_component(copy) == 9
    liver[4, 39, 39] = 1
    np.testing.assert_array_equal(labels[...], liver)
    assert Store.open(copy).medtk["prediction"]["postprocess"] == "largest component"


def test_evaluate_a_prediction_store_matches_dice_by_hand(cli, predicted, data):
    result = cli("evaluate", "nas-liver", str(predicted), plugins=PLUGINS)
    assert result.code == 0, result.err
    out = data / "ct2.nas-liver.evaluation"
    assert result.out.strip() == str(out)
    assert "Dice" in result.err and "ct2.nas-liver.zarr" in result.err
    truth = truth_of(data / "ct2.zarr")
    mine = Store.open(predicted).label("prediction").array(0)[...] == 1
    metrics = json.loads((out / "metrics.json").read_text())
    (row,) = metrics["per_volume"]
    assert row["dice"] == pytest.approx(dice_by_hand(truth, mine), abs=1e-12)
    assert row["jaccard"] == pytest.approx(
        np.count_nonzero(truth & mine) / np.count_nonzero(truth | mine), abs=1e-12
    )
    assert metrics["mean_dice"] == row["dice"]
    assert row["truth_store"] == str((data / "ct2.zarr").resolve())
    with (out / "metrics.csv").open() as handle:
        assert float(next(csv.DictReader(handle))["dice"]) == pytest.approx(row["dice"])
    assert (out / "slices.png").stat().st_size > 10_000


def test_evaluate_a_run_predicts_and_scores_its_held_out_volume(cli, run, predicted, tmp_path):
    result = cli("evaluate", "nas-liver", str(run), "-o", str(tmp_path / "e"), "--device", "cpu",
                 "--json", plugins=PLUGINS)  # fmt: skip
    assert result.code == 0, result.err
    record = json.loads(result.out)
    assert record["volumes"] == 1
    (row,) = record["per_volume"]
    assert (row["volume"], row["z_start"], row["z_stop"]) == ("ct2", 0, 16)
    truth = truth_of(Path(row["truth_store"]))
    mine = Store.open(predicted).label("prediction").array(0)[...] == 1
    assert row["dice"] == pytest.approx(dice_by_hand(truth, mine), abs=1e-12)
    assert (tmp_path / "e" / "predictions" / "00-ct2.zarr").is_dir()


# --------------------------------------------------------------------------------------
# bad input


@pytest.fixture(scope="module")
def bad_stores(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("bad")
    hu = np.random.default_rng(0).integers(-1000, 1000, (6, 32, 32)).astype(np.int16)
    np.save(folder / "ct.npy", hu)
    np.save(folder / "mask.npy", (hu > 0).astype(np.uint8))
    np.save(folder / "flat.npy", hu[0])
    np.save(folder / "flatmask.npy", (hu[0] > 0).astype(np.uint8))
    for name, image, label in (("nolabel", "ct", None), ("spleen", "ct", "mask"),
                               ("flat", "flat", "flatmask")):  # fmt: skip
        extra = ["--label", str(folder / f"{label}.npy"), "--label-name", "liver"] if label else []
        assert medtk("preprocess", "ingest", str(folder / f"{image}.npy"), "-o",
                     str(folder / f"{name}.zarr"), "--modality", "CT", *extra) == 0  # fmt: skip
    return folder


@pytest.mark.parametrize(
    ("store", "extra", "message"),
    [
        ("nolabel", [], "has no label 'liver' (labels: none)"),
        ("spleen", ["--label", "spleen"], "has no label 'spleen' (labels: liver)"),
        ("flat", [], "is 2D (axes yx); nas-liver needs a CT volume with axes zyx"),
        ("missing", [], "does not exist"),
        ("spleen", ["--size", "30"], "--size 30 is not a multiple of 4"),
        ("spleen", ["--liver-fraction", "0.5"], "--liver-fraction needs --slices-per-volume"),
        ("spleen", ["--hu", "250", "-200"], "LOW must be below HIGH"),
    ],
)
def test_bad_training_input_exits_2_with_one_line(cli, bad_stores, tmp_path, store, extra, message):
    result = cli("train", "nas-liver", str(bad_stores / f"{store}.zarr"), "-o", str(tmp_path / "r"),
                 "--depth", "3", *extra, plugins=PLUGINS)  # fmt: skip
    assert result.code == 2, result.err
    assert len(result.err_lines) == 1, result.err
    assert message in result.err_lines[0]
    assert not (tmp_path / "r").exists()


def test_bad_predict_and_evaluate_input_exits_2_with_one_line(cli, bad_stores, run, predicted):
    cases = [
        (("predict", "nas-liver", str(bad_stores / "flat.zarr"), "-r", str(run)), "is 2D"),
        (("predict", "nas-liver", str(bad_stores / "spleen.zarr"), "-r", str(run),
          "--largest-component", "--output", "probabilities"), "needs labels"),
        (("evaluate", "nas-liver", str(predicted), "--truth", str(bad_stores / "nolabel.zarr"),
          "-o", str(bad_stores / "e")), "has no label 'liver'"),
        (("evaluate", "nas-liver", str(predicted), "--truth", str(bad_stores / "spleen.zarr"),
          "-o", str(bad_stores / "e")), "has shape (16, 64, 64), the truth"),
        (("evaluate", "nas-liver", str(bad_stores / "spleen.zarr")), "is not a prediction store"),
    ]  # fmt: skip
    for args, message in cases:
        result = cli(*args, plugins=PLUGINS)
        assert result.code == 2, (args, result.err)
        assert len(result.err_lines) == 1, result.err
        assert message in result.err_lines[0], result.err
    assert not (bad_stores / "e").exists()


def test_one_volume_cross_validates_by_slabs_with_two_softmax_channels(cli, data, tmp_path):
    cv = tmp_path / "cv"
    result = cli("train", "nas-liver", str(data / "ct0.zarr"), "-o", str(cv), "--folds", "2",
                 "--loss", "cross-entropy", "--slices-per-volume", "4", "--liver-fraction", "1",
                 "--size", "32", "--depth", "3", "--width", "8", "--batch-size", "4",
                 "--epochs", "1", "--device", "cpu", plugins=PLUGINS)  # fmt: skip
    assert result.code == 0, result.err
    slabs = []
    for fold in ("fold-1", "fold-2"):
        with (cv / fold / "predictions.csv").open() as handle:
            (row,) = list(csv.DictReader(handle))
        slabs.append((row["z_start"], row["z_stop"]))
    assert slabs == [("0", "8"), ("8", "16")]
    result = cli("evaluate", "nas-liver", str(cv), "--device", "cpu", "--json", plugins=PLUGINS)
    assert result.code == 0, result.err
    rows = json.loads(result.out)["per_volume"]
    assert [(r["fold"], r["z_start"], r["z_stop"]) for r in rows] == [
        ("fold-1", 0, 8), ("fold-2", 8, 16),
    ]  # fmt: skip
    probabilities = Store.open(cv / "evaluation" / "predictions" / "00-fold-1-ct0.zarr")
    assert probabilities.levels[0].shape == (16, 64, 64)  # --output labels
    assert probabilities.medtk["prediction"]["classes"] == 2
