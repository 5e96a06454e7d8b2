"""Synthetic H&E whole-slide images, written as pyramidal JPEG-tiled BigTIFF.

The slide is procedural: every pixel is a pure function of ``(seed, x, y)``. The tissue
layout is a low-frequency field over the whole slide (a few elliptical pieces with a
noisy outline); nuclei and vacuoles are drawn from an RNG seeded per 256-pixel cell, and
texture comes from coordinate-hashed noise (:mod:`medtk.datasets._noise`). So any tile
can be rendered alone, in any order, on any thread, and neighbouring tiles agree at their
borders. :func:`write_slide` streams tiles into :class:`tifffile.TiffWriter` while they are
generated: memory stays at a few tiles per worker whatever the slide size.

Colours follow Beer–Lambert absorption of the two stains: optical density is the sum of
hematoxylin (nuclei, blue-purple) and eosin (stroma and cytoplasm, pink) concentrations
along their absorption vectors, over a bright, slightly uneven glass background.

Layout on disk (``flavor``):

``"generic"`` (default)
    Level 0, then each reduced level as a further page of the main IFD chain with
    ``NewSubfileType = 1`` (reduced resolution). tifffile reads one series whose
    ``levels`` are the pyramid; OpenSlide's ``detect_format`` says ``"generic-tiff"``
    and it takes ``openslide.mpp-x/y`` from the resolution tags (pixels per centimetre).
    The ImageDescription is Aperio-style ``key = value`` text (``AppMag``, ``MPP``) that
    OpenSlide shows as ``openslide.comment``; no objective power is reported.
``"aperio"``
    The Aperio SVS layout: description starting with ``Aperio Image Library``, level 0,
    a stripped thumbnail, then the reduced levels (``NewSubfileType = 0``). tifffile
    reads an ``svs`` series; OpenSlide says ``"aperio"`` and reports
    ``openslide.objective-power``, ``openslide.mpp-x/y`` and a ``thumbnail`` associated
    image.

(SubIFDs are not used: OpenSlide's generic TIFF reader ignores them.)
"""

from __future__ import annotations

import math
import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from medtk.datasets._noise import (
    field_key,
    hash_bits,
    hash_uniform,
    stripe_noise,
    value_noise_grid,
    value_noise_points,
)

__all__ = ["SyntheticSlide", "slide_tissue_mask", "write_slide"]

Flavor = Literal["generic", "aperio"]
Compression = Literal["jpeg", "zlib", "none"]

#: Absorption (optical density) vectors of the stains, unit length (Ruifrok & Johnston,
#: eosin nudged towards red so stroma reads pink rather than magenta).
_HEMATOXYLIN = np.array([0.65, 0.70, 0.29], dtype=np.float32)
_EOSIN = np.array([0.10, 0.92, 0.38], dtype=np.float32)
_HEMATOXYLIN /= np.linalg.norm(_HEMATOXYLIN)
_EOSIN /= np.linalg.norm(_EOSIN)
#: Nuclei and vacuoles are drawn per square cell of this many level-0 pixels.
_CELL = 256
#: Largest nucleus / vacuole radius in µm: how far a cell's objects may reach out of it.
_MAX_NUCLEUS_UM = 8.0
_MAX_HOLE_UM = 30.0

# independent noise fields of one slide
(
    _SALT_SHAPE1,
    _SALT_SHAPE2,
    _SALT_EDGE1,
    _SALT_EDGE2,
    _SALT_CELLULAR,
    _SALT_EOSIN1,
    _SALT_EOSIN2,
    _SALT_FIBRE,
    _SALT_FAT,
    _SALT_LIGHT,
    _SALT_CHROMATIN,
    _SALT_ADIPOCYTE,
    _SALT_PIXEL,
    _SALT_ANGLE,
    _SALT_NEST,
    _SALT_WARP1,
    _SALT_WARP2,
    _SALT_FAMILY,
    _SALT_SEGMENT,
    _SALT_HAZE,
) = range(1, 21)


@dataclass(frozen=True)
class _Piece:
    """One elliptical tissue piece, in level-0 pixels."""

    cx: float
    cy: float
    rx: float
    ry: float
    angle: float


@dataclass(frozen=True)
class SyntheticSlide:
    """A procedural H&E slide: render any region of level 0, or its low-resolution layout.

    :param width: level-0 width in pixels.
    :param height: level-0 height in pixels.
    :param mpp: µm per pixel at level 0; nuclei, cells and texture are sized in µm.
    :param seed: selects the tissue layout and every random detail.
    """

    width: int = 8192
    height: int = 6144
    mpp: float = 0.5
    seed: int = 0

    def __post_init__(self) -> None:
        if self.width < 1 or self.height < 1:
            raise ValueError(f"slide size must be positive, got {self.width} × {self.height}")
        if not self.mpp > 0:
            raise ValueError(f"mpp must be positive, got {self.mpp}")
        if self.seed < 0:
            raise ValueError(f"seed must be non-negative, got {self.seed}")

    # ---- layout -------------------------------------------------------------------------

    @property
    def _scale(self) -> float:
        """Layout length unit: the longer side, so the layout keeps its look at any size."""
        return float(max(self.width, self.height))

    def _px(self, micrometres: float) -> float:
        return micrometres / self.mpp

    @cached_property
    def _pieces(self) -> tuple[_Piece, ...]:
        """One to three tissue pieces side by side along the long axis, sized to the target."""
        rng = np.random.default_rng([self.seed, 101])
        count = int(rng.choice([1, 2, 2, 3]))
        w, h = self.width, self.height
        long_side, short_side = max(w, h), min(w, h)
        area = self._coverage * w * h / count
        pieces = []
        for i in range(count):
            # spread piece centres along the long axis, jitter across
            along = 0.5 + ((i + 0.5) / count - 0.5) * 0.8 + rng.uniform(-0.03, 0.03)
            across = rng.uniform(0.45, 0.55)
            cx, cy = (along * w, across * h) if w >= h else (across * w, along * h)
            r_along = long_side / (2 * count) * rng.uniform(0.58, 0.7)
            r_across = min(area * rng.uniform(0.85, 1.1) / (math.pi * r_along), 0.4 * short_side)
            rx, ry = (r_along, r_across) if w >= h else (r_across, r_along)
            pieces.append(_Piece(cx, cy, rx, ry, float(rng.uniform(-0.35, 0.35))))
        return tuple(pieces)

    @cached_property
    def _coverage(self) -> float:
        """The seeded fraction of the slide that tissue covers, 35–48 %."""
        return float(np.random.default_rng([self.seed, 102]).uniform(0.35, 0.48))

    @property
    def _ramp(self) -> float:
        """Field change over ~5 µm at an outline: tissue edges stay equally soft at any size."""
        return 7.0 * self._px(5.0) / self._scale

    def _field_grid(self, x0: float, y0: float, width: int, height: int, step: float = 1.0) -> Any:
        """Tissue field on a grid; tissue where it exceeds :attr:`_threshold`."""
        xs = x0 + step * np.arange(width, dtype=np.float32)
        ys = y0 + step * np.arange(height, dtype=np.float32)
        field = self._pieces_field(xs[None, :], ys[:, None])
        field += self._noise_terms(
            lambda lam, salt: value_noise_grid(
                x0, y0, width, height, lam, field_key(self.seed, salt), step
            )
        )
        return field

    def _field_points(self, x: NDArray[Any], y: NDArray[Any]) -> NDArray[np.float32]:
        """The tissue field at scattered points (equal to :meth:`_field_grid` there)."""
        field = self._pieces_field(x, y)
        field += self._noise_terms(
            lambda lam, salt: value_noise_points(x, y, lam, field_key(self.seed, salt))
        )
        return field

    def _pieces_field(self, x: NDArray[Any], y: NDArray[Any]) -> NDArray[np.float32]:
        """Max over pieces of 1 - (elliptical radius)²: 1 at a centre, 0 on its ellipse.

        Minus a penalty near the slide's border, so tissue keeps a margin of glass.
        """
        margin = 0.08 * self._scale
        edge = np.minimum(
            np.minimum(x, self.width - x) / margin, np.minimum(y, self.height - y) / margin
        )
        best: NDArray[np.float32] | None = None
        for p in self._pieces:
            c, s = math.cos(p.angle), math.sin(p.angle)
            dx, dy = x - p.cx, y - p.cy
            u = (dx * c + dy * s) / p.rx
            v = (dy * c - dx * s) / p.ry
            value = (1.0 - (u * u + v * v)).astype(np.float32)
            best = value if best is None else np.maximum(best, value)
        assert best is not None
        return best - 2.0 * np.clip(1.0 - edge, 0, None) ** 2

    def _noise_terms(self, noise: Callable[[float, int], NDArray[np.float32]]) -> Any:
        """Outline irregularity: slide-scale lobes plus a ragged edge at tissue scale."""
        scale = self._scale
        return (
            0.9 * (noise(0.2 * scale, _SALT_SHAPE1) - 0.5)
            + 0.45 * (noise(0.07 * scale, _SALT_SHAPE2) - 0.5)
            # µm-sized raggedness, scaled to move the outline by ~55 and ~22 µm at any size
            + 7.0 * self._px(55.0) / scale * (noise(self._px(160.0), _SALT_EDGE1) - 0.5)
            + 7.0 * self._px(22.0) / scale * (noise(self._px(35.0), _SALT_EDGE2) - 0.5)
        )

    @cached_property
    def _threshold(self) -> float:
        """Field level at which tissue covers :attr:`_coverage` of the slide."""
        target = self._coverage
        step = self._scale / 256
        nx = max(1, math.ceil(self.width / step))
        ny = max(1, math.ceil(self.height / step))
        field = self._field_grid(0, 0, nx, ny, step)
        return float(np.quantile(field, 1.0 - target))

    def tissue_mask(self, downsample: int = 64) -> NDArray[np.bool_]:
        """The tissue layout sampled every ``downsample`` pixels (fat and holes count as tissue).

        :param downsample: level-0 pixels per mask pixel.
        :return: boolean array of ``ceil(height / downsample) × ceil(width / downsample)``.
        """
        nx, ny = math.ceil(self.width / downsample), math.ceil(self.height / downsample)
        half = (downsample - 1) / 2
        field = self._field_grid(half, half, nx, ny, float(downsample))
        return field > self._threshold

    # ---- per-cell objects -----------------------------------------------------------------

    def _cell(self, cy: int, cx: int) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        """Nuclei and vacuoles whose centres lie in cell ``(cy, cx)``: ``(nuclei, holes)``."""
        return _cell_objects(self, cy, cx)

    def _make_cell(self, cy: int, cx: int) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        """Draw a cell's objects from an RNG seeded by the slide seed and the cell index.

        Nuclei: rows of ``(x, y, a, b, angle, darkness)``; holes: ``(x, y, a, b, angle, 1)``.
        Candidates are kept where tissue is, more of them where the tissue is cellular.
        """
        rng = np.random.default_rng([self.seed, 7, cy + 1, cx + 1])
        area_um2 = (_CELL * self.mpp) ** 2
        n = int(rng.poisson(area_um2 / 95.0))
        x = (cx + rng.random(n)) * _CELL
        y = (cy + rng.random(n)) * _CELL
        tissue = self._field_points(x, y) - self._threshold
        cellular = self._cellularity_points(x, y)
        fat = self._fat_points(x, y)
        nests = value_noise_points(x, y, self._px(40.0), field_key(self.seed, _SALT_NEST))
        nests = 1.0 - cellular * (1.0 - np.clip((nests - 0.3) / 0.35, 0, 1))
        keep_p = (
            np.clip(tissue / (1.5 * self._ramp), 0, 1)
            * (0.12 + 0.88 * cellular)
            * nests
            * (1 - fat)
        )
        keep = rng.random(n) < keep_p
        # nucleus kinds: fibroblast (stroma), lymphocyte, epithelial (cellular regions)
        u = rng.random(n)
        fibro = u > 0.15 + 0.85 * cellular
        lymph = ~fibro & (rng.random(n) < 0.25)
        a = np.where(fibro, rng.uniform(4.5, 7.0, n), rng.uniform(3.0, 4.6, n))
        b = np.where(fibro, rng.uniform(1.1, 1.8, n), a * rng.uniform(0.65, 0.98, n))
        a = np.where(lymph, rng.uniform(2.3, 3.0, n), a)
        b = np.where(lymph, a * rng.uniform(0.88, 1.0, n), b)
        angle = np.where(fibro, self._fibre_angle(x, y), rng.uniform(0, np.pi, n))
        angle = angle + rng.normal(0, 0.15, n)
        dark = np.where(lymph, rng.uniform(1.2, 1.45, n), rng.uniform(0.7, 1.05, n))
        px = 1.0 / self.mpp
        nuclei = np.stack([x, y, a * px, b * px, angle, dark], axis=1)[keep]

        # vacuoles: a few round holes inside tissue
        m = int(rng.poisson(area_um2 / 40_000.0))
        hx = (cx + rng.random(m)) * _CELL
        hy = (cy + rng.random(m)) * _CELL
        inside = self._field_points(hx, hy) - self._threshold > 4 * self._ramp
        ha = rng.uniform(7.0, _MAX_HOLE_UM, m) * px
        hb = ha * rng.uniform(0.75, 1.0, m)
        holes = np.stack([hx, hy, ha, hb, rng.uniform(0, np.pi, m), np.ones(m)], axis=1)[inside]
        return nuclei.astype(np.float32), holes.astype(np.float32)

    def _fibre_angle(self, x: NDArray[Any], y: NDArray[Any]) -> NDArray[np.float64]:
        """Direction of the dominant fibre family at points: fibroblasts lie along it."""
        key = self.seed
        amplitude = self._px(70.0)
        lam = self._px(180.0)
        eps = 1.0

        def gradient(salt: int) -> tuple[NDArray[Any], NDArray[Any]]:
            k = field_key(key, salt)
            gx = value_noise_points(x + eps, y, lam, k) - value_noise_points(x - eps, y, lam, k)
            gy = value_noise_points(x, y + eps, lam, k) - value_noise_points(x, y - eps, lam, k)
            return amplitude * gx / (2 * eps), amplitude * gy / (2 * eps)

        # family 1: level lines of y + A·warp1; family 2: of x + A·warp2 (see _fibres)
        g1x, g1y = gradient(_SALT_WARP1)
        g2x, g2y = gradient(_SALT_WARP2)
        along_x = np.arctan2(-g1x, 1.0 + g1y)
        along_y = np.arctan2(1.0 + g2x, -g2y)
        family = value_noise_points(x, y, self._px(300.0), field_key(key, _SALT_FAMILY))
        return np.where(family > 0.5, along_x, along_y)

    def _cellularity_points(self, x: NDArray[Any], y: NDArray[Any]) -> NDArray[np.float32]:
        """How cell-rich the tissue is at points, 0 (stroma) to 1 (sheets of cells)."""
        key = self.seed
        return _cellularity(
            value_noise_points(x, y, self._px(260.0), field_key(key, _SALT_CELLULAR)),
            value_noise_points(x, y, self._px(110.0), field_key(key, _SALT_CELLULAR + 50)),
        )

    def _fat_points(self, x: NDArray[Any], y: NDArray[Any]) -> NDArray[np.float32]:
        """Fat (adipose) weight at points; a fat cell is one whose centre weighs over 0.5."""
        key = self.seed
        n = 0.7 * value_noise_points(x, y, self._px(450.0), field_key(key, _SALT_FAT))
        n += 0.3 * value_noise_points(x, y, self._px(170.0), field_key(key, _SALT_FAT + 50))
        return np.clip((n - 0.73) / 0.05, 0, 1)

    # ---- rendering --------------------------------------------------------------------------

    def region(self, x: int, y: int, width: int, height: int) -> NDArray[np.uint8]:
        """Render level-0 pixels ``[y, y + height) × [x, x + width)`` as RGB uint8.

        The same pixels whatever the window: a region equals the matching part of any
        larger region, so tiles can be rendered independently.

        :param x: left edge, level-0 pixels (may lie outside the slide: the pattern goes on).
        :param y: top edge.
        :param width: columns to render.
        :param height: rows to render.
        """
        w, h = width, height
        key = self.seed
        field = self._field_grid(x, y, w, h) - self._threshold
        light = 241.0 + 5.0 * (
            value_noise_grid(x, y, w, h, self._scale * 0.3, field_key(key, _SALT_LIGHT)) - 0.5
        )
        pixel_noise = _pixel_noise(x, y, w, h, field_key(key, _SALT_PIXEL))
        if field.max() <= 0:  # glass only
            rgb = light[..., None] + pixel_noise
            return np.clip(rgb + 0.5, 0, 255).astype(np.uint8)

        def grid(lam_um: float, salt: int) -> NDArray[np.float32]:
            return value_noise_grid(x, y, w, h, self._px(lam_um), field_key(key, salt))

        alpha = np.clip(field / self._ramp, 0, 1)
        cellular = _cellularity(grid(260.0, _SALT_CELLULAR), grid(110.0, _SALT_CELLULAR + 50))
        stroma = 1.0 - cellular
        # collagen: wavy fibres, the level lines of two warped coordinates, in short segments
        segments = np.clip((grid(12.0, _SALT_SEGMENT) - 0.2) / 0.5, 0, 1)
        fibres = self._fibres(x, y, w, h) * segments
        eosin = (
            0.20
            + 0.20 * grid(45.0, _SALT_EOSIN1)
            + 0.08 * grid(5.0, _SALT_EOSIN2)
            + stroma * 0.28 * fibres
        ) * (1.0 - 0.3 * cellular)
        hema = 0.05 + 0.17 * cellular * (0.5 + grid(12.0, _SALT_HAZE))

        nuclei, holes = self._objects_near(x, y, w, h)
        hole = rim = 0.0
        if len(holes):
            hole = _stamp(holes, x, y, w, h)
            rims = holes.copy()
            rims[:, 2:4] += self._px(2.0)
            rim = _stamp(rims, x, y, w, h) - hole
        fat_cell, membrane = _adipocytes(self, x, y, w, h)
        solid = alpha * (1.0 - fat_cell) * (1.0 - hole)
        eosin = eosin * solid + alpha * (0.45 * membrane + 0.35 * rim * (1.0 - fat_cell))
        hema = hema * solid + alpha * 0.05 * membrane
        if len(nuclei):
            chromatin = 0.72 + 0.5 * grid(0.9, _SALT_CHROMATIN)
            hema += 1.25 * _stamp(nuclei, x, y, w, h, rim=True) * chromatin * solid

        od = eosin[..., None] * _EOSIN + hema[..., None] * _HEMATOXYLIN
        rgb = light[..., None] * np.exp(-od) + pixel_noise
        return np.clip(rgb + 0.5, 0, 255).astype(np.uint8)

    def _fibres(self, x: int, y: int, w: int, h: int) -> NDArray[np.float32]:
        """Fibre texture in [0, 1): stripes along two wavy families, blended regionally."""
        key = self.seed
        lam = self._px(2.2)
        amplitude = self._px(70.0) / lam
        xs = (x + np.arange(w, dtype=np.float32)) / lam
        ys = (y + np.arange(h, dtype=np.float32)) / lam
        warp1 = value_noise_grid(x, y, w, h, self._px(180.0), field_key(key, _SALT_WARP1))
        warp2 = value_noise_grid(x, y, w, h, self._px(180.0), field_key(key, _SALT_WARP2))
        along_x = stripe_noise(ys[:, None] + amplitude * warp1, field_key(key, _SALT_FIBRE))
        along_y = stripe_noise(xs[None, :] + amplitude * warp2, field_key(key, _SALT_FIBRE + 50))
        family = value_noise_grid(x, y, w, h, self._px(300.0), field_key(key, _SALT_FAMILY))
        mix = np.clip((family - 0.5) / 0.1 + 0.5, 0, 1)
        return along_x * mix + along_y * (1.0 - mix)

    def _objects_near(self, x: int, y: int, w: int, h: int) -> tuple[NDArray[Any], NDArray[Any]]:
        """Objects of every cell that can reach into the window."""
        reach = self._px(_MAX_HOLE_UM) + 2
        cx0, cx1 = int((x - reach) // _CELL), int((x + w + reach) // _CELL)
        cy0, cy1 = int((y - reach) // _CELL), int((y + h + reach) // _CELL)
        nuclei, holes = [], []
        for cy in range(max(cy0, -1), cy1 + 1):
            for cx in range(max(cx0, -1), cx1 + 1):
                n, o = self._cell(cy, cx)
                nuclei.append(n)
                holes.append(o)
        return np.concatenate(nuclei), np.concatenate(holes)


def _cellularity(coarse: NDArray[np.float32], fine: NDArray[np.float32]) -> NDArray[np.float32]:
    """Two octaves (so the lattice does not show), pushed towards 0 and 1."""
    return np.clip((0.65 * coarse + 0.35 * fine - 0.36) / 0.26, 0, 1)


@lru_cache(maxsize=2048)
def _cell_objects(
    slide: SyntheticSlide, cy: int, cx: int
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Cached per-cell objects: each cell is reached by the 9 tiles around it."""
    objects = slide._make_cell(cy, cx)
    for array in objects:
        array.setflags(write=False)
    return objects


def _pixel_noise(x: int, y: int, w: int, h: int, key: int) -> NDArray[np.float32]:
    """Per-pixel, per-channel sensor noise (std ≈ 1.2), hashed from the pixel position."""
    xs = np.arange(x, x + w, dtype=np.int64)[None, :]
    ys = np.arange(y, y + h, dtype=np.int64)[:, None]
    bits = hash_bits(xs, ys, key)
    out = np.empty((h, w, 3), dtype=np.float32)
    for c in range(3):  # 16 independent bits per channel
        out[..., c] = (bits >> np.uint64(21 * c)) & np.uint64(0xFFFF)
    out *= np.float32(4.2 / 65536)
    out -= np.float32(2.1)
    return out


def _stamp(
    objects: NDArray[np.float32], x: int, y: int, w: int, h: int, *, rim: bool = False
) -> NDArray[np.float32]:
    """Anti-aliased filled ellipses ``(cx, cy, a, b, angle, value)`` drawn into a window.

    All ellipses are evaluated at once on square patches around their centres and merged
    with a maximum; ``rim`` darkens the edge a little, as chromatin gathers at the nuclear
    membrane.
    """
    out = np.zeros((h, w), dtype=np.float32)
    reach = math.ceil(float(objects[:, 2].max())) + 2 if len(objects) else 0
    ox, oy = objects[:, 0] - x, objects[:, 1] - y
    visible = (ox > -reach) & (ox < w + reach) & (oy > -reach) & (oy < h + reach)
    objects = objects[visible]
    # a few dozen at a time: the patches of all objects at once would take megabytes
    for start in range(0, len(objects), 32):
        _stamp_some(out, objects[start : start + 32], x, y, rim=rim)
    return out


def _stamp_some(
    out: NDArray[np.float32], objects: NDArray[np.float32], x: int, y: int, *, rim: bool
) -> None:
    h, w = out.shape
    reach = math.ceil(float(objects[:, 2].max())) + 2
    ox, oy = objects[:, 0] - x, objects[:, 1] - y
    offsets = np.arange(-reach, reach + 1, dtype=np.float32)
    px = np.floor(ox)[:, None, None] + offsets[None, None, :]  # (n, 1, p)
    py = np.floor(oy)[:, None, None] + offsets[None, :, None]  # (n, p, 1)
    dx = px + 0.5 - ox[:, None, None]
    dy = py + 0.5 - oy[:, None, None]
    a, b, angle, value = (objects[:, i, None, None] for i in range(2, 6))
    c, s = np.cos(angle), np.sin(angle)
    u = (dx * c + dy * s) / a
    v = (dy * c - dx * s) / b
    r = np.sqrt(u * u + v * v)
    cover = np.clip((1.0 - r) * b + 0.5, 0.0, 1.0)  # ≈ signed distance in pixels
    values = cover * (value * (0.8 + 0.25 * np.minimum(r, 1.0) ** 2) if rim else value)
    inside = (px >= 0) & (px < w) & (py >= 0) & (py < h) & (values > 0)
    flat = (py * w + px)[inside].astype(np.intp)
    np.maximum.at(out.reshape(-1), flat, values[inside])


def _adipocytes(
    slide: SyntheticSlide, x: int, y: int, w: int, h: int
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Fat: ``(inside a fat cell, membrane)`` from a jittered Voronoi (Worley) pattern.

    Each Voronoi cell is one adipocyte, fat or not as decided by the fat field at its
    centre, so fat regions end on whole cells rather than fading out.
    """
    spacing = slide._px(60.0)
    key = field_key(slide.seed, _SALT_ADIPOCYTE)
    gx0, gy0 = math.floor(x / spacing) - 1, math.floor(y / spacing) - 1
    gx1, gy1 = math.floor((x + w) / spacing) + 1, math.floor((y + h) / spacing) + 1
    lx = np.arange(gx0, gx1 + 1)[None, :]
    ly = np.arange(gy0, gy1 + 1)[:, None]
    fx = (lx + 0.1 + 0.8 * hash_uniform(lx, ly, key)) * spacing
    fy = (ly + 0.1 + 0.8 * hash_uniform(lx, ly, key + 1)) * spacing
    is_fat = slide._fat_points(fx, fy) > 0.5
    if not is_fat.any():
        zero = np.zeros((h, w), dtype=np.float32)
        return zero, zero
    xs = x + np.arange(w, dtype=np.float32) + 0.5
    ys = y + np.arange(h, dtype=np.float32) + 0.5
    inside = np.zeros((h, w), dtype=np.float32)
    membrane = np.zeros((h, w), dtype=np.float32)
    width = slide._px(1.3)
    # one lattice cell at a time: its pixels' candidates are the 9 centres around it
    col_cells = np.floor(xs / spacing).astype(np.intp) - gx0
    row_cells = np.floor(ys / spacing).astype(np.intp) - gy0
    for a in np.unique(row_cells):
        rows = np.nonzero(row_cells == a)[0]
        r0, r1 = rows[0], rows[-1] + 1
        for b in np.unique(col_cells):
            if not is_fat[a - 1 : a + 2, b - 1 : b + 2].any():
                continue
            cols = np.nonzero(col_cells == b)[0]
            c0, c1 = cols[0], cols[-1] + 1
            shape = (r1 - r0, c1 - c0)
            first = np.full(shape, np.inf, dtype=np.float32)
            second = first.copy()
            first_x, first_y = np.zeros(shape, np.float32), np.zeros(shape, np.float32)
            second_x, second_y = first_x.copy(), first_y.copy()
            fat = np.zeros(shape, dtype=bool)
            for j in (a - 1, a, a + 1):
                dy2 = (ys[r0:r1, None] - fy[j, b - 1 : b + 2]) ** 2  # (rows, 3)
                for k, i in enumerate((b - 1, b, b + 1)):
                    d = dy2[:, k, None] + (xs[None, c0:c1] - fx[j, i]) ** 2
                    nearer = d < first
                    runner_up = ~nearer & (d < second)
                    for near, far, value in (
                        (first_x, second_x, fx[j, i]),
                        (first_y, second_y, fy[j, i]),
                    ):
                        far[nearer] = near[nearer]
                        far[runner_up] = value
                        near[nearer] = value
                    second[nearer] = first[nearer]
                    second[runner_up] = d[runner_up]
                    first[nearer] = d[nearer]
                    fat[nearer] = is_fat[j, i]
            # distance to the bisector of the two nearest centres: the cell wall
            spread = np.hypot(second_x - first_x, second_y - first_y) + 1e-3
            gap = (second - first) / (2.0 * spread)
            edge = np.exp(-((gap / width) ** 2))
            membrane[r0:r1, c0:c1] = edge * fat
            inside[r0:r1, c0:c1] = (1.0 - edge) * fat
    return inside, membrane


def _usable_cores() -> int:
    """Cores this process may run on (the affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _level_shapes(width: int, height: int, tile: int, factor: int) -> list[tuple[int, int]]:
    """``(height, width)`` per level: reduce by ``factor`` while a level still spans a tile."""
    shapes = [(height, width)]
    while True:
        h, w = shapes[-1]
        nh, nw = -(-h // factor), -(-w // factor)
        if min(nh, nw) < tile:
            return shapes
        shapes.append((nh, nw))


def _thumbnail_factor(width: int, height: int, tile: int, longest: int = 1024) -> int:
    """The smallest divisor of ``tile`` that brings the slide's longer side to ``longest``."""
    for factor in range(1, tile + 1):
        if tile % factor == 0 and max(width, height) <= longest * factor:
            return factor
    return tile


def _ordered(
    pool: ThreadPoolExecutor, tasks: Iterator[Callable[[], Any]], ahead: int
) -> Iterator[Any]:
    """Results of ``tasks`` run on ``pool``, in order, with at most ``ahead`` in flight.

    The bound is what keeps streaming memory flat: finished tiles wait only until the
    writer has taken the ones before them.
    """
    pending: deque[Future[Any]] = deque()
    for task in tasks:
        pending.append(pool.submit(task))
        if len(pending) >= ahead:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def _encoder(compression: Compression, quality: int) -> Callable[[NDArray[np.uint8]], bytes]:
    """Encode one full tile exactly as tifffile would for the tags it writes."""
    import imagecodecs

    if compression == "jpeg":
        # tifffile stores JPEG RGB as YCbCr with 2×2 chroma subsampling
        return lambda tile: imagecodecs.jpeg_encode(
            tile, level=quality, colorspace="RGB", outcolorspace="YCBCR", subsampling=(2, 2)
        )
    if compression == "zlib":
        return lambda tile: imagecodecs.zlib_encode(tile, level=6)
    return lambda tile: tile.tobytes()


def _block_mean(block: NDArray[np.uint8], factor: int) -> NDArray[np.uint8]:
    """Mean over ``factor × factor`` pixel blocks (edge-padded to whole blocks), rounded."""
    h, w = block.shape[:2]
    oh, ow = -(-h // factor), -(-w // factor)
    if (oh * factor, ow * factor) != (h, w):
        block = np.pad(block, ((0, oh * factor - h), (0, ow * factor - w), (0, 0)), mode="edge")
    sums = block.reshape(oh, factor, ow, factor, 3).sum(axis=(1, 3), dtype=np.uint32)
    return ((sums + factor * factor // 2) // (factor * factor)).astype(np.uint8)


def _pad_tile(block: NDArray[np.uint8], tile: int) -> NDArray[np.uint8]:
    h, w = block.shape[:2]
    if (h, w) == (tile, tile):
        return block
    return np.pad(block, ((0, tile - h), (0, tile - w), (0, 0)), mode="edge")


def write_slide(
    path: str | os.PathLike[str],
    *,
    width: int = 8192,
    height: int = 6144,
    tile: int = 256,
    mpp: float = 0.5,
    magnification: float = 20,
    seed: int = 0,
    compression: Compression = "jpeg",
    quality: int = 90,
    flavor: Flavor = "generic",
    downsample: Literal[2, 4] = 4,
    workers: int | None = None,
    slide: SyntheticSlide | None = None,
) -> Path:
    """Write a synthetic H&E whole-slide image as a pyramidal tiled BigTIFF.

    Tiles are rendered on ``workers`` threads and streamed into the file as they come,
    so memory stays at a few tiles per worker whatever the slide size. Each reduced
    level is made by block-averaging the level above, read back from the file just
    written, as a scanner builds its pyramid. The file appears whole or not at all
    (written aside, then renamed); an existing file is replaced.

    :param path: output file (``.tif``, or ``.svs`` with ``flavor="aperio"``).
    :param width: level-0 width in pixels.
    :param height: level-0 height in pixels.
    :param tile: tile edge in pixels, a multiple of 16 (JPEG's YCbCr 2×2 blocks).
    :param mpp: µm per pixel at level 0, written to the resolution tags and description.
    :param magnification: objective power, written to the description (``AppMag``).
    :param seed: selects layout and details; same seed, same pixels.
    :param compression: ``"jpeg"`` (YCbCr, as scanners write), ``"zlib"`` or ``"none"``.
    :param quality: JPEG quality, 1–100.
    :param flavor: ``"generic"`` (OpenSlide: generic-tiff) or ``"aperio"`` (OpenSlide:
        aperio, with a thumbnail); see the module docstring.
    :param downsample: factor between pyramid levels; levels stop before one would be
        smaller than a tile.
    :param workers: rendering threads; default: the usable cores, at most 8.
    :param slide: the slide to write, e.g. a subclass of :class:`SyntheticSlide` that
        renders other tissue; its ``width``, ``height``, ``mpp`` and ``seed`` then replace
        those arguments. Default: ``SyntheticSlide(width, height, mpp, seed)``.
    :return: ``path``.
    """
    from medtk.atomic import written_aside

    if tile < 16 or tile % 16:
        raise ValueError(f"tile must be a positive multiple of 16, got {tile}")
    if compression not in ("jpeg", "zlib", "none"):
        raise ValueError(f"compression must be 'jpeg', 'zlib' or 'none', got {compression!r}")
    if flavor not in ("generic", "aperio"):
        raise ValueError(f"flavor must be 'generic' or 'aperio', got {flavor!r}")
    if downsample not in (2, 4):
        raise ValueError(f"downsample must be 2 or 4, got {downsample}")
    if not 1 <= quality <= 100:
        raise ValueError(f"quality must be within 1..100, got {quality}")
    writer = _PyramidWriter(
        slide=slide if slide is not None else SyntheticSlide(width, height, mpp, seed),
        tile=tile,
        magnification=magnification,
        compression=compression,
        quality=quality,
        flavor=flavor,
        downsample=downsample,
        workers=workers or min(8, _usable_cores()),
    )
    path = Path(path)
    with written_aside(path, overwrite=True) as target:
        writer.write(target)
    return path


@dataclass(frozen=True)
class _PyramidWriter:
    """Streams one slide's levels into a TIFF: level 0 rendered, the others reduced."""

    slide: SyntheticSlide
    tile: int
    magnification: float
    compression: Compression
    quality: int
    flavor: Flavor
    downsample: int
    workers: int

    @property
    def _ahead(self) -> int:
        return 4 * self.workers

    @cached_property
    def _encode(self) -> Callable[[NDArray[np.uint8]], bytes]:
        return _encoder(self.compression, self.quality)

    def _description(self, level_w: int, level_h: int) -> str:
        """Aperio-style text: a header line, then ``key = value`` fields after ``|``."""
        s, t = self.slide, self.tile
        header = (
            "Aperio Image Library (medtk synthetic H&E)"
            if self.flavor == "aperio"
            else "medtk synthetic H&E whole-slide image"
        )
        codec = {
            "jpeg": f"JPEG/YCbCr Q={self.quality}",
            "zlib": "Deflate",
            "none": "Raw",
        }[self.compression]
        size = f"{s.width}x{s.height}"
        if (level_w, level_h) == (s.width, s.height):
            geometry = f"{size} [0,0 {size}] ({t}x{t}) {codec}"
        elif self.flavor == "aperio" and level_w < t:  # the thumbnail
            geometry = f"{size} -> {level_w}x{level_h} - "
        else:
            geometry = f"{size} [0,0 {size}] ({t}x{t}) -> {level_w}x{level_h} {codec}"
        return (
            f"{header}\r\n{geometry}|AppMag = {self.magnification:g}|MPP = {s.mpp:g}"
            f"|Seed = {s.seed}|Generator = medtk.datasets.write_slide"
        )

    def _tags(self, level_w: int, level_h: int) -> dict[str, Any]:
        """Keyword arguments of ``TiffWriter.write`` shared by every pyramid level."""
        scale = self.slide.width / level_w
        per_cm = 1e4 / (self.slide.mpp * scale)
        return {
            "shape": (level_h, level_w, 3),
            "dtype": np.uint8,
            "photometric": "rgb",
            "tile": (self.tile, self.tile),
            "compression": None if self.compression == "none" else self.compression,
            "compressionargs": {"level": self.quality} if self.compression == "jpeg" else None,
            "resolution": (per_cm, per_cm),
            "resolutionunit": "CENTIMETER",
            "description": self._description(level_w, level_h),
            "metadata": None,
            "software": "medtk",
        }

    def write(self, target: Path) -> None:
        """Write every level (and the Aperio thumbnail) to ``target``."""
        import tifffile

        slide = self.slide
        shapes = _level_shapes(slide.width, slide.height, self.tile, self.downsample)
        aperio = self.flavor == "aperio"
        with (
            ThreadPoolExecutor(self.workers) as pool,
            tifffile.TiffWriter(target, bigtiff=True) as tif,
        ):
            thumbnail = _Thumbnail(slide, self.tile) if aperio else None
            tif.write(
                self._level0_tiles(pool, thumbnail),
                subfiletype=0,
                **self._tags(slide.width, slide.height),
            )
            source_page = 0
            if thumbnail is not None:
                image = thumbnail.image()
                tif.write(
                    image,
                    photometric="rgb",
                    compression="jpeg",
                    compressionargs={"level": 90},
                    description=self._description(image.shape[1], image.shape[0]),
                    metadata=None,
                    software="medtk",
                )
                del thumbnail, image
            for level in range(1, len(shapes)):
                tif.filehandle.flush()
                level_h, level_w = shapes[level]
                tiles = self._reduced_tiles(
                    pool, target, source_page, shapes[level - 1], shapes[level]
                )
                tif.write(tiles, subfiletype=0 if aperio else 1, **self._tags(level_w, level_h))
                # generic: page i is level i; aperio: level 0, thumbnail, then levels 1..
                source_page = level + 1 if aperio else level

    def _level0_tiles(
        self, pool: ThreadPoolExecutor, thumbnail: _Thumbnail | None
    ) -> Iterator[bytes]:
        """Rendered, encoded level-0 tiles in file order; the thumbnail collects as they pass."""
        tile, slide = self.tile, self.slide
        rows, cols = -(-slide.height // tile), -(-slide.width // tile)

        def task(ty: int, tx: int) -> Callable[[], tuple[int, int, bytes, Any]]:
            def run() -> tuple[int, int, bytes, Any]:
                pixels = slide.region(tx * tile, ty * tile, tile, tile)
                small = None if thumbnail is None else thumbnail.reduce(pixels)
                return ty, tx, self._encode(pixels), small

            return run

        tasks = (task(ty, tx) for ty in range(rows) for tx in range(cols))
        for ty, tx, data, small in _ordered(pool, tasks, self._ahead):
            if thumbnail is not None:
                thumbnail.put(ty, tx, small)
            yield data

    def _reduced_tiles(
        self,
        pool: ThreadPoolExecutor,
        source: Path,
        page_index: int,
        source_shape: tuple[int, int],
        shape: tuple[int, int],
    ) -> Iterator[bytes]:
        """Encoded tiles of the next level: block means of the level at ``page_index``.

        That level is read back from the file being written (its tiles and IFD are
        complete once the writer moved on), a few tiles at a time.
        """
        import tifffile

        tile, factor = self.tile, self.downsample
        with tifffile.TiffFile(source) as tif, open(source, "rb") as raw:
            page = tif.pages[page_index]
            assert isinstance(page, tifffile.TiffPage)
            offsets, counts, decode = page.dataoffsets, page.databytecounts, page.decode
            src_h, src_w = source_shape
            src_cols = -(-src_w // tile)
            h, w = shape
            span = tile * factor

            def read(index: int) -> NDArray[np.uint8]:
                data = os.pread(raw.fileno(), counts[index], offsets[index])
                pixels = decode(data, index)[0]
                assert pixels is not None
                return pixels.reshape(tile, tile, 3)

            def task(ty: int, tx: int) -> Callable[[], bytes]:
                def run() -> bytes:
                    y0, x0 = ty * span, tx * span
                    bh, bw = min(span, src_h - y0), min(span, src_w - x0)
                    block = np.empty((bh, bw, 3), dtype=np.uint8)
                    for sy in range(y0 // tile, -(-(y0 + bh) // tile)):
                        for sx in range(x0 // tile, -(-(x0 + bw) // tile)):
                            ry, rx = sy * tile - y0, sx * tile - x0
                            hh, ww = min(tile, bh - ry), min(tile, bw - rx)
                            block[ry : ry + hh, rx : rx + ww] = read(sy * src_cols + sx)[:hh, :ww]
                    out_h, out_w = min(tile, h - ty * tile), min(tile, w - tx * tile)
                    reduced = _block_mean(block, factor)[:out_h, :out_w]
                    return self._encode(np.ascontiguousarray(_pad_tile(reduced, tile)))

                return run

            rows, cols = -(-h // tile), -(-w // tile)
            tasks = (task(ty, tx) for ty in range(rows) for tx in range(cols))
            yield from _ordered(pool, tasks, self._ahead)


class _Thumbnail:
    """An Aperio thumbnail (longer side ≤ 1024) built from level-0 tiles as they stream by."""

    def __init__(self, slide: SyntheticSlide, tile: int) -> None:
        self.factor = _thumbnail_factor(slide.width, slide.height, tile)
        self.step = tile // self.factor
        self.height = -(-slide.height // self.factor)
        self.width = -(-slide.width // self.factor)
        rows, cols = -(-slide.height // tile), -(-slide.width // tile)
        self._pixels = np.zeros((rows * self.step, cols * self.step, 3), dtype=np.uint8)

    def reduce(self, pixels: NDArray[np.uint8]) -> NDArray[np.uint8]:
        """One tile's share of the thumbnail (runs on the worker threads)."""
        return _block_mean(pixels, self.factor)

    def put(self, ty: int, tx: int, small: NDArray[np.uint8]) -> None:
        step = self.step
        self._pixels[ty * step : (ty + 1) * step, tx * step : (tx + 1) * step] = small

    def image(self) -> NDArray[np.uint8]:
        return np.ascontiguousarray(self._pixels[: self.height, : self.width])


def slide_tissue_mask(
    *, width: int = 8192, height: int = 6144, mpp: float = 0.5, seed: int = 0, downsample: int = 64
) -> NDArray[np.bool_]:
    """The low-resolution tissue layout of the slide :func:`write_slide` writes.

    Lets tests and demos check tissue proportions without decoding the slide.

    :param width: level-0 width, as given to :func:`write_slide`.
    :param height: level-0 height.
    :param mpp: µm per pixel (the outline's fine raggedness is sized in µm).
    :param seed: as given to :func:`write_slide`.
    :param downsample: level-0 pixels per mask pixel.
    :return: ``ceil(height / downsample) × ceil(width / downsample)`` booleans.
    """
    return SyntheticSlide(width, height, mpp, seed).tissue_mask(downsample)
