"""Write aside, then rename: outputs appear whole or not at all.

Every file or folder medtk produces is first written under a hidden name beside its
destination and renamed into place only when the writing code finished without error.
An interrupted or failed command therefore leaves no half-written output behind.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from medtk.errors import BadInputError


@contextmanager
def written_aside(
    path: Path, *, overwrite: bool = False, directory: bool = False
) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path`` in one rename.

    :param overwrite: allow replacing an existing ``path`` (only once the new one is complete).
    :param directory: the yielded path is an empty folder, not a file name.
    """
    path = Path(path)
    check_new_output(path, overwrite=overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{path.name}.partial-", dir=path.parent))
    work.chmod(0o777 & ~_umask())  # mkdtemp makes 0700; a finished output gets the usual mode
    try:
        target = work if directory else work / path.name
        yield target
        _replace(target, path)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def check_new_output(path: Path, *, overwrite: bool = False) -> None:
    """Refuse an existing output unless ``overwrite``: call it before long work, to fail fast."""
    if Path(path).exists() and not overwrite:
        raise BadInputError(
            f"output {str(path)!r} already exists; choose another path or pass --overwrite"
        )


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _replace(source: Path, destination: Path) -> None:
    if destination.is_dir() and not destination.is_symlink():
        old = Path(tempfile.mkdtemp(prefix=f".{destination.name}.old-", dir=destination.parent))
        os.replace(destination, old / destination.name)
        os.replace(source, destination)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(source, destination)
