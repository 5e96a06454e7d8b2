"""The app the CLI reference page is generated from: medtk with its built-in plugins only.

``typer medtk.cli.reference utils docs --name medtk --output docs/cli.md`` writes the page
(``nox -s docs`` does it); the test suite fails when the committed page is out of date.
Third-party plugins installed on the machine that builds the docs do not leak into it.
"""

from __future__ import annotations

from medtk.cli.app import build_app
from medtk.cli.state import AppState
from medtk.plugins import Plugins, load_plugins


def _builtin_plugins() -> Plugins:
    return load_plugins(distributions={"medtk"}, env={})


app = build_app(AppState(loader=_builtin_plugins))
