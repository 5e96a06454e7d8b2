"""The training engine through `medtk train shapes`, and its parts on their own."""

from __future__ import annotations

import csv
import json
import math

import pytest
import torch

import medtk.builtin
from medtk.engine.checkpoint import STATE_DIR, TRAINING_STATE, load_state
from medtk.engine.optim import EpochSchedule, build_optimizer, freeze
from medtk.engine.options import TrainOptions
from medtk.engine.trainer import Trainer, seed_everything
from medtk.errors import BadInputError, Interrupted

CORE = [("core", medtk.builtin)]


def train(cli, *args):
    return cli("train", "shapes", "--samples", "96", *args, plugins=CORE)


def metrics(run):
    with (run / "metrics.csv").open() as handle:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(handle)]


def test_a_tiny_cnn_learns_the_shapes(cli, tmp_path):
    result = cli("train", "shapes", "-o", str(tmp_path / "run"), "--json", plugins=CORE)
    assert result.code == 0, result.err
    record = json.loads(result.out)
    assert record["best_val_auc"] > 0.95
    run = tmp_path / "run"
    assert {p.name for p in run.iterdir()} >= {
        "config.yaml", "model.safetensors", "metrics.csv", "summary.json", STATE_DIR,
    }  # fmt: skip
    rows = metrics(run)
    assert len(rows) == 12
    assert float(rows[-1]["train_loss"]) < float(rows[0]["train_loss"]) / 2


def test_a_resumed_run_equals_the_uninterrupted_one(cli, tmp_path):
    whole, split = tmp_path / "whole", tmp_path / "split"
    assert train(cli, "-o", str(whole), "--epochs", "4", "--scheduler", "cosine",
                 "--restart-epochs", "2", "--warmup", "1").code == 0  # fmt: skip
    assert train(cli, "-o", str(split), "--epochs", "2", "--scheduler", "cosine",
                 "--restart-epochs", "2", "--warmup", "1").code == 0  # fmt: skip
    result = train(cli, "--resume", str(split), "--epochs", "4", "--scheduler", "cosine",
                   "--restart-epochs", "2", "--warmup", "1")  # fmt: skip
    assert result.code == 0, result.err
    for name in ("model.safetensors", f"{STATE_DIR}/last.safetensors"):
        assert (whole / name).read_bytes() == (split / name).read_bytes(), name
    assert metrics(whole) == metrics(split)
    assert json.loads((split / "summary.json").read_text())["epochs"] == 4


def test_epochs_are_logged_to_tensorboard_when_it_is_installed(cli, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    assert train(cli, "-o", str(tmp_path / "run"), "--epochs", "2").code == 0
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    events.Reload()
    assert {"train_loss", "val_auc", "lr"} <= set(events.Tags()["scalars"])
    logged = [e.value for e in events.Scalars("val_auc")]
    table = [float(row["val_auc"]) for row in metrics(tmp_path / "run")]
    assert logged == pytest.approx(table)


def test_the_same_seed_gives_the_same_weights_and_another_seed_does_not(cli, tmp_path):
    for name, seed in (("a", "1"), ("b", "1"), ("c", "2")):
        assert train(cli, "-o", str(tmp_path / name), "--epochs", "1", "--seed", seed).code == 0
    weights = {n: (tmp_path / n / "model.safetensors").read_bytes() for n in "abc"}
    assert weights["a"] == weights["b"] != weights["c"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--device", "cuda:7"], "device 'cuda:7' asked for, but"),
        (["--monitor", "val_dice"], "--monitor 'val_dice' is not reported; this task reports"),
        (["--freeze", "encoder"], "--freeze 'encoder' matches no parameter"),
        (["--precision", "16", "--device", "cpu"], "--precision 16 needs a GPU"),
    ],
)
def test_bad_values_exit_2_with_one_line_and_no_run(cli, tmp_path, args, message):
    result = train(cli, "-o", str(tmp_path / "run"), "--epochs", "1", *args)
    assert result.code == 2
    assert len(result.err_lines) == 1
    assert message in result.err_lines[0]
    assert not (tmp_path / "run").exists()


def test_resume_needs_more_epochs_and_a_run(cli, tmp_path):
    run = tmp_path / "run"
    assert train(cli, "-o", str(run), "--epochs", "1").code == 0
    before = (run / "model.safetensors").read_bytes()
    result = train(cli, "--resume", str(run), "--epochs", "1")
    assert result.code == 2
    assert "pass --epochs above 1 to extend it" in result.err
    assert (run / "model.safetensors").read_bytes() == before
    assert train(cli, "--resume", str(tmp_path / "nothing"), "--epochs", "2").code == 2
    assert train(cli, "--epochs", "2").code == 2  # neither -o nor --resume


# --- the parts -------------------------------------------------------------------------


class Linear(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = torch.nn.Linear(4, 8)
        self.head = torch.nn.Linear(8, 1)

    def forward(self, x):
        return self.head(torch.relu(self.body(x))).squeeze(1)


def regression_data(n=64):
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(n, 4, generator=generator)
    return torch.utils.data.TensorDataset(x, x.sum(1))


def mse_loss(model, batch):
    x, y = batch
    return torch.nn.functional.mse_loss(model(x), y)


def options(**values):
    return TrainOptions(out=None, monitor="train_loss", **values)


def fit(tmp_path, model, opts, *, validate=None, data=None):
    from rich.progress import Progress

    trainer = Trainer(model, opts, batch_loss=mse_loss, validate=validate or (lambda m: {}))
    with Progress(disable=True) as progress:
        return trainer, trainer.fit(data or regression_data(), tmp_path, progress)


def test_gradient_accumulation_equals_the_bigger_batch(tmp_path):
    results = []
    for batch, accumulate in ((16, 1), (8, 2)):
        seed_everything(0)
        model = Linear()
        (tmp_path / str(batch)).mkdir()
        opts = options(epochs=1, batch_size=batch, accumulate=accumulate, optimizer="sgd", lr=0.1)
        data = regression_data(16)
        fit(tmp_path / str(batch), model, opts, data=data)
        results.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    torch.testing.assert_close(results[0], results[1], rtol=1e-5, atol=1e-6)


def test_frozen_parameters_do_not_change(tmp_path):
    seed_everything(0)
    model = Linear()
    before = model.body.weight.detach().clone()
    freeze(model, ["body"])
    fit(tmp_path, model, options(epochs=2, freeze=["body"]))
    torch.testing.assert_close(model.body.weight, before)
    with pytest.raises(BadInputError, match="every parameter is frozen"):
        freeze(model, ["head"])
        build_optimizer(model, options())


def test_early_stopping_keeps_the_best_epoch(tmp_path):
    seed_everything(0)
    scores = iter([0.5, 0.9, 0.7, 0.6, 0.8, 0.95])
    opts = TrainOptions(out=None, monitor="val_auc", patience=2, epochs=6)
    _, result = fit(tmp_path, Linear(), opts, validate=lambda m: {"val_auc": next(scores)})
    assert result.stopped_early
    assert len(result.rows) == 4  # 0.7 and 0.6 did not beat 0.9
    assert (result.best_epoch, result.best_value) == (2, 0.9)


def test_ctrl_c_keeps_the_last_finished_epoch_and_resume_finishes_it(tmp_path):
    def interrupting(epoch_to_stop):
        calls = iter(range(100))

        def validate(model):
            if next(calls) == epoch_to_stop:
                raise KeyboardInterrupt
            return {}

        return validate

    seed_everything(0)
    with pytest.raises(Interrupted, match="the state after epoch 2 is kept"):
        fit(tmp_path, Linear(), options(epochs=4), validate=interrupting(2))
    model = Linear()
    state = load_state(tmp_path, model)
    assert state["epoch"] == 2
    assert len(state["rows"]) == 2


def test_training_state_refuses_pickled_objects(tmp_path):
    seed_everything(0)
    fit(tmp_path, Linear(), options(epochs=1))

    class Payload:
        def __reduce__(self):
            return (print, ("code ran",))

    torch.save({"epoch": 1, "evil": Payload()}, tmp_path / STATE_DIR / TRAINING_STATE)
    with pytest.raises(BadInputError, match="cannot read the training state"):
        load_state(tmp_path, Linear())


def test_schedules():
    model = Linear()

    def factors(n, **values):
        opts = options(**values)
        optimizer = build_optimizer(model, opts)
        schedule = EpochSchedule(optimizer, opts)
        out = []
        for epoch in range(n):
            out.append(optimizer.param_groups[0]["lr"] / opts.lr)
            schedule.end_epoch(epoch, 1.0)
        return out

    assert factors(3, warmup=2) == pytest.approx([1 / 3, 2 / 3, 1.0])
    cosine = factors(7, scheduler="cosine", restart_epochs=2, restart_mult=2)
    assert cosine[:3] == pytest.approx([1.0, 0.5, 1.0])  # restart after 2 epochs
    assert cosine[3] == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))  # cycle of 4
    assert factors(5, scheduler="step", step_epochs=2, gamma=0.5) == pytest.approx(
        [1, 1, 0.5, 0.5, 0.25]
    )
    # plateau: no improvement after epoch 0; patience 2 → decay after each further epoch
    plateau = factors(4, scheduler="plateau", gamma=0.1, patience=2)
    assert plateau == pytest.approx([1, 1, 0.1, 0.01])


def test_cross_validation_trains_a_run_per_fold_and_resumes_the_unfinished(cli, tmp_path):
    cv = tmp_path / "cv"
    result = train(cli, "-o", str(cv), "--folds", "3", "--epochs", "2", "--json")
    assert result.code == 0, result.err
    record = json.loads(result.out)
    assert len(record["best_val_auc"]) == 3
    assert record["mean_best_val_auc"] == pytest.approx(sum(record["best_val_auc"]) / 3)
    for fold in (1, 2, 3):
        assert json.loads((cv / f"fold-{fold}" / "summary.json").read_text())["fold"] == fold
    rows = list(csv.DictReader((cv / "folds.csv").read_text().splitlines()))
    assert [float(r["best_val_auc"]) for r in rows] == record["best_val_auc"]

    # fold 3 unfinished (as after Ctrl-C): resuming keeps folds 1-2 and finishes fold 3
    (cv / "fold-3" / "summary.json").unlink()
    (cv / "summary.json").unlink()
    kept = (cv / "fold-1" / "model.safetensors").read_bytes()
    again = train(cli, "--resume", str(cv), "--folds", "3", "--epochs", "3", "--json")
    assert again.code == 0, again.err
    assert "fold 1: already trained" in again.err
    assert (cv / "fold-1" / "model.safetensors").read_bytes() == kept
    assert json.loads((cv / "fold-3" / "summary.json").read_text())["epochs"] == 3


def test_folds_are_checked_before_training(cli, tmp_path):
    result = train(cli, "-o", str(tmp_path / "cv"), "--folds", "1")
    assert result.code == 2
    assert "cross-validation needs at least 2 folds" in result.err
    assert not (tmp_path / "cv").exists()


def test_cohort_tables_give_each_row_its_fold(tmp_path):
    from medtk.engine.crossval import cohort_folds

    table = tmp_path / "cohort.csv"
    table.write_text("subject,label,fold\nP1,0,0\nP2,1,1\nP3,1,0\n")
    rows = cohort_folds(table)
    assert [r["subject"] for r in rows if int(r["fold"]) == 0] == ["P1", "P3"]
    table.write_text("subject,label\nP1,0\n")
    with pytest.raises(BadInputError, match="has no 'fold' column"):
        cohort_folds(table)
    table.write_text("subject,fold\nP1,x\n")
    with pytest.raises(BadInputError, match="line 2: fold 'x' is not a whole number"):
        cohort_folds(table)


def test_ctrl_c_through_the_cli_keeps_a_resumable_run(cli, tmp_path, monkeypatch):
    from medtk.engine import trainer as trainer_module

    original = trainer_module.Trainer._end_epoch

    def stop_after_two(self, epoch, row, run):
        stopped = original(self, epoch, row, run)
        if epoch == 1:
            raise KeyboardInterrupt
        return stopped

    monkeypatch.setattr(trainer_module.Trainer, "_end_epoch", stop_after_two)
    run = tmp_path / "run"
    result = train(cli, "-o", str(run), "--epochs", "4")
    assert result.code == 130
    assert result.err_lines[-1] == (
        "medtk: error: interrupted in epoch 3; the state after epoch 2 is kept; "
        f"continue with 'medtk train shapes --resume {run}'"
    )
    assert len(metrics(run)) == 2
    monkeypatch.setattr(trainer_module.Trainer, "_end_epoch", original)
    assert train(cli, "--resume", str(run), "--epochs", "4").code == 0
    assert len(metrics(run)) == 4
