"""Reading patches of a store level by coordinates, many at a time, in parallel.

A patch table holds coordinates, not pixels; this turns rows of it into arrays when a
model needs them. Reading each patch straight from zarr would decode every chunk it
touches once per patch (a 224 px patch in 1024 px chunks shares its chunks with a dozen
neighbours), so ``read_many`` takes the boxes in windows: each chunk a window needs is
decoded once, on a thread pool, and kept while the next window still uses it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np

from medtk.threads import default_workers

if TYPE_CHECKING:
    from medtk.io.store import Store

ChunkKey = tuple[int, int]
Box = tuple[int, int, int, int]
#: Decoded chunks one window may hold; two windows' chunks are alive at a time.
DEFAULT_CACHE_BYTES = 256 << 20


class PatchReader:
    """Reads rectangular ``(c, height, width)`` patches of one level of a 2D store.

    :param store: an opened store with axes ``cyx`` or ``yx``.
    :param level: the pyramid level the coordinates refer to.
    :param workers: threads decoding chunks (0: two per core, at most 8).
    :param cache_bytes: decoded chunks held at once by ``read_many``.
    """

    def __init__(
        self,
        store: Store,
        level: int,
        *,
        workers: int = 0,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
    ) -> None:
        if store.spatial_axes != ("y", "x"):
            raise ValueError(f"patches need a 2D image; {store.path} has axes {store.axes}")
        self.array = store.array(level)
        self.channels_first = "c" in store.axes
        self.workers = default_workers(workers)
        self.shape = tuple(self.array.shape[-2:])
        self.chunk = tuple(self.array.chunks[-2:])
        chunk_bytes = int(np.prod(self.array.chunks)) * self.array.dtype.itemsize
        self.max_chunks = max(1, cache_bytes // chunk_bytes)

    def read(self, x: int, y: int, width: int, height: int) -> np.ndarray:
        """One patch as ``(c, height, width)`` (``(1, h, w)`` for a grey image)."""
        self._check(x, y, width, height)
        return self._planes(np.asarray(self.array[self._key(y, y + height, x, x + width)]))

    def read_many(self, boxes: Iterable[Sequence[int]]) -> Iterator[np.ndarray]:
        """Patches for ``(x, y, width, height)`` boxes, in the order given.

        Boxes in raster order (as patch tables are) share chunks with their neighbours and
        the next row; every chunk is then decoded once however many patches it feeds. The
        next window's chunks decode on the pool while this window's patches are cut.
        """
        futures: dict[ChunkKey, Future[np.ndarray]] = {}
        previous: list[Box] = []
        with ThreadPoolExecutor(self.workers) as pool:
            try:
                for window, needed in self._windows(boxes):
                    for key in sorted(needed - futures.keys()):
                        futures[key] = pool.submit(self._load, key)
                    yield from (self._cut(box, futures) for box in previous)
                    futures = {key: f for key, f in futures.items() if key in needed}
                    previous = window
                yield from (self._cut(box, futures) for box in previous)
            finally:
                for future in futures.values():
                    future.cancel()

    def _windows(self, boxes: Iterable[Sequence[int]]) -> Iterator[tuple[list[Box], set[ChunkKey]]]:
        """Consecutive runs of boxes whose chunks together fit the cache."""
        window: list[Box] = []
        needed: set[ChunkKey] = set()
        for raw in boxes:
            box = (int(raw[0]), int(raw[1]), int(raw[2]), int(raw[3]))
            self._check(*box)
            touched = self._chunks_of(*box)
            if window and len(needed | touched) > max(self.max_chunks, len(touched)):
                yield window, needed
                window, needed = [], set()
            window.append(box)
            needed |= touched
        if window:
            yield window, needed

    def _check(self, x: int, y: int, width: int, height: int) -> None:
        if width < 1 or height < 1:
            raise ValueError(f"patch at ({x}, {y}) has no pixels ({width} × {height})")
        if x < 0 or y < 0 or y + height > self.shape[0] or x + width > self.shape[1]:
            raise ValueError(f"patch at ({x}, {y}) of {width} × {height} leaves the image")

    def _key(self, y0: int, y1: int, x0: int, x1: int) -> tuple[slice, ...]:
        window = (slice(y0, y1), slice(x0, x1))
        return (slice(None), *window) if self.channels_first else window

    def _planes(self, data: np.ndarray) -> np.ndarray:
        return data if self.channels_first else data[None]

    def _chunks_of(self, x: int, y: int, width: int, height: int) -> set[ChunkKey]:
        ch, cw = self.chunk
        rows = range(y // ch, (y + height - 1) // ch + 1)
        cols = range(x // cw, (x + width - 1) // cw + 1)
        return set(itertools.product(rows, cols))

    def _load(self, key: ChunkKey) -> np.ndarray:
        """One chunk of the level, decoded, as ``(c, y, x)``."""
        ch, cw = self.chunk
        y0, x0 = key[0] * ch, key[1] * cw
        region = self._key(y0, min(y0 + ch, self.shape[0]), x0, min(x0 + cw, self.shape[1]))
        return self._planes(np.asarray(self.array[region]))

    def _cut(self, box: Box, chunks: dict[ChunkKey, Future[np.ndarray]]) -> np.ndarray:
        """Assemble one patch from the decoded chunks it overlaps."""
        x, y, width, height = box
        ch, cw = self.chunk
        patch: np.ndarray | None = None
        for row, col in sorted(self._chunks_of(*box)):
            data = chunks[(row, col)].result()
            if patch is None:
                patch = np.empty((data.shape[0], height, width), dtype=data.dtype)
            y0, x0 = row * ch, col * cw
            top, left = max(y, y0), max(x, x0)
            bottom = min(y + height, y0 + data.shape[1])
            right = min(x + width, x0 + data.shape[2])
            patch[:, top - y : bottom - y, left - x : right - x] = data[
                :, top - y0 : bottom - y0, left - x0 : right - x0
            ]
        assert patch is not None  # a checked box touches at least one chunk
        return patch
