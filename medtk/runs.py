"""Run folders, written aside and renamed into place only when complete.

A run is a folder: the resolved config, weights, metrics and a small JSON summary. It is
written aside (``atomic``), so a folder at the requested path always holds a
finished run.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

import medtk
from medtk.atomic import replace_path, written_aside
from medtk.config import dump_config
from medtk.errors import BadInputError, Interrupted

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
    path: Path,
    *,
    config: BaseModel,
    invocation: str,
    overwrite: bool = False,
    keep_interrupted: bool = False,
) -> Iterator[RunFolder]:
    """Open a run folder for writing; it appears at ``path`` only if the block succeeds.

    :param invocation: what made the run (``"medtk train example"``), written atop the config.
    :param overwrite: replace an existing run at ``path`` (only once the new one is complete).
    :param keep_interrupted: on Ctrl-C or SIGTERM, move the run into place anyway, so it can
        be resumed; its ``summary.json`` (if the block wrote one) says it is unfinished.
    """
    with written_aside(Path(path), overwrite=overwrite, directory=True) as work:
        write_config(work, config, invocation)
        try:
            yield RunFolder(path=work, final_path=Path(path))
        except (KeyboardInterrupt, Interrupted):
            if keep_interrupted:
                replace_path(work, Path(path))
            raise


@contextmanager
def resume_run(path: Path, *, config: BaseModel, invocation: str) -> Iterator[RunFolder]:
    """Continue a run: work on a copy beside it, which replaces it when the block ends
    (also on Ctrl-C, with the newer state); on an error the run is left as it was."""
    path = Path(path)
    if not (path / CONFIG_FILE).is_file():
        raise BadInputError(f"{str(path)!r} is not a run folder (no {CONFIG_FILE})")
    work = Path(tempfile.mkdtemp(prefix=f".{path.name}.partial-", dir=path.parent))
    try:
        shutil.copytree(path, work, dirs_exist_ok=True)
        write_config(work, config, invocation)
        try:
            yield RunFolder(path=work, final_path=path)
        except (KeyboardInterrupt, Interrupted):
            replace_path(work, path)
            raise
        replace_path(work, path)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def write_config(folder: Path, config: BaseModel, invocation: str) -> None:
    """``config.yaml``: the resolved config under a header naming the command."""
    header = f"# {invocation} · medtk {medtk.__version__}\n"
    (folder / CONFIG_FILE).write_text(header + dump_config(config), encoding="utf-8")
