"""Checksums of source files, so a store records exactly which bytes it came from."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

_BLOCK = 8 << 20


def sha256_files(paths: Iterable[Path]) -> str:
    """SHA-256 over the bytes of ``paths`` in the given order (one file: its usual digest)."""
    digest = hashlib.sha256()
    for path in paths:
        with Path(path).open("rb") as handle:
            while block := handle.read(_BLOCK):
                digest.update(block)
    return digest.hexdigest()


def file_identity(paths: Iterable[Path]) -> list[list[object]]:
    """Cheap identity of files (path, size, modification time) for resume fingerprints."""
    identity: list[list[object]] = []
    for path in paths:
        try:
            stat = Path(path).stat()
        except FileNotFoundError:  # an in-memory source names a path it was not read from
            identity.append([str(Path(path).resolve()), None, None])
            continue
        identity.append([str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns])
    return identity
