"""Run folders, written aside and renamed into place only when complete.

A run is a folder: the resolved config, weights, metrics and a small JSON summary. It is
written aside (``atomic``), so a folder at the requested path always holds a
finished run.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

import medtk
from medtk.atomic import written_aside
from medtk.config import dump_config

CONFIG_FILE = "config.yaml"
SUMMARY_FILE = "summary.json"


@dataclass(frozen=True)
class RunFolder:
    """A run being written: ``path`` is the working folder, ``final_path`` where it will land."""

    path: Path
    final_path: Path

    def write_json(self, name: str, data: Any) -> Path:
        """Write ``data`` as indented JSON into the run."""
        target = self.path / name
        target.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        return target

    def write_summary(self, data: dict[str, Any]) -> Path:
        """``summary.json``: the run's headline numbers, with medtk's version and the time."""
        stamped = {
            "medtk_version": medtk.__version__,
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            **data,
        }
        return self.write_json(SUMMARY_FILE, stamped)


@contextmanager
def create_run(
    path: Path, *, config: BaseModel, invocation: str, overwrite: bool = False
) -> Iterator[RunFolder]:
    """Open a run folder for writing; it appears at ``path`` only if the block succeeds.

    :param invocation: what made the run (``"medtk train example"``), written atop the config.
    :param overwrite: replace an existing run at ``path`` (only once the new one is complete).
    """
    with written_aside(Path(path), overwrite=overwrite, directory=True) as work:
        header = f"# {invocation} · medtk {medtk.__version__}\n"
        (work / CONFIG_FILE).write_text(header + dump_config(config), encoding="utf-8")
        yield RunFolder(path=work, final_path=Path(path))
