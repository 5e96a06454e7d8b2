"""``medtk <verb> <task>``: one command per (verb, task), built from the task's config model."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from medtk.cli.output import Output
from medtk.cli.task_options import (
    CliField,
    cli_fields,
    config_only_fields,
    nest,
    typer_parameter,
)
from medtk.config import dump_config, read_config_file, resolve_config
from medtk.errors import Interrupted
from medtk.tasks import TaskContext

if TYPE_CHECKING:
    from medtk.cli.state import AppState
    from medtk.tasks import Task

RUN_PANEL = "Run options"
#: Parameter sources that mean "the user said so" (not a default).
_GIVEN = {"COMMANDLINE"}


def _run_option(
    name: str,
    *flags: str,
    help_text: str,
    annotation: Any = bool,
    default: Any = False,
    **extra: Any,
) -> inspect.Parameter:
    option = typer.Option(*flags, help=help_text, rich_help_panel=RUN_PANEL, **extra)
    return inspect.Parameter(
        name,
        inspect.Parameter.KEYWORD_ONLY,
        default=default,
        annotation=Annotated[annotation, option],
    )


def _common_parameters() -> list[inspect.Parameter]:
    """The options every task command has besides its own."""
    return [
        inspect.Parameter("medtk_ctx", inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context),
        _run_option(
            "medtk_config",
            "--config",
            "-c",
            annotation=Path | None,
            default=None,
            dir_okay=False,
            help_text="YAML or JSON file of option values; command-line options override it.",
        ),
        _run_option(
            "medtk_dry_run",
            "--dry-run",
            help_text="Print the resolved config and exit without running.",
        ),
        _run_option(
            "medtk_json",
            "--json",
            help_text="Print a JSON record on stdout instead of the output path.",
        ),
        _run_option(
            "medtk_debug", "--debug", help_text="Show full tracebacks instead of one-line errors."
        ),
    ]


def build_task_command(state: AppState, verb: str, name: str, task_cls: type[Task]) -> Any:
    """The Click command for ``medtk <verb> <name>``, options generated from the config model."""
    model = task_cls.options[verb]
    fields = cli_fields(model)
    by_param = {f.param_name: f for f in fields}

    def command(**kwargs: Any) -> None:
        ctx = kwargs.pop("medtk_ctx")
        output = Output(json_mode=kwargs.pop("medtk_json"))
        config_file: Path | None = kwargs.pop("medtk_config")
        dry_run: bool = kwargs.pop("medtk_dry_run")
        state.debug = kwargs.pop("medtk_debug") or state.debug
        given = {
            by_param[p].path: value
            for p, value in kwargs.items()
            if ctx.get_parameter_source(p).name in _GIVEN
        }
        config = resolve_config(
            model,
            file_values=read_config_file(config_file) if config_file else None,
            cli_values=nest(given),
            source=str(config_file) if config_file else None,
            cli_names={f.path: _display_name(f) for f in fields},
        )
        if dry_run:
            output.line(dump_config(config, as_json=output.json_mode).rstrip("\n"))
            return
        context = TaskContext(
            registries=state.plugins.registries,
            console=state.console,
            verb=verb,
            task=name,
            json=output.json_mode,
        )
        try:
            result = getattr(task_cls(), verb)(config, context)
        except KeyboardInterrupt:
            raise Interrupted("interrupted; outputs in progress were removed") from None
        if result is None:
            return
        if output.json_mode:
            output.json(result.as_record())
        else:
            for line in result.lines():
                output.line(line)

    # Arguments first, so `medtk preprocess ingest SRC -o OUT` reads naturally.
    ordered = [f for f in fields if f.argument] + [f for f in fields if not f.argument]
    parameters = _common_parameters() + [typer_parameter(f) for f in ordered]
    command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    command.__doc__ = escape(task_cls.help_for(verb))  # plugin text, shown as written
    file_only = config_only_fields(model)
    epilog = f"Set in --config only: {', '.join(file_only)}." if file_only else None

    app = typer.Typer(add_completion=False, rich_markup_mode="rich")
    app.command(name=name, short_help=escape(task_cls.short_help()), epilog=epilog)(command)
    return typer.main.get_command(app)


def _display_name(field: CliField) -> str:
    return field.path[-1].upper() if field.argument else field.option_name
