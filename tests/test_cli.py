"""The command line: verbs, exit codes, one-line errors, stdout vs stderr, fast --help."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import medtk
from conftest import run_medtk
from medtk.tasks import VERBS
from toys import ToyPlugin, one_entry_plugin


def test_help_lists_the_six_verbs_and_the_listing_commands():
    result = run_medtk("--help")
    assert result.returncode == 0
    for command in (*VERBS, "plugins", "models", "losses"):
        assert f" {command} " in result.stdout


def test_help_does_not_import_heavy_libraries():
    code = (
        "import sys\n"
        "from medtk.cli.main import main\n"
        "assert main(['--help']) == 0\n"
        "assert main(['train', '--help']) == 0\n"
        "heavy = [m for m in ('torch', 'timm', 'dask', 'zarr', 'kornia', 'sklearn') "
        "if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert "HEAVY []" in result.stdout


def test_version_goes_to_stdout():
    result = run_medtk("--version")
    assert (result.returncode, result.stdout) == (0, f"medtk {medtk.__version__}\n")


def test_python_dash_m_runs_the_same_cli():
    result = subprocess.run(
        [sys.executable, "-m", "medtk", "--version"], capture_output=True, text=True, check=False
    )
    assert result.stdout.strip() == f"medtk {medtk.__version__}"


@pytest.mark.parametrize("args", [[], ["train"], ["render"]])
def test_a_group_without_a_command_prints_help_on_stderr_and_exits_2(cli, args):
    result = cli(*args)
    assert result.code == 2
    assert result.out == ""
    assert "Usage: medtk" in result.err
    assert "medtk: error" not in result.err


def test_help_asked_for_goes_to_stdout(cli):
    result = cli("train", "--help")
    assert (result.code, result.err) == (0, "")
    assert "Usage: medtk train" in result.out


def test_an_unknown_task_hint_imports_no_task(cli):
    lazy = one_entry_plugin("tasks", "ghost", "medtk_ghost_module:Task", "lazy")
    result = cli("train", "ghst", plugins=lazy)
    assert result.err_lines == [
        "medtk: error: no task 'ghst' can train; did you mean: ghost? (see 'medtk train --help')"
    ]


def test_unknown_command_is_one_line_exit_2(cli):
    result = cli("trian")
    assert result.code == 2
    assert result.out == ""
    assert result.err_lines == [
        "medtk: error: No such command 'trian'. Did you mean 'train'? (see 'medtk --help')"
    ]


def test_unknown_task_is_one_line_exit_2(cli):
    result = cli("train", "nosuch")
    assert result.code == 2
    assert result.out == ""
    assert result.err_lines == [
        "medtk: error: no task 'nosuch' can train; installed: toy (see 'medtk train --help')"
    ]


def test_a_task_without_the_verb_says_what_it_supports(cli):
    result = cli("predict", "toy", "--help")
    assert result.code == 2
    assert result.err_lines == [
        "medtk: error: task 'toy' cannot predict; it supports: preprocess, train"
    ]


def test_verb_help_lists_only_tasks_supporting_it(cli):
    assert "toy" in cli("train", "--help").out
    assert "toy" not in cli("evaluate", "--help").out


def test_task_runs_and_prints_the_output_path_only(cli, tmp_path):
    run = tmp_path / "run"
    result = cli("train", "toy", "-o", str(run))
    assert result.code == 0
    assert result.out == f"{run}\n"
    assert "toy trained" in result.err
    assert json.loads((run / "summary.json").read_text())["epochs"] == 3


def test_json_prints_one_record(cli, tmp_path):
    result = cli("train", "toy", "-o", str(tmp_path / "run"), "--epochs", "5", "--json")
    assert result.code == 0
    assert json.loads(result.out) == {"path": str(tmp_path / "run"), "epochs": 5}


def test_an_unexpected_error_is_one_line_exit_1_and_leaves_no_output(cli, tmp_path):
    run = tmp_path / "run"
    result = cli("train", "toy", "-o", str(run), "--fail")
    assert result.code == 1
    assert result.out == ""
    assert result.err_lines == [
        "medtk: error: RuntimeError: the toy broke (run 'medtk --debug …' for the traceback)"
    ]
    assert list(tmp_path.iterdir()) == []


def test_debug_shows_the_traceback(cli, tmp_path):
    result = cli("--debug", "train", "toy", "-o", str(tmp_path / "run"), "--fail")
    assert result.code == 1
    assert "Traceback (most recent call last)" in result.err
    assert result.err_lines[-1] == "medtk: error: RuntimeError: the toy broke"


def test_medtk_debug_env_var_shows_the_traceback(tmp_path):
    result = run_medtk("train", "nosuch", MEDTK_DEBUG="1")
    assert result.returncode == 2
    assert "Traceback" in result.stderr


def test_existing_output_is_bad_input(cli, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "keep.txt").write_text("precious")
    result = cli("train", "toy", "-o", str(run))
    assert result.code == 2
    assert result.err_lines == [
        f"medtk: error: output '{run}' already exists; choose another path or pass --overwrite"
    ]
    assert (run / "keep.txt").read_text() == "precious"


def test_plugins_json_lists_plugins_with_their_registrations(cli):
    result = cli("plugins", "--json")
    assert result.code == 0
    (row,) = json.loads(result.out)
    assert row["name"] == "toy"
    assert row["status"] == "ok"
    assert row["tasks"] == ["toy"]
    assert row["models"] == ["toy-linear", "toy-net"]


def test_plugins_table_for_people(cli):
    result = cli("plugins")
    assert result.code == 0
    assert "toy-linear" in result.out
    assert "toy-l1" in result.out


@pytest.mark.parametrize(
    ("command", "pattern", "expected"),
    [
        ("models", "*", ["toy-linear", "toy-net"]),
        ("models", "*linear", ["toy-linear"]),
        ("losses", "*", ["toy-l1"]),
    ],
)
def test_models_and_losses_listing_with_a_pattern(cli, command, pattern, expected):
    result = cli(command, pattern, "--json")
    assert result.code == 0
    assert [row["name"] for row in json.loads(result.out)] == expected
    assert all(row["plugin"] == "toy" for row in json.loads(result.out))


def test_listing_with_no_match_says_so_on_stderr(cli):
    result = cli("losses", "dice*")
    assert (result.code, result.out) == (0, "")
    assert "no losses match 'dice*'" in result.err


def test_a_broken_plugin_does_not_stop_the_cli(cli):
    class Broken:
        from medtk import hookimpl

        @hookimpl
        def register_tasks(self, register):
            raise ImportError("libopenslide.so.1: cannot open shared object file")

    result = cli("plugins", "--json", plugins=[("broken", Broken()), ("toy", ToyPlugin())])
    assert result.code == 0
    assert "plugin 'broken' skipped: ImportError: libopenslide.so.1" in result.err
    rows = {row["name"]: row for row in json.loads(result.out)}
    assert rows["broken"]["status"] == "failed"
    assert rows["toy"]["status"] == "ok"


def test_a_task_target_that_cannot_import_is_reported_when_used(cli):
    lazy = one_entry_plugin("tasks", "ghost", "medtk_ghost_module:Task", "lazy")
    result = cli("train", "ghost", "--help", plugins=lazy)
    assert result.code == 1
    assert result.err_lines == [
        "medtk: error: task 'ghost' of plugin 'lazy': cannot import "
        "'medtk_ghost_module': No module named 'medtk_ghost_module' "
        "(run 'medtk --debug …' for the traceback)"
    ]
    listing = cli("train", "--help", plugins=lazy)
    assert listing.code == 0
    assert "cannot import 'medtk_ghost_module'" in listing.err


def test_a_renderer_is_found_even_when_a_task_has_its_name(cli, tmp_path):
    from typing import ClassVar

    from medtk.config import TaskConfig
    from medtk.tasks import Task, TaskResult

    class Picture(Task):
        """Draws."""

        options: ClassVar = {"render": TaskConfig}

        def render(self, config, ctx):
            return TaskResult(record={"drawn": True})

    plugin = one_entry_plugin("renderers", "toy", Picture, "p")
    result = cli("render", "toy", "--json", plugins=[("toy", ToyPlugin()), *plugin])
    assert result.code == 0, result.err
    assert json.loads(result.out) == {"path": None, "drawn": True}


def test_a_nested_config_that_ignores_typos_is_refused(cli):
    from typing import ClassVar

    from pydantic import BaseModel

    from medtk.config import TaskConfig
    from medtk.tasks import Task

    class Loose(BaseModel):
        lr: float = 0.1

    class Options(TaskConfig):
        optim: Loose = Loose()

    class Careless(Task):
        options: ClassVar = {"train": Options}

        def train(self, config, ctx):
            raise AssertionError("never reached")

    plugin = one_entry_plugin("tasks", "careless", Careless, "p")
    result = cli("train", "careless", "--help", plugins=plugin)
    assert result.code == 1
    assert "nested config Loose must derive from TaskConfig" in result.err


def test_debug_works_after_the_task_name_too(cli, tmp_path):
    result = cli("train", "toy", "-o", str(tmp_path / "run"), "--fail", "--debug")
    assert result.code == 1
    assert "Traceback (most recent call last)" in result.err


def test_brackets_in_names_and_descriptions_are_shown_as_written(cli):
    from typing import ClassVar

    from medtk.config import TaskConfig, option
    from medtk.tasks import Task

    class Options(TaskConfig):
        window: tuple[float, float] = option((-200, 250), "Hounsfield window [lower, upper].")

    class Windowing(Task):
        """Window CT in [lo, hi] and [bold]nothing else[/bold]."""

        options: ClassVar = {"preprocess": Options}

        def preprocess(self, config, ctx):
            raise KeyError("[red] missing")

    plugin = one_entry_plugin("tasks", "window", Windowing, "p")
    plugins = plugin
    help_text = cli("preprocess", "window", "--help", plugins=plugins).out
    assert "Hounsfield window [lower, upper]." in help_text
    assert "Window CT in [lo, hi] and [bold]nothing else[/bold]." in help_text
    failed = cli("preprocess", "window", plugins=plugins)
    assert failed.err_lines[0].startswith("medtk: error: KeyError: '[red] missing'")
    assert cli("losses", "[/x]", plugins=plugins).code == 0


def test_json_output_is_strict_json(cli):
    from typing import ClassVar

    import numpy as np

    from medtk.config import TaskConfig
    from medtk.tasks import Task, TaskResult

    class Scores(Task):
        options: ClassVar = {"evaluate": TaskConfig}

        def evaluate(self, config, ctx):
            return TaskResult(
                record={
                    "auc": float("nan"),
                    "f1": np.float32(0.5),
                    "counts": np.arange(3),
                    "best": np.int64(2),
                }
            )

    plugin = one_entry_plugin("tasks", "scores", Scores, "p")
    result = cli("evaluate", "scores", "--json", plugins=plugin)
    assert result.code == 0
    assert "NaN" not in result.out
    assert json.loads(result.out) == {
        "path": None,
        "auc": None,
        "f1": 0.5,
        "counts": [0, 1, 2],
        "best": 2,
    }


@pytest.mark.parametrize(
    ("sent", "code", "message"),
    [
        ("SIGINT", 130, "medtk: error: interrupted; outputs in progress were removed"),
        ("SIGTERM", 143, "medtk: error: terminated by SIGTERM; outputs in progress were removed"),
    ],
)
def test_ctrl_c_and_sigterm_remove_outputs_in_progress(cli, tmp_path, sent, code, message):
    result = cli("train", "toy", "-o", str(tmp_path / "run"), "--signal", sent)
    assert result.code == code
    assert result.out == ""
    assert result.err_lines == [message]
    assert list(tmp_path.iterdir()) == []
