"""Options generated from a task's typed config, and their precedence with --config."""

from __future__ import annotations

import json
from typing import Annotated

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import Field

from medtk.cli.task_options import cli_fields, config_only_fields
from medtk.config import TaskConfig, option
from medtk.errors import PluginError
from toys import ToyTrain, one_entry_plugin

DEFAULTS = ToyTrain().model_dump(mode="json")


def resolved(cli, *args):
    result = cli("train", "toy", "--dry-run", "--json", *args)
    assert result.code == 0, result.err
    return json.loads(result.out)


def test_dry_run_prints_the_defaults_and_writes_nothing(cli, tmp_path):
    assert resolved(cli, "-o", str(tmp_path / "r")) == {**DEFAULTS, "out": str(tmp_path / "r")}
    assert list(tmp_path.iterdir()) == []


def test_dry_run_without_json_prints_yaml_that_config_reads_back(cli, tmp_path):
    result = cli("train", "toy", "--dry-run", "--epochs", "9")
    assert yaml.safe_load(result.out)["epochs"] == 9
    saved = tmp_path / "c.yaml"
    saved.write_text(result.out)
    assert resolved(cli, "--config", str(saved))["epochs"] == 9


def test_help_shows_choices_flags_defaults_and_descriptions(cli):
    text = cli("train", "toy", "--help").out
    for expected in (
        "--fusion",
        "ct|he|mid|late",
        "--loss",
        "single|multi",
        "--pretrained",
        "--no-pretrained",
        "--optim.lr",
        "--optim.weight-decay",
        "How to fuse modalities.",
        "Hounsfield window.",
        "--config",
        "--dry-run",
        "--json",
        "Task options",
        "Run options",
    ):
        assert expected in text, expected


def test_enum_option_takes_a_choice(cli):
    assert resolved(cli, "--fusion", "late")["fusion"] == "late"


def test_bad_choice_exits_2_with_one_line(cli):
    result = cli("train", "toy", "--fusion", "early")
    assert result.code == 2
    assert result.out == ""
    assert len(result.err_lines) == 1
    assert "'early' is not one of 'ct', 'he', 'mid', 'late'" in result.err


def test_literal_option_takes_a_choice(cli):
    assert resolved(cli, "--loss", "multi")["loss"] == "multi"
    assert cli("train", "toy", "--loss", "double").code == 2


def test_bool_becomes_a_flag_pair(cli, tmp_path):
    assert resolved(cli, "--pretrained")["pretrained"] is True
    config = tmp_path / "c.yaml"
    config.write_text("pretrained: true\n")
    assert resolved(cli, "--config", str(config), "--no-pretrained")["pretrained"] is False


def test_list_option_repeats(cli):
    assert resolved(cli, "--folds", "4", "--folds", "7")["folds"] == [4, 7]


def test_tuple_option_takes_fixed_values(cli):
    assert resolved(cli, "--hu", "-100", "300")["hu"] == [-100.0, 300.0]


def test_nested_model_options_are_dotted(cli):
    assert resolved(cli, "--optim.lr", "0.5")["optim"] == {"lr": 0.5, "weight_decay": 0.01}


def test_positional_arguments_come_from_argument_fields(cli, tmp_path):
    out = tmp_path / "list.json"
    result = cli("preprocess", "toy", "a.svs", "b.svs", "-o", str(out))
    assert result.code == 0, result.err
    assert json.loads(out.read_text()) == ["a.svs", "b.svs"]


def test_missing_required_value_names_the_option(cli):
    result = cli("preprocess", "toy", "-o", "x.json")
    assert result.code == 2
    assert result.err_lines == [
        "medtk: error: missing value for SRC (give it on the command line or in --config)"
    ]


def test_type_error_from_the_command_line_is_one_line(cli):
    result = cli("train", "toy", "--epochs", "abc")
    assert (result.code, result.out) == (2, "")
    assert result.err_lines == [
        "medtk: error: Invalid value for '--epochs': Input should be a "
        "valid integer, unable to parse string as an integer (see "
        "'medtk train toy --help')"
    ]


def test_constraint_violation_is_one_line(cli):
    result = cli("train", "toy", "--epochs", "0")
    assert result.code == 2
    assert result.err_lines == [
        "medtk: error: invalid value 0 for --epochs: input should be greater than 0"
    ]


def test_precedence_defaults_then_file_then_command_line(cli, tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("epochs: 7\nfusion: ct\noptim:\n  lr: 0.3\n")
    values = resolved(cli, "--config", str(config), "--fusion", "late")
    assert values["epochs"] == 7  # from the file
    assert values["fusion"] == "late"  # the command line beats the file
    assert values["optim"] == {"lr": 0.3, "weight_decay": 0.01}  # nested keys merge
    assert values["loss"] == "single"  # default


def test_json_config_files_work_too(cli, tmp_path):
    config = tmp_path / "run.json"
    config.write_text(json.dumps({"epochs": 11, "folds": [1]}))
    values = resolved(cli, "-c", str(config))
    assert (values["epochs"], values["folds"]) == (11, [1])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("epochs: [1, 2\n", "is not valid YAML or JSON (line 2)"),
        ("- 1\n- 2\n", "must hold a mapping of option names to values, not a list"),
        ("epoch: 3\n", "unknown option 'epoch' in"),
        ("epochs: many\n", "invalid value 'many' for 'epochs' in"),
        ("optim:\n  lr: -1\n", "invalid value -1 for 'optim.lr' in"),
    ],
)
def test_bad_config_file_is_one_line_naming_the_file(cli, tmp_path, content, message):
    config = tmp_path / "bad.yaml"
    config.write_text(content)
    result = cli("train", "toy", "--config", str(config))
    assert (result.code, result.out) == (2, "")
    assert len(result.err_lines) == 1
    assert message in result.err
    assert str(config) in result.err


def test_unreadable_config_file_is_one_line(cli, tmp_path):
    missing = cli("train", "toy", "--config", str(tmp_path / "nope.yaml"))
    assert missing.err_lines == [
        f"medtk: error: config file '{tmp_path / 'nope.yaml'}' does not exist"
    ]
    binary = tmp_path / "weights.bin"
    binary.write_bytes(b"\xff\xfe\x00\x81")
    garbled = cli("train", "toy", "--config", str(binary))
    assert garbled.code == 2
    assert garbled.err_lines[0].startswith(f"medtk: error: cannot read config file '{binary}'")


def test_a_field_with_a_reserved_name_is_refused():
    class Clash(TaskConfig):
        config: str = "x"

    with pytest.raises(PluginError, match="reserved option name 'config'"):
        cli_fields(Clash)


@settings(
    max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None
)
@given(
    epochs=st.integers(1, 10_000),
    lr=st.floats(1e-6, 10, allow_nan=False),
    folds=st.lists(st.integers(0, 9), min_size=1, max_size=4),
    file_epochs=st.integers(1, 10_000),
)
def test_command_line_values_round_trip_and_beat_the_file(
    cli, tmp_path, epochs, lr, folds, file_epochs
):
    config = tmp_path / "c.yaml"
    config.write_text(f"epochs: {file_epochs}\n")
    args = ["--config", str(config), "--epochs", str(epochs), "--optim.lr", repr(lr)]
    for fold in folds:
        args += ["--folds", str(fold)]
    values = resolved(cli, *args)
    assert (values["epochs"], values["optim"]["lr"], values["folds"]) == (epochs, lr, folds)


def test_the_message_names_the_command_line_when_it_gave_the_bad_value(cli, tmp_path):
    config = tmp_path / "e0.yaml"
    config.write_text("epochs: 0\n")
    from_cli = cli("train", "toy", "--config", str(config), "--epochs", "-1")
    assert from_cli.err_lines == [
        "medtk: error: invalid value -1 for --epochs: input should be greater than 0"
    ]
    config.write_text("epochs: 5\n")
    zero_from_cli = cli("train", "toy", "--config", str(config), "--epochs", "0")
    assert "for --epochs:" in zero_from_cli.err
    assert "e0.yaml" not in zero_from_cli.err


def test_a_bad_list_item_in_a_config_file_is_shown(cli, tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("folds: [1, x]\n")
    result = cli("train", "toy", "--config", str(config))
    assert "invalid value 'x' for 'folds.1' in" in result.err


def test_unicode_is_kept_in_resolved_configs(cli):
    result = cli("train", "toy", "--dry-run", "-o", "runs/rün ✓")
    assert "out: runs/rün ✓" in result.out


class _Mapping(TaskConfig):
    label_map: dict[str, int] = option(..., "Class name to index.")
    sizes: list[Annotated[int, Field(gt=0)]] = option([1], "Sizes.")


def _task_plugin(options_model):
    from typing import ClassVar

    from medtk.tasks import Task, TaskResult

    class Probe(Task):
        options: ClassVar = {"train": options_model}

        def train(self, config, ctx):
            return TaskResult(record=config.model_dump(mode="json"))

    return one_entry_plugin("tasks", "probe", Probe)


def test_config_only_fields_are_named_in_help_and_in_errors(cli, tmp_path):
    plugins = _task_plugin(_Mapping)
    assert (
        "Set in --config only: label_map." in cli("train", "probe", "--help", plugins=plugins).out
    )
    missing = cli("train", "probe", plugins=plugins)
    assert missing.err_lines == [
        "medtk: error: missing value for 'label_map': set it in the --config file"
    ]
    config = tmp_path / "c.yaml"
    config.write_text("label_map: {fat: 1}\n")
    ok = cli("train", "probe", "-c", str(config), "--sizes", "3", "--json", plugins=plugins)
    assert json.loads(ok.out)["label_map"] == {"fat": 1}
    assert json.loads(ok.out)["sizes"] == [3]  # Annotated items keep their CLI form


@pytest.mark.parametrize(
    "model_source",
    [
        "class M(TaskConfig):\n    medtk_json: bool = False",
        "class M(TaskConfig):\n    cfg: str = option('x', 'a', short='-c')",
        "class M(TaskConfig):\n    a__b: int = 1",
        "class M(TaskConfig):\n    a: int = option(1, short='-o')\n    b: int = option(2, short='-o')",  # noqa: E501
        "class M(TaskConfig):\n    augment: bool = True\n    no_augment: bool = False",
    ],
)
def test_fields_that_would_clash_with_options_are_refused(model_source):
    namespace = {"TaskConfig": TaskConfig, "option": option}
    exec(model_source, namespace)
    with pytest.raises(PluginError, match="rename it"):
        cli_fields(namespace["M"])


def test_a_clash_names_the_option_and_its_owner():
    class Twice(TaskConfig):
        first: int = option(1, short="-o")
        second: int = option(2, short="-o")

    with pytest.raises(PluginError, match="option -o is already taken by first"):
        cli_fields(Twice)


class Node(TaskConfig):
    name: str = "root"
    child: Node | None = None


def test_a_recursive_config_is_settable_from_a_file_only():
    assert [f.path for f in cli_fields(Node)] == [("name",)]
    assert config_only_fields(Node) == ["child"]
