"""One place that decides where output goes: data to stdout, everything else to stderr.

Commands chain in shell scripts, so stdout carries only data (paths, tables, or JSON
records with ``--json``); logs, progress bars, warnings and errors go to stderr.
"""

from __future__ import annotations

import enum
import json
import math
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from medtk.consoles import unwrapped_console


def jsonable(value: Any) -> Any:
    """``value`` in plain JSON types: numpy scalars and arrays unwrapped, NaN/inf as None."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if hasattr(value, "tolist") and callable(value.tolist):  # numpy scalars and arrays
        return jsonable(value.tolist())
    if isinstance(value, enum.Enum):
        return jsonable(value.value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)  # paths, enums, dates: their text


def stderr_console() -> Console:
    """The console for logs, warnings and progress bars."""
    return Console(stderr=True, highlight=False, soft_wrap=True, markup=False)


def warn(message: str, console: Console | None = None) -> None:
    """One ``medtk: warning:`` line on stderr."""
    (console or stderr_console()).print(f"medtk: warning: {message}", style="yellow")


class Output:
    """The data sink of one command; ``json_mode`` switches it to machine records."""

    def __init__(self, *, json_mode: bool = False) -> None:
        self.json_mode = json_mode

    def line(self, text: str) -> None:
        """One line of data (a path, a name)."""
        sys.stdout.write(f"{text}\n")
        sys.stdout.flush()

    def json(self, data: Any) -> None:
        """A strict JSON document on stdout: NaN and infinities become null."""
        self.line(json.dumps(jsonable(data), indent=2, allow_nan=False))

    def table(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """A table for people on stdout (plain when piped)."""
        table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*("" if cell is None else str(cell) for cell in row))
        # names and descriptions are shown as written
        unwrapped_console(markup=False).print(table)
