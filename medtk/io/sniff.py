"""Small helpers the format readers share: safe content sniffing and one-line errors.

Detection asks every reader's ``sniff`` about every input, so sniffing must be cheap and
must never raise, whatever the path is (missing, a folder, unreadable, a FIFO, random
bytes). Readers also promise one-line errors that name the file; the helpers here turn a
library's exception text (often several lines with source paths) into one short phrase.
"""

from __future__ import annotations

import gzip
import re
import stat
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from medtk.errors import BadInputError

GZIP_MAGIC = b"\x1f\x8b"


def is_regular_file(path: Path | str) -> bool:
    """True for an existing regular file; False (never an error) for anything else.

    FIFOs and devices are refused so that sniffing never blocks on a read.
    """
    try:
        return stat.S_ISREG(Path(path).stat().st_mode)
    except (OSError, ValueError, TypeError):
        return False


def read_head(path: Path | str, size: int, offset: int = 0) -> bytes:
    """Up to ``size`` bytes from ``offset`` of a regular file; ``b""`` when it cannot be read.

    :param path: any path; folders, missing files and unreadable files give ``b""``.
    :param size: how many bytes at most.
    :param offset: where to start reading.
    """
    if not is_regular_file(path):
        return b""
    try:
        with Path(path).open("rb") as handle:
            handle.seek(offset)
            return handle.read(size)
    except (OSError, ValueError):
        return b""


def read_gzip_head(path: Path | str, size: int) -> bytes:
    """The first ``size`` decompressed bytes of a gzip file; ``b""`` when it is not one.

    Only as much of the stream is inflated as ``size`` needs, so this stays cheap for a
    large ``.nii.gz``. A corrupt or truncated stream gives what could be decompressed.
    """
    if read_head(path, 2) != GZIP_MAGIC:
        return b""
    chunks: list[bytes] = []
    try:
        with gzip.open(Path(path), "rb") as handle:
            while sum(len(c) for c in chunks) < size:
                chunk = handle.read(size - sum(len(c) for c in chunks))
                if not chunk:
                    break
                chunks.append(chunk)
    except (OSError, EOFError, ValueError, zlib.error):
        pass
    return b"".join(chunks)


def read_head_maybe_gzip(path: Path | str, size: int) -> bytes:
    """The first ``size`` bytes of a file, decompressed first when it is gzip."""
    head = read_head(path, size)
    if head.startswith(GZIP_MAGIC):
        return read_gzip_head(path, size)
    return head


def one_line(text: object, limit: int | None = 200) -> str:
    """``text`` collapsed to one line of at most ``limit`` characters, for error messages."""
    flat = re.sub(r"\s+", " ", str(text)).strip()
    return flat if limit is None or len(flat) <= limit else flat[: limit - 1] + "…"


def describe(exc: BaseException) -> str:
    """A short, one-line account of a library exception (its type when it has no text)."""
    text = one_line(exc)
    return text or type(exc).__name__


def input_error(path: Path | str, problem: str) -> BadInputError:
    """The ``BadInputError`` readers raise: ``'<path>': <problem>`` on one line.

    ``problem`` is not shortened (a list of series is long but useful); library text
    inside it should go through :func:`describe` first, which is.
    """
    return BadInputError(f"{str(path)!r}: {one_line(problem, limit=None)}")


@contextmanager
def input_errors(
    path: Path | str, problem: str, *, cleanup: Callable[[], object] | None = None
) -> Iterator[None]:
    """Turn any failure inside the block into one line: ``'<path>': <problem> (<detail>)``.

    A ``BadInputError`` already says what is wrong and passes through unchanged.
    ``cleanup`` runs on either kind of failure, to close a handle the caller will not
    return.
    """
    try:
        yield
    except BadInputError:
        if cleanup is not None:
            cleanup()
        raise
    except Exception as exc:
        if cleanup is not None:
            cleanup()
        raise input_error(path, f"{problem} ({describe(exc)})") from None


def native_dtype(dtype: np.dtype | type | str) -> np.dtype:
    """``dtype`` in the machine's byte order (big-endian files are read as native arrays)."""
    dtype = np.dtype(dtype)
    return dtype.newbyteorder("=") if dtype.byteorder not in ("=", "|") else dtype
