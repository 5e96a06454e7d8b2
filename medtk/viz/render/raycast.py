"""3D renders in numpy: parallel rays through the volume, for machines without OpenGL.

The volume is resampled onto the camera's grid, one slab of depth at a time, with
``scipy.ndimage.affine_transform`` (trilinear for intensities, nearest for labels);
rays then run front to back through the slabs:

- intensities are alpha-composited (emission–absorption, the same colour map and
  opacity ramp as the VTK path, without gradient shading);
- labels stop at the first labelled sample; the depth map it leaves gives each pixel a
  normal and a Lambert shade under a head light.

Framing and cameras are the VTK path's, so both engines put a voxel at the same pixel.
It is slower and plainer than VTK's pictures (a 256³ volume takes seconds), and it needs
nothing beyond numpy and scipy.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from medtk.viz.render.camera import Camera
from medtk.viz.render.classes import ClassStyle, hex_rgb
from medtk.viz.render.framing import frame

#: Samples per slab of depth (bounds the memory of one resampling step).
SLAB = 16
#: The working picture holds at most this many pixels, and rays this many samples.
MAX_PIXELS = 400 * 400
MAX_DEPTH = 400
AMBIENT, DIFFUSE = 0.3, 0.7


@dataclass(frozen=True)
class Rays:
    """Sample ``(depth, row, column)`` ↦ voxel ``(z, y, x)`` = ``matrix @ index + offset``."""

    matrix: np.ndarray
    offset: np.ndarray
    depth: int
    height: int
    width: int
    #: World distance between samples along a ray, and between pixel centres.
    step: float
    pixel: float


def _rays(
    shape: tuple[int, int, int],
    spacing: tuple[float, float, float],
    cam: Camera,
    size: tuple[int, int],
) -> Rays:
    """The rays of a working picture of about one pixel per voxel (never more pixels than
    ``size`` or ``MAX_PIXELS``); the caller scales the picture to ``size``."""
    f = frame(shape, spacing, cam, size)
    finest = min(spacing)
    pixel = max(
        2 * f.half_height / size[1],
        finest,
        math.sqrt(4 * f.half_height * f.half_width / MAX_PIXELS),
    )
    height = max(1, round(2 * f.half_height / pixel))
    width = max(1, round(2 * f.half_width / pixel))
    pixel_y, pixel_x = 2 * f.half_height / height, 2 * f.half_width / width
    d, u, r = (np.asarray(v, dtype=np.float64) for v in (cam.direction, cam.up, cam.right))
    centre = np.asarray(f.centre)
    extent = np.array([(n - 1) * s for n, s in zip(shape[::-1], spacing[::-1], strict=True)])
    radius = 0.5 * float(np.linalg.norm(extent))
    step = max(finest, 2 * radius / MAX_DEPTH)
    depth = max(1, math.ceil(2 * radius / step) + 1)
    origin = (
        centre - radius * d - (f.half_width - pixel_x / 2) * r + (f.half_height - pixel_y / 2) * u
    )
    scale_zyx = np.array(spacing, dtype=np.float64)
    to_zyx = np.array([2, 1, 0])  # world (x, y, z) → array (z, y, x)
    matrix = np.stack([step * d, -pixel_y * u, pixel_x * r], axis=1)[to_zyx] / scale_zyx[:, None]
    offset = origin[to_zyx] / scale_zyx
    return Rays(matrix, offset, depth, height, width, step, (pixel_x + pixel_y) / 2)


def _slabs(
    volume: np.ndarray,
    spacing: tuple[float, float, float],
    cam: Camera,
    size: tuple[int, int],
    *,
    order: int,
    cval: float,
) -> Iterator[np.ndarray]:
    """The volume resampled along the rays, ``SLAB`` depth samples at a time, front first."""
    from scipy import ndimage

    rays = _rays(volume.shape, spacing, cam, size)
    for start in range(0, rays.depth, SLAB):
        count = min(SLAB, rays.depth - start)
        yield ndimage.affine_transform(
            volume,
            rays.matrix,
            offset=rays.offset + rays.matrix[:, 0] * start,
            output_shape=(count, rays.height, rays.width),
            order=order,
            mode="constant",
            cval=cval,
            prefilter=False,
        )


def _resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    with Image.fromarray(image) as small, small.resize(size, Image.Resampling.BILINEAR) as big:
        return np.asarray(big).copy()


def volume_images(
    volume: np.ndarray,
    spacing: tuple[float, float, float],
    *,
    window: tuple[float, float],
    colours: np.ndarray,
    opacity: float,
    cameras: Sequence[Camera],
    size: tuple[int, int],
    background: str = "black",
) -> list[np.ndarray]:
    """Emission–absorption rendering of ``volume`` (see the VTK path for the parameters)."""
    low, high = window
    data = volume.astype(np.float32, copy=False)
    extent = [(n - 1) * s for n, s in zip(volume.shape, spacing, strict=True)]
    unit = max(float(np.linalg.norm(extent)) / 100.0, 1e-6)
    ramp = np.asarray(colours, dtype=np.float32)
    back = np.asarray(hex_rgb(_hex(background)), dtype=np.float32)
    images = []
    for cam in cameras:
        step = _rays(volume.shape, spacing, cam, size).step
        colour = None
        transmitted = None
        for slab in _slabs(data, spacing, cam, size, order=1, cval=low):
            t = np.clip((slab - low) / max(high - low, 1e-12), 0.0, 1.0)
            alpha = 1.0 - np.power(1.0 - np.clip(opacity * t * t, 0.0, 0.999), step / unit)
            position = t * (len(ramp) - 1)
            below = np.floor(position).astype(np.int64)
            above = np.minimum(below + 1, len(ramp) - 1)
            w = (position - below)[..., None]
            rgb = ramp[below] * (1 - w) + ramp[above] * w
            if colour is None:
                colour = np.zeros((*slab.shape[1:], 3), dtype=np.float32)
                transmitted = np.ones(slab.shape[1:], dtype=np.float32)
            for k in range(slab.shape[0]):
                a = alpha[k] * transmitted
                colour += a[..., None] * rgb[k]
                transmitted *= 1.0 - alpha[k]
            if float(transmitted.max()) < 0.005:
                break
        assert colour is not None
        assert transmitted is not None
        colour += transmitted[..., None] * back
        image = (np.clip(colour, 0, 1) * 255 + 0.5).astype(np.uint8)
        images.append(_resize(image, size))
    return images


def surface_images(
    labels: np.ndarray,
    spacing: tuple[float, float, float],
    styles: Sequence[ClassStyle],
    *,
    cameras: Sequence[Camera],
    size: tuple[int, int],
    background: str = "white",
) -> list[np.ndarray]:
    """Each class of ``labels`` as an opaque, shaded surface in its style's colour."""
    from scipy import ndimage

    palette = np.zeros((max((s.value for s in styles), default=0) + 1, 3), dtype=np.float32)
    for style in styles:
        palette[style.value] = style.rgb
    wanted = np.zeros(len(palette), dtype=bool)
    wanted[[s.value for s in styles]] = True
    source = np.where(labels < len(palette), labels, 0).astype(np.int32)
    source = np.where(wanted[source], source, 0).astype(np.int32)
    back = np.asarray(hex_rgb(_hex(background)), dtype=np.float32)
    images = []
    for cam in cameras:
        rays = _rays(labels.shape, spacing, cam, size)
        hit_class = None
        hit_depth = None
        done = 0
        for slab in _slabs(source, spacing, cam, size, order=0, cval=0):
            if hit_class is None:
                hit_class = np.zeros(slab.shape[1:], dtype=np.int32)
                hit_depth = np.full(slab.shape[1:], np.inf, dtype=np.float32)
            assert hit_depth is not None
            inside = slab > 0
            first = np.argmax(inside, axis=0)
            found = inside.any(axis=0) & np.isinf(hit_depth)
            rows, cols = np.nonzero(found)
            hit_class[rows, cols] = slab[first[rows, cols], rows, cols]
            hit_depth[rows, cols] = (done + first[rows, cols]) * rays.step
            done += slab.shape[0]
            if np.isfinite(hit_depth).all():
                break
        assert hit_class is not None
        assert hit_depth is not None
        image = np.broadcast_to(back, (*hit_class.shape, 3)).copy()
        hit = hit_class > 0
        if hit.any():
            depth = np.where(hit, hit_depth, np.nanmax(np.where(hit, hit_depth, np.nan)))
            depth = ndimage.gaussian_filter(depth, 1.0)
            dy, dx = np.gradient(depth, rays.pixel)
            shade = 1.0 / np.sqrt(1.0 + dx * dx + dy * dy)  # n · view for n ∝ (-dx, -dy, 1)
            light = (AMBIENT + DIFFUSE * shade)[..., None]
            image[hit] = (palette[hit_class] * light)[hit]
        out = (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)
        images.append(_resize(out, size))
    return images


def _hex(colour: str) -> str:
    from matplotlib.colors import to_hex

    return to_hex(colour)
