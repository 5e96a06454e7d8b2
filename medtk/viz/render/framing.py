"""Fitting a volume into the picture: the same framing for every engine.

The scene is a box of physical size ``(shape - 1) × spacing`` (voxel centres, as VTK's
image data places them) seen through a :class:`~medtk.viz.render.camera.Camera`. The
picture is centred on the box and its parallel scale (half the height of what is
seen) is chosen so that the box's projection fills it with a small margin.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from medtk.viz.render.camera import Camera

#: Space left around the box, as a fraction of the picture.
MARGIN = 0.06


@dataclass(frozen=True)
class Frame:
    """What the picture shows: world centre ``(x, y, z)`` and half its height and width."""

    centre: tuple[float, float, float]
    half_height: float
    half_width: float


def box_corners(shape: tuple[int, int, int], spacing: tuple[float, float, float]) -> np.ndarray:
    """The 8 corners ``(x, y, z)`` of a ``(z, y, x)`` volume's box of voxel centres."""
    extent = [(n - 1) * s for n, s in zip(shape[::-1], spacing[::-1], strict=True)]
    return np.array(list(itertools.product(*[(0.0, e) for e in extent])), dtype=np.float64)


def frame(
    shape: tuple[int, int, int],
    spacing: tuple[float, float, float],
    cam: Camera,
    size: tuple[int, int],
) -> Frame:
    """The framing of a ``(z, y, x)`` volume with ``spacing`` in a ``size = (W, H)`` picture."""
    corners = box_corners(shape, spacing)
    centre = corners.mean(axis=0)
    right = np.asarray(cam.right)
    up = np.asarray(cam.up)
    half_w = float(np.abs((corners - centre) @ right).max())
    half_h = float(np.abs((corners - centre) @ up).max())
    aspect = size[0] / size[1]
    half_h = max(half_h, half_w / aspect, 1e-6) / (1.0 - 2 * MARGIN)
    return Frame((float(centre[0]), float(centre[1]), float(centre[2])), half_h, half_h * aspect)


def project(
    point_zyx: tuple[float, float, float],
    spacing: tuple[float, float, float],
    shape: tuple[int, int, int],
    cam: Camera,
    size: tuple[int, int],
) -> tuple[float, float]:
    """Where a voxel index ``(z, y, x)`` lands in the picture: ``(row, column)`` pixels."""
    f = frame(shape, spacing, cam, size)
    world = np.array(
        [point_zyx[2] * spacing[2], point_zyx[1] * spacing[1], point_zyx[0] * spacing[0]]
    )
    offset = world - np.asarray(f.centre)
    x = float(offset @ np.asarray(cam.right))
    y = float(offset @ np.asarray(cam.up))
    width, height = size
    column = (x / f.half_width + 1.0) * width / 2.0
    row = (1.0 - y / f.half_height) * height / 2.0
    return row, column
