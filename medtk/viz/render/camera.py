"""Where the 3D renders look from: named views, turned by azimuth and elevation.

World coordinates are physical ``(x, y, z)`` (voxel index times spacing); projection is
parallel (orthographic), so sizes read the same everywhere in the picture. The views
match the panels of ``medtk render slices`` and ``mip``:

========== ======================== =================================================
view       looks along              on screen
========== ======================== =================================================
``z``      +z (from below)          x to the right, y downward (the xy panel)
``y``      +y (from the front)      x to the right, z upward (the xz panel)
``x``      −x (from the +x side)    y to the right, z upward (the yz panel)
``oblique`` the ``y`` view turned   30° azimuth to the right and 20° up (the default)
========== ======================== =================================================

For a CT or MR store in the usual LPS orientation (identity direction), that is the
radiological convention: axial seen from the feet, coronal from the front, sagittal
from the patient's left, head up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

View = Literal["oblique", "z", "y", "x"]
VIEWS: tuple[str, ...] = ("oblique", "z", "y", "x")
#: The turn that makes ``oblique`` out of the ``y`` view, in degrees.
OBLIQUE_AZIMUTH = 30.0
OBLIQUE_ELEVATION = 20.0

_BASE = {
    "z": ((0.0, 0.0, 1.0), (0.0, -1.0, 0.0)),
    "y": ((0.0, 1.0, 0.0), (0.0, 0.0, 1.0)),
    "x": ((-1.0, 0.0, 0.0), (0.0, 0.0, 1.0)),
}


@dataclass(frozen=True)
class Camera:
    """A parallel-projection camera as three orthonormal world vectors ``(x, y, z)``."""

    #: Direction of projection: from the eye into the scene.
    direction: tuple[float, float, float]
    #: Screen up.
    up: tuple[float, float, float]

    @property
    def right(self) -> tuple[float, float, float]:
        """Screen right: direction × up."""
        r = np.cross(self.direction, self.up)
        return float(r[0]), float(r[1]), float(r[2])


def camera(view: str = "oblique", azimuth: float = 0.0, elevation: float = 0.0) -> Camera:
    """The camera of a named view, turned ``azimuth`` degrees to the right about screen up,
    then ``elevation`` degrees upward (the eye moves; the scene stays)."""
    if view == "oblique":
        base, azimuth, elevation = "y", azimuth + OBLIQUE_AZIMUTH, elevation + OBLIQUE_ELEVATION
    else:
        base = view
    if base not in _BASE:
        raise ValueError(f"unknown view {view!r}; views are {', '.join(VIEWS)}")
    d, u = (np.asarray(v, dtype=np.float64) for v in _BASE[base])
    r = np.cross(d, u)
    a = math.radians(azimuth)
    d = math.cos(a) * d - math.sin(a) * r  # the eye moves right: it looks more to the left
    e = math.radians(elevation)
    d, u = math.cos(e) * d - math.sin(e) * u, math.sin(e) * d + math.cos(e) * u
    d /= np.linalg.norm(d)
    u /= np.linalg.norm(u)
    return Camera((float(d[0]), float(d[1]), float(d[2])), (float(u[0]), float(u[1]), float(u[2])))
