"""What every reader test needs: junk inputs, fuzz settings, and robustness checks.

A module rather than ``tests/io/conftest.py``: the root tests import ``from conftest
import …``, and a second ``conftest`` module (tests have no ``__init__`` files) would
shadow the root one once ``tests/io`` is collected. The sample data (``sample_file``)
and the seeded ``rng`` fixture live in the root ``conftest``: tests outside ``io`` use
them too.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, settings

from medtk.errors import BadInputError
from medtk.io.source import ImageSource, Reader

PNG_HEADER = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x02"


def fuzz_settings(*, max_examples: int) -> settings:
    """Hypothesis settings of the reader fuzz tests: no deadline, no example database.

    The function-scoped-fixture health check is off: each example makes its own folder
    with ``tmp_path_factory`` (or reads a module fixture), so no state leaks between them.
    """
    return settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )


def junk_inputs(folder: Path) -> dict[str, Path]:
    """Inputs no reader may claim: empty file, folder, random bytes, PNG header, missing."""
    folder.mkdir(parents=True, exist_ok=True)
    empty = folder / "empty.dcm"
    empty.write_bytes(b"")
    directory = folder / "a_folder.nii"
    directory.mkdir(exist_ok=True)
    (directory / "notes.txt").write_text("not an image\n")
    noise = folder / "x.dcm"
    noise.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    png = folder / "picture.h5"
    png.write_bytes(PNG_HEADER + b"\x00" * 600)
    return {
        "empty file": empty,
        "directory": directory,
        "random bytes": noise,
        "PNG header": png,
        "missing path": folder / "does-not-exist.nrrd",
    }


def assert_refuses_junk(reader: Reader, folder: Path) -> None:
    """``reader`` neither claims nor opens any of the ``junk_inputs`` made in ``folder``."""
    for what, path in junk_inputs(folder).items():
        assert reader.sniff(path) is False, what
        assert open_and_read_or_refuse(reader, path) is None, what


def sniff_and_open_or_refuse(reader: Reader, path: Path) -> None:
    """A fuzzed input: ``sniff`` answers a bool, and ``open_and_read_or_refuse`` holds."""
    assert reader.sniff(path) in (True, False)
    open_and_read_or_refuse(reader, path)


def open_and_read_or_refuse(reader: Reader, path: Path) -> ImageSource | None:
    """Open ``path`` and read a small corner: it works, or fails with ``BadInputError`` only.

    Any other exception type escapes and fails the calling test. Only a corner is read,
    so a corrupt header that claims a huge image cannot make the test allocate it.
    """
    try:
        source = reader.open(path)
    except BadInputError as exc:
        assert_one_line(exc)
        return None
    try:
        corner = tuple(slice(0, min(n, 3)) for n in source.shape)
        try:
            block = source.read(corner)
        except BadInputError as exc:
            assert_one_line(exc)
            return source
        assert block.shape == tuple(s.stop for s in corner)
        assert block.dtype == source.dtype
    finally:
        source.close()
    return source


def assert_one_line(exc: BaseException, *names: str) -> None:
    """A reader error is one line and names the file (or folder) it is about."""
    text = str(exc)
    assert "\n" not in text, text
    assert "Traceback" not in text, text
    assert exc.__cause__ is None or isinstance(exc.__cause__, BadInputError), exc.__cause__
    for name in names:
        assert name in text, f"{name!r} not in {text!r}"


def assert_one_line_unchained(exc: BaseException, *names: str) -> None:
    """``assert_one_line``, and no library exception shows: no cause, no context shown."""
    assert_one_line(exc, *names)
    assert exc.__cause__ is None, exc.__cause__
    assert exc.__context__ is None or exc.__suppress_context__, exc.__context__
