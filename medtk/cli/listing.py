"""``medtk plugins``, ``medtk models``, ``medtk losses``: what the installed plugins provide."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer

from medtk.cli.output import Output
from medtk.cli.state import AppState

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON records instead of a table.")]
PatternArgument = Annotated[
    str, typer.Argument(help="Shell-style pattern on names, e.g. 'resnet*'.", show_default=True)
]


def add_listing_commands(app: typer.Typer, state: AppState) -> None:
    """Attach the listing commands to the root app."""

    @app.command("plugins", short_help="List installed plugins and what each registers.")
    def plugins(json_output: JsonOption = False) -> None:
        """List installed plugins: version, status, and what each registers."""
        rows = state.plugins.describe()
        output = Output(json_mode=json_output)
        if json_output:
            output.json(rows)
            return
        output.table(
            "medtk plugins",
            ["plugin", "version", "status", "tasks", "models", "losses", "other"],
            [
                [
                    r["name"],
                    r["version"] or "",
                    r["status"] if not r["error"] else f"{r['status']}: {r['error']}",
                    ", ".join(r["tasks"]),
                    ", ".join(r["models"]),
                    ", ".join(r["losses"]),
                    ", ".join(
                        f"{kind}: {', '.join(r[kind])}"
                        for kind in ("readers", "metrics", "renderers")
                        if r[kind]
                    ),
                ]
                for r in rows
            ],
        )

    for kind in ("models", "losses"):
        app.command(
            kind,
            help=f"List registered {kind}, optionally filtered by a pattern.",
            short_help=f"List registered {kind}.",
        )(_registry_lister(kind, state))


def _registry_lister(kind: str, state: AppState) -> Callable[..., None]:
    def list_entries(pattern: PatternArgument = "*", json_output: JsonOption = False) -> None:
        entries = state.plugins.registries.of(kind).entries(pattern)
        output = Output(json_mode=json_output)
        if json_output:
            output.json([entry.describe() for entry in entries])
            return
        if not entries:
            state.console.print(
                f"medtk: no {kind} match {pattern!r}; `medtk plugins` lists what is installed"
            )
            return
        output.table(
            f"medtk {kind}",
            ["name", "plugin", "description"],
            [[e.name, e.plugin, e.description] for e in entries],
        )

    return list_entries
