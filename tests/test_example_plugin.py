"""A real third-party plugin, pip-installed, driven through the real `medtk` command."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from conftest import run_medtk


def run_example(site, *args: str):
    """`medtk` seeing the installed plugins, with the broken one disabled (its warning would
    otherwise precede every error line)."""
    return run_medtk(*args, site=site, MEDTK_DISABLE_PLUGINS="broken")


def one_error_line(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.stdout == ""
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_installed_plugin_is_listed_and_the_broken_one_reported(plugin_site):
    result = run_medtk("plugins", "--json", site=plugin_site)
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    example = rows["example"]
    assert (example["status"], example["version"], example["distribution"]) == (
        "ok",
        "0.1.0",
        "medtk-example-plugin",
    )
    assert example["tasks"] == ["example"]
    assert example["models"] == ["example-logreg"]
    assert example["losses"] == ["example-smooth-bce"]
    broken = rows["broken"]
    assert broken["status"] == "failed"
    assert "No module named 'medtk_dependency_that_is_not_installed'" in broken["error"]
    assert (
        "medtk: warning: plugin 'broken' cannot be loaded: ModuleNotFoundError: No module "
        "named 'medtk_dependency_that_is_not_installed'"
    ) in result.stderr


def test_without_the_install_the_plugin_is_gone(plugin_site):
    result = run_medtk("plugins", "--json")
    assert result.returncode == 0
    assert "example" not in {row["name"] for row in json.loads(result.stdout)}
    assert run_medtk("train", "example", "--help").returncode == 2


def test_a_plugin_can_be_disabled_by_name(plugin_site):
    result = run_medtk(
        "plugins", "--json", site=plugin_site, MEDTK_DISABLE_PLUGINS="example,broken"
    )
    rows = {row["name"]: row["status"] for row in json.loads(result.stdout)}
    assert rows == {
        "core": "ok",
        "nas": "ok",
        "em": "ok",
        "example": "disabled",
        "broken": "disabled",
    }
    assert result.stderr == ""


def test_models_and_losses_listings_show_the_plugin(plugin_site):
    models = json.loads(run_medtk("models", "example-*", "--json", site=plugin_site).stdout)
    assert models == [
        {
            "name": "example-logreg",
            "plugin": "example",
            "target": "medtk_example.models:LogisticRegression",
            "description": "Logistic regression: one linear layer giving a logit",
        }
    ]
    losses = run_medtk("losses", site=plugin_site)
    assert "example-smooth-bce" in losses.stdout


def test_train_help_shows_the_typed_options(plugin_site):
    result = run_medtk("train", "example", "--help", site=plugin_site)
    assert result.returncode == 0
    for expected in (
        "--epochs",
        "--optimizer",
        "sgd|adam",
        "--standardize",
        "--no-standardize",
        "Passes over the training points.",
        "--config",
        "--dry-run",
        "-o",
    ):
        assert expected in result.stdout, expected


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--epochs", "abc"], "Invalid value for '--epochs'"),
        (["--optimizer", "rmsprop"], "'rmsprop' is not one of 'sgd', 'adam'"),
        (["--smoothing", "0.9"], "invalid value 0.9 for --smoothing"),
        (
            ["--config", "/nonexistent/run.yaml"],
            "config file '/nonexistent/run.yaml' does not exist",
        ),
        (["--loss", "dise"], "unknown loss 'dise'; did you mean: dice"),
    ],
)
def test_bad_values_exit_2_with_one_line(plugin_site, tmp_path, args, message):
    out = tmp_path / "run"
    result = run_example(plugin_site, "train", "example", "-o", str(out), *args)
    assert result.returncode == 2
    line = one_error_line(result)
    assert line.startswith("medtk: error: ")
    assert message in line
    assert list(tmp_path.iterdir()) == []


def test_unknown_task_exits_2_with_one_line(plugin_site):
    result = run_example(plugin_site, "train", "exmple")
    assert result.returncode == 2
    assert one_error_line(result) == (
        "medtk: error: no task 'exmple' can train; did you mean: example? (see 'medtk train "
        "--help')"
    )


@pytest.mark.slow
def test_training_learns_and_the_run_predicts(plugin_site, tmp_path):
    run = tmp_path / "runs" / "example"
    result = run_example(
        plugin_site, "train", "example", "-o", str(run), "--epochs", "60", "--json"
    )
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["path"] == str(run)
    assert record["val_auc"] > 0.95
    assert record["val_accuracy"] > 0.9
    assert sorted(p.name for p in run.iterdir()) == [
        "config.yaml",
        "metrics.csv",
        "model.safetensors",
        "summary.json",
    ]
    with (run / "metrics.csv").open() as handle:
        losses = [float(row["loss"]) for row in csv.DictReader(handle)]
    assert len(losses) == 60
    assert losses[-1] < 0.5 * losses[0]
    assert json.loads((run / "summary.json").read_text())["val_auc"] == record["val_auc"]

    # the saved config repeats the run
    again = run_example(
        plugin_site, "train", "example", "--config", str(run / "config.yaml"), "--dry-run", "--json"
    )
    assert json.loads(again.stdout)["epochs"] == 60


@pytest.mark.slow
def test_predict_scores_points_and_rejects_bad_input(plugin_site, tmp_path, monkeypatch):
    run = tmp_path / "run"
    trained = run_example(
        plugin_site,
        "train",
        "example",
        "-o",
        str(run),
        "--epochs",
        "60",
        "--separation",
        "6",
        "--seed",
        "3",
    )
    assert trained.returncode == 0, trained.stderr
    # score the centres of the two generated classes: the model must tell them apart
    monkeypatch.syspath_prepend(str(plugin_site))
    from medtk_example.task import make_blobs

    x, y = make_blobs(256, 2, 6.0, 3)
    centres = [x[y == label].mean(axis=0) for label in (0, 1)]
    points = tmp_path / "points.csv"
    points.write_text("\n".join(",".join(f"{v:.5f}" for v in c) for c in centres) + "\n")
    out = tmp_path / "pred.csv"
    result = run_example(plugin_site, "predict", "example", str(run), str(points), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(out)
    low, high = (float(v) for v in out.read_text().split())
    assert low < 0.05
    assert high > 0.95

    wide = tmp_path / "wide.csv"
    wide.write_text("1,2,3\n")
    bad = run_example(
        plugin_site, "predict", "example", str(run), str(wide), "-o", str(tmp_path / "p2.csv")
    )
    assert bad.returncode == 2
    assert "has 3 columns; the run was trained on 2 features" in one_error_line(bad)
    assert not (tmp_path / "p2.csv").exists()

    empty = tmp_path / "empty.csv"
    empty.write_text("")
    nothing = run_example(
        plugin_site, "predict", "example", str(run), str(empty), "-o", str(tmp_path / "p3.csv")
    )
    assert nothing.returncode == 2
    assert f"cannot read points from '{empty}'" in one_error_line(nothing)


def test_pip_install_and_uninstall_add_and_remove_the_plugin(tmp_path):
    """A real install into a real environment, then a real uninstall."""
    import site
    import subprocess
    import venv

    from conftest import FIXTURES, pip

    env_dir = tmp_path / "env"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    # The new environment sees this one's packages (medtk, pip, hatchling) through a .pth.
    own_site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    parents = [p for p in site.getsitepackages() if p != own_site]
    (Path(own_site) / "parent-env.pth").write_text("\n".join(parents) + "\n")

    def plugins() -> set[str]:
        listed = subprocess.run(
            [str(python), "-m", "medtk", "plugins", "--json"],
            capture_output=True,
            text=True,
            check=True,
        )
        return {row["name"] for row in json.loads(listed.stdout)}

    assert "example" not in plugins()
    pip("install", str(FIXTURES / "medtk-example-plugin"), python=python)
    assert "example" in plugins()
    pip("uninstall", "--yes", "medtk-example-plugin", python=python)
    assert "example" not in plugins()
