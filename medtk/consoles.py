"""Rich consoles for tables and trees that scripts and logs read as well as people."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


def unwrapped_console(**options: Any) -> Console:
    """A console with ``options``; when its output is not a terminal (a pipe, a log file)
    it is wide enough that no line wraps, so a script can grep a row or a value."""
    from rich.console import Console

    console = Console(**options)
    if console.is_terminal:
        return console
    return Console(**options, width=max(console.width, 1000))
