"""A log of finished blocks, so an interrupted long write resumes instead of restarting.

The journal is one JSON-lines file inside the output being written aside. Its first line
is a fingerprint of the work (source files, sizes, modification times, options); a later
run with a different fingerprint starts over instead of mixing two inputs. A block is
logged only after all of its chunks were written, so a block cut off mid-write is simply
written again.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from medtk.errors import Interrupted


class Journal:
    """Append-only record of finished blocks, keyed by strings such as ``"image/0/17"``."""

    def __init__(self, path: Path, fingerprint: dict[str, Any]) -> None:
        self.path = Path(path)
        self.fingerprint = json.loads(json.dumps(fingerprint, sort_keys=True))
        self._done: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self.resumed = self._load()
        if not self.resumed:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(json.dumps({"fingerprint": self.fingerprint}) + "\n")
        self._handle = self.path.open("a", encoding="utf-8")

    def _load(self) -> bool:
        """Read an earlier run's log; True when it belongs to the same work."""
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except (FileNotFoundError, UnicodeDecodeError):
            return False
        try:
            header = json.loads(lines[0]) if lines else {}
        except json.JSONDecodeError:
            return False
        if header.get("fingerprint") != self.fingerprint:
            return False
        for line in lines[1:]:
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                break  # a line cut off by a kill: that block is redone
            self._done[entry["key"]] = entry.get("info", {})
        return True

    def __contains__(self, key: str) -> bool:
        return key in self._done

    def __len__(self) -> int:
        return len(self._done)

    def info(self, key: str) -> dict[str, Any]:
        """What was logged with a finished block."""
        return self._done[key]

    def record(self, key: str, info: dict[str, Any] | None = None) -> None:
        """Log one finished block; safe to call from several threads."""
        line = json.dumps({"key": key, "info": info or {}}) + "\n"
        with self._lock:
            self._handle.write(line)
            self._handle.flush()
            self._done[key] = info or {}

    def close(self) -> None:
        """Close the log file."""
        self._handle.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def items(self) -> list[tuple[str, dict[str, Any]]]:
        """Every finished block and its info."""
        with self._lock:
            return list(self._done.items())


@contextmanager
def kept_if_interrupted(work: Path, journal: Journal) -> Iterator[None]:
    """Guard a resumable write aside: on Ctrl-C or SIGTERM keep ``work`` (the journal lets
    the same call resume it); on any other failure remove it. The journal is closed
    either way; on success the block closes it itself before moving ``work`` into place.
    """
    try:
        yield
    except (Interrupted, KeyboardInterrupt):
        journal.close()
        raise
    except BaseException:
        journal.close()
        shutil.rmtree(work, ignore_errors=True)
        raise
