"""Per-invocation state shared by the commands: flags from the root and the loaded plugins."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from medtk.cli.output import stderr_console, warn

if TYPE_CHECKING:
    from rich.console import Console

    from medtk.plugins import Plugins


def _load_installed_plugins() -> Plugins:
    from medtk.plugins import load_plugins

    return load_plugins(warn=warn)


@dataclass
class AppState:
    """Built once per ``medtk`` invocation; plugins load on first use, not at start-up."""

    loader: Callable[[], Plugins] = _load_installed_plugins
    debug: bool = False
    console: Console = field(default_factory=stderr_console)
    _plugins: Plugins | None = None

    @property
    def plugins(self) -> Plugins:
        """The installed plugins, loaded (and their failures reported) once."""
        if self._plugins is None:
            self._plugins = self.loader()
        return self._plugins
