"""Reading patches of a store level by coordinates, many at a time, in parallel.

A patch table holds coordinates, not pixels; this turns rows of it into arrays when a
model needs them. Patches are read straight from the zarr level (only the chunks they
touch are decoded), on a thread pool, in the order asked for.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from medtk.io.store import Store


class PatchReader:
    """Reads square ``(c, size, size)`` patches of one level of a 2D store.

    :param store: an opened store with axes ``cyx`` or ``yx``.
    :param level: the pyramid level the coordinates refer to.
    :param workers: threads decoding chunks.
    """

    def __init__(self, store: Store, level: int, *, workers: int = 4) -> None:
        if store.spatial_axes != ("y", "x"):
            raise ValueError(f"patches need a 2D image; {store.path} has axes {store.axes}")
        self.array = store.array(level)
        self.channels_first = "c" in store.axes
        self.workers = max(1, workers)
        self.shape = tuple(self.array.shape[-2:])

    def read(self, x: int, y: int, width: int, height: int) -> np.ndarray:
        """One patch as ``(c, height, width)`` (``(1, h, w)`` for a grey image)."""
        if x < 0 or y < 0 or y + height > self.shape[0] or x + width > self.shape[1]:
            raise ValueError(f"patch at ({x}, {y}) of {width} × {height} leaves the image")
        window = (slice(y, y + height), slice(x, x + width))
        if self.channels_first:
            return np.asarray(self.array[(slice(None), *window)])
        return np.asarray(self.array[window])[None]

    def read_many(self, boxes: Iterable[Sequence[int]], *, batch: int = 64) -> Iterator[np.ndarray]:
        """Patches for ``(x, y, width, height)`` boxes, in order, read ``batch`` at a time."""
        pending: list[Sequence[int]] = []
        with ThreadPoolExecutor(self.workers) as pool:
            for box in boxes:
                pending.append(box)
                if len(pending) == batch:
                    yield from pool.map(lambda b: self.read(*b), pending)
                    pending = []
            yield from pool.map(lambda b: self.read(*b), pending)
