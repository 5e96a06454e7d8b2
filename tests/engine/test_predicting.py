"""``medtk predict TASK STORE -r RUN``: the shared plumbing every dense task predicts with."""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
import torch
import zarr

import medtk.builtin
from medtk import hookimpl
from medtk.config import TaskConfig, option
from medtk.engine.checkpoint import save_weights
from medtk.engine.inference import infer
from medtk.engine.predicting import PredictOptions, load_run_model, predict_store, read_run_config
from medtk.io.ingest import IngestOptions, write_store
from medtk.io.source import array_source
from medtk.nn.models.unet import UNet
from medtk.runs import write_config
from medtk.tasks import Task, TaskContext, TaskResult


class SegTrain(TaskConfig):
    """What a toy segmentation run saves: the network's width."""

    out: Path | None = option(None, "run folder", short="-o")
    width: int = option(4, "channels of the first level")


def build(config: SegTrain) -> torch.nn.Module:
    torch.manual_seed(0)
    return UNet(dims=2, classes=3, depth=2, width=config.width)


class SegTask(Task):
    """A dense toy task: predicts through the engine's shared plumbing."""

    options: ClassVar = {"train": SegTrain, "predict": PredictOptions}

    def train(self, config: SegTrain, ctx: TaskContext) -> TaskResult:  # pragma: no cover
        raise NotImplementedError

    def predict(self, config: PredictOptions, ctx: TaskContext) -> TaskResult:
        """Segment a store with a toy run."""
        trained = read_run_config(config.run, SegTrain)
        model = load_run_model(config.run, build, trained)
        return predict_store(config, ctx, model, default_tile=(16, 16), activation="softmax")


class SegPlugin:
    @hookimpl
    def register_tasks(self, register):
        register("seg", SegTask)


PLUGINS = [("core", medtk.builtin), ("seg", SegPlugin())]


@pytest.fixture
def run(tmp_path) -> Path:
    """A finished toy run: config.yaml and model.safetensors."""
    folder = tmp_path / "run"
    folder.mkdir()
    config = SegTrain(out=folder, width=4)
    write_config(folder, config, "medtk train seg")
    model = build(config)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))
    save_weights(model, folder / "model.safetensors")
    return folder


@pytest.fixture
def store(tmp_path) -> Path:
    image = np.random.default_rng(0).integers(0, 255, (40, 56), dtype=np.uint8)
    path = tmp_path / "image.zarr"
    source = array_source(image, path=path, axes="yx", spacing=(1.0, 1.0), unit="")
    return write_store(source, path, options=IngestOptions(workers=1)).path


def test_predict_writes_the_same_store_as_infer_beside_the_input(cli, run, store, tmp_path):
    result = cli("predict", "seg", str(store), "-r", str(run), "--device", "cpu", plugins=PLUGINS)
    assert result.code == 0, result.err
    out = Path(result.out.strip())
    assert out == store.with_name("image.seg.zarr")
    model = load_run_model(run, build, read_run_config(run, SegTrain))
    reference = infer(
        store, model, tmp_path / "ref.zarr", tile=16, activation="softmax", output="both"
    )
    got, want = zarr.open_group(str(out), mode="r"), zarr.open_group(str(reference.path), mode="r")
    np.testing.assert_array_equal(got["0"][...], want["0"][...])
    np.testing.assert_array_equal(got["labels/prediction/0"][...], want["labels/prediction/0"][...])
    assert got["0"].shape == (3, 40, 56)
    np.testing.assert_allclose(got["0"][...].sum(axis=0), 1.0, atol=1e-5)


def test_json_record_and_explicit_options(cli, run, store, tmp_path):
    out = tmp_path / "p.zarr"
    result = cli(
        "predict", "seg", str(store), "-r", str(run), "-o", str(out), "--json",
        "--tile", "16", "--tile", "24", "--overlap", "0.5", "--blend", "constant",
        "--output", "labels",
        "--device", "cpu", "--scheduler", "synchronous",
        plugins=PLUGINS,
    )  # fmt: skip
    assert result.code == 0, result.err
    record = json.loads(result.out)
    assert record["path"] == str(out)
    assert record["classes"] == 3
    assert record["shape"] == [40, 56]
    assert zarr.open_group(str(out), mode="r")["0"].dtype == np.uint8


def test_a_distributed_scheduler_gives_the_same_output(cli, run, store, tmp_path):
    distributed = pytest.importorskip("distributed")
    local = cli("predict", "seg", str(store), "-r", str(run), "-o", str(tmp_path / "a.zarr"),
                "--device", "cpu", plugins=PLUGINS)  # fmt: skip
    assert local.code == 0, local.err
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        remote = cli("predict", "seg", str(store), "-r", str(run), "-o", str(tmp_path / "b.zarr"),
                     "--device", "cpu", "--scheduler", cluster.scheduler_address,
                     plugins=PLUGINS)  # fmt: skip
    assert remote.code == 0, remote.err
    a, b = (zarr.open_group(str(tmp_path / n), mode="r")["0"][...] for n in ("a.zarr", "b.zarr"))
    np.testing.assert_array_equal(a, b)


def test_a_cross_validation_folder_names_a_fold_to_use(cli, run, store, tmp_path):
    cv = tmp_path / "cv"
    cv.mkdir()
    run.rename(cv / "fold-1")
    result = cli("predict", "seg", str(store), "-r", str(cv), plugins=PLUGINS)
    assert result.code == 2
    assert result.err_lines == [
        f"medtk: error: {str(cv)!r} is a cross-validation; predict with one fold's run, "
        f"e.g. {str(cv / 'fold-1')!r}"
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("no-weights", "has no model.safetensors"),
        ("not-a-run", "is not a run folder"),
        ("other-task", "was not trained by this task"),
        ("bad-scheduler", "scheduler 'nowhere'"),
    ],
)
def test_bad_runs_and_options_exit_2_with_one_line_and_write_nothing(
    cli, run, store, change, message
):
    args = ["predict", "seg", str(store), "-r", str(run), "--device", "cpu"]
    if change == "no-weights":
        (run / "model.safetensors").unlink()
    elif change == "not-a-run":
        (run / "config.yaml").unlink()
    elif change == "other-task":
        (run / "config.yaml").write_text("epochs: 3\n", encoding="utf-8")
    else:
        args += ["--scheduler", "nowhere"]
    result = cli(*args, plugins=PLUGINS)
    assert result.code == 2, result.err
    assert len(result.err_lines) == 1
    assert message in result.err_lines[0]
    assert not store.with_name("image.seg.zarr").exists()
