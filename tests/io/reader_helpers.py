"""What every reader test needs: the sample data folder, junk inputs, and robustness checks.

A module rather than ``tests/io/conftest.py``: the root tests import ``from conftest
import …``, and a second ``conftest`` module (tests have no ``__init__`` files) would
shadow the root one once ``tests/io`` is collected.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from medtk.errors import BadInputError
from medtk.io.source import ImageSource, Reader

PNG_HEADER = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x02"


def sample_data() -> Path:
    """``../shared/data`` beside the repository (or ``$MEDTK_SAMPLE_DATA``); skip if absent."""
    configured = os.environ.get("MEDTK_SAMPLE_DATA")
    folder = (
        Path(configured)
        if configured
        else Path(__file__).resolve().parents[2].parent / "shared" / "data"
    )
    if not folder.is_dir():
        pytest.skip(f"sample data not found at {folder} (set MEDTK_SAMPLE_DATA to its folder)")
    return folder


def sample_file(*parts: str) -> Path:
    """One sample file; skip with the reason when it is not there."""
    path = sample_data().joinpath(*parts)
    if not path.is_file():
        pytest.skip(f"sample file {path} not found")
    return path


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
