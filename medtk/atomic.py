"""Write aside, then rename: outputs appear whole or not at all.

Every file or folder medtk produces is first written under a hidden name beside its
destination and renamed into place only when the writing code finished without error.
An interrupted or failed command therefore leaves no half-written output behind, and
``--overwrite`` replaces an old output only once the new one is complete.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from medtk.errors import BadInputError


def check_new_output(path: Path, *, overwrite: bool = False, directory: bool = False) -> None:
    """Refuse an output path medtk must not write; call it before long work, to fail fast.

    An existing path is refused unless ``overwrite``; even then a folder never replaces a
    file or the other way round, and the working directory or one of its parents is never
    replaced.
    """
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        return
    if not overwrite:
        raise BadInputError(
            f"output {str(path)!r} already exists; choose another path or pass --overwrite"
        )
    if path.is_dir() and not directory:
        raise BadInputError(f"output {str(path)!r} is a folder; --overwrite replaces only a file")
    if directory and not path.is_dir():
        raise BadInputError(f"output {str(path)!r} is a file; --overwrite replaces only a folder")
    here = Path.cwd().resolve()
    if path.resolve() == here or path.resolve() in here.parents:
        raise BadInputError(
            f"output {str(path)!r} is the working folder or contains it; choose another path"
        )


@contextmanager
def written_aside(
    path: Path, *, overwrite: bool = False, directory: bool = False
) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path`` in one rename.

    :param overwrite: allow replacing an existing ``path`` (only once the new one is complete).
    :param directory: the yielded path is an empty folder, not a file name.
    """
    path = Path(path)
    check_new_output(path, overwrite=overwrite, directory=directory)
    path.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{path.name}.partial-", dir=path.parent))
    work.chmod(0o777 & ~_umask())  # mkdtemp makes 0700; a finished output gets the usual mode
    try:
        target = work if directory else work / path.name
        yield target
        replace_path(target, path)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def replace_path(source: Path, destination: Path) -> None:
    """Move ``source`` onto ``destination``; an old folder is set aside and restored on failure."""
    if not (destination.is_dir() and not destination.is_symlink()):
        os.replace(source, destination)  # atomic for files, and for a new folder
        return
    aside = Path(tempfile.mkdtemp(prefix=f".{destination.name}.old-", dir=destination.parent))
    try:
        os.replace(destination, aside / destination.name)
        try:
            os.replace(source, destination)
        except BaseException:
            os.replace(aside / destination.name, destination)
            raise
    finally:
        shutil.rmtree(aside, ignore_errors=True)
