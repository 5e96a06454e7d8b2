"""NumPy ``.npy`` arrays, memory-mapped so that even a large array is read region by region."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from medtk.errors import BadInputError
from medtk.io.source import ImageSource, Region

MAGIC = b"\x93NUMPY"


def axes_for(shape: tuple[int, ...], dtype: np.dtype) -> tuple[tuple[str, ...], bool]:
    """Axis names for a bare array, and whether a trailing RGB(A) axis must move first.

    2D is ``yx``; 3D is ``zyx`` unless it is 8-bit with 3 or 4 values last (an RGB picture,
    ``yxc``); 4D is ``czyx``.
    """
    if len(shape) == 2:
        return ("y", "x"), False
    if len(shape) == 3 and shape[-1] in (3, 4) and dtype == np.uint8:
        return ("c", "y", "x"), True
    if len(shape) == 3:
        return ("z", "y", "x"), False
    if len(shape) == 4:
        return ("c", "z", "y", "x"), False
    raise BadInputError(f"array of shape {shape}: medtk reads 2D, 3D and 4D arrays")


class NpyReader:
    """``.npy`` files (NumPy's own format), opened with ``mmap_mode="r"``."""

    def sniff(self, path: Path) -> bool:
        """True for a file starting with NumPy's magic string."""
        try:
            with Path(path).open("rb") as handle:
                return handle.read(len(MAGIC)) == MAGIC
        except OSError:
            return False

    def open(self, path: Path) -> ImageSource:
        """Memory-map the array; nothing is read until a region is asked for."""
        path = Path(path)
        try:
            array = np.load(path, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise BadInputError(f"{str(path)!r}: not a readable .npy array ({exc})") from None
        try:
            axes, channels_last = axes_for(array.shape, array.dtype)
        except BadInputError as exc:
            raise BadInputError(f"{str(path)!r}: {exc}") from None
        view = np.moveaxis(array, -1, 0)[:3] if channels_last else array

        def read(region: Region) -> np.ndarray:
            return np.array(view[region])

        spatial = [a for a in axes if a in "zyx"]
        return ImageSource(
            path=path,
            format="npy",
            axes=axes,
            shape=tuple(view.shape),
            dtype=view.dtype,
            spacing=(1.0,) * len(spatial),
            unit="",
            read=read,
        )
