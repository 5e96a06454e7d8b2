"""The root ``medtk`` Typer app, built per invocation by ``build_app``."""

from __future__ import annotations

from typing import Annotated

import typer

import medtk
from medtk.cli.listing import add_listing_commands
from medtk.cli.output import Output
from medtk.cli.state import AppState
from medtk.cli.verbs import help_on_stderr_without_command, verb_app
from medtk.tasks import VERBS

HELP = (
    "Deep learning on large medical and biological images: whole-slide images, CT, MRI, "
    "microscopy and EM volumes, processed chunk by chunk."
)


def _print_version(value: bool) -> None:
    if value:
        Output().line(f"medtk {medtk.__version__}")
        raise typer.Exit()


def build_app(state: AppState | None = None) -> typer.Typer:
    """A fresh app whose commands share ``state`` (tests pass one with their own plugins)."""
    state = state or AppState()
    app = typer.Typer(
        name="medtk",
        help=HELP,
        rich_markup_mode="rich",
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    @app.callback(invoke_without_command=True)
    def root(
        ctx: typer.Context,
        version: Annotated[  # noqa: ARG001 (handled by its eager callback)
            bool,
            typer.Option(
                "--version",
                callback=_print_version,
                is_eager=True,
                help="Print medtk's version and exit.",
            ),
        ] = False,
        debug: Annotated[
            bool, typer.Option("--debug", help="Show full tracebacks instead of one-line errors.")
        ] = False,
    ) -> None:
        state.debug = state.debug or debug
        help_on_stderr_without_command(ctx)

    for verb in VERBS:
        app.add_typer(verb_app(verb, state))
    add_listing_commands(app, state)
    return app
