"""The CLI reference page, generated from the app with its built-in plugins only.

``python -m medtk.cli.reference docs/cli.md`` writes the page through Typer's own docs
generator (``nox -s docs`` runs it); the test suite fails when the committed page is out
of date. Third-party plugins installed where the docs are built do not leak into it.
"""

from __future__ import annotations

import subprocess
import sys

from medtk.cli.app import build_app
from medtk.cli.state import AppState
from medtk.plugins import Plugins, load_plugins


def _builtin_plugins() -> Plugins:
    return load_plugins(distributions={"medtk"}, env={})


app = build_app(AppState(loader=_builtin_plugins))


def write_reference(output: str) -> int:
    """Write the Markdown reference of every command to ``output``; return the exit code."""
    return subprocess.call(
        [
            sys.executable,
            "-m",
            "typer",
            "medtk.cli.reference",
            "utils",
            "docs",
            "--name",
            "medtk",
            "--output",
            output,
        ],
        stdout=subprocess.DEVNULL,
    )


if __name__ == "__main__":
    raise SystemExit(write_reference(sys.argv[1] if len(sys.argv) > 1 else "docs/cli.md"))
