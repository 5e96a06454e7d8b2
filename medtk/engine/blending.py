"""Blending weights for tiled inference: how much a tile's prediction counts at each pixel.

Overlapping tiles are merged as a weighted mean, ``Σ wₜ·yₜ / Σ wₜ`` over the tiles ``t``
that cover a pixel, with one weight map ``w`` (the shape of a tile) for every tile. A
network sees less context near a tile's edge, so a weight that falls off towards the
edges lets the tile whose centre is nearer win, and hides the seams.

- ``constant``: every pixel of a tile weighs 1; overlaps are plain means.
- ``gaussian``: a separable Gaussian with σ = tile / 8 along each axis, centred on the
  tile and clamped from below at 0.001, exactly as nnU-Net and MONAI's
  ``compute_importance_map(mode="gaussian", sigma_scale=0.125)`` build it.
- ``pyramidal``: ``d_edge / (d_edge + d_centre)``, where ``d_edge`` is the distance of the
  pixel's centre to the nearest tile border and ``d_centre`` its Euclidean distance to the
  tile's centre: 1 at the centre, a ramp down to the borders that is linear near them,
  and square (pyramid-shaped) level lines. This is the weight mask of the pyramid tile
  merger used for the virtual-staining Tiramisu models (Wieslander et al. 2021, after
  pytorch-toolbelt), there scaled to a mean of 1; the scale cancels in the weighted mean.

Every weight is positive, so a pixel covered by a single tile (at an image corner) keeps
that tile's prediction.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["BLENDINGS", "GAUSSIAN_MIN", "GAUSSIAN_SIGMA_SCALE", "blending_weights"]

#: The blending modes :func:`blending_weights` knows.
BLENDINGS = ("constant", "gaussian", "pyramidal")
#: σ of the Gaussian as a fraction of the tile size along each axis (nnU-Net, MONAI).
GAUSSIAN_SIGMA_SCALE = 0.125
#: Lower bound of the Gaussian weights, as MONAI clamps them: tile corners keep a weight.
GAUSSIAN_MIN = 1e-3


def blending_weights(
    tile: Sequence[int], mode: str = "gaussian", *, sigma_scale: float = GAUSSIAN_SIGMA_SCALE
) -> np.ndarray:
    """The weight map of one tile: a float32 array of shape ``tile``, every value in (0, 1].

    :param tile: the tile's size along each spatial axis, e.g. ``(256, 256)``.
    :param mode: ``"constant"``, ``"gaussian"`` or ``"pyramidal"``.
    :param sigma_scale: σ of the Gaussian as a fraction of the tile size.
    """
    shape = tuple(int(n) for n in tile)
    if not shape or min(shape) < 1:
        raise ValueError(f"a tile needs a positive size along every axis, not {shape}")
    if mode == "constant":
        return np.ones(shape, dtype=np.float32)
    if mode == "gaussian":
        weights = np.ones((), dtype=np.float64)
        for n in shape:
            x = np.arange(n, dtype=np.float64) - (n - 1) / 2
            sigma = sigma_scale * n
            weights = np.multiply.outer(weights, np.exp(-(x**2) / (2 * sigma**2)))
        return np.maximum(weights, GAUSSIAN_MIN).astype(np.float32)
    if mode == "pyramidal":
        grids = np.meshgrid(*(np.arange(n, dtype=np.float64) + 0.5 for n in shape), indexing="ij")
        to_edge = np.minimum.reduce(
            [np.minimum(g, n - g) for g, n in zip(grids, shape, strict=True)]
        )
        to_centre = np.sqrt(sum((g - n / 2) ** 2 for g, n in zip(grids, shape, strict=True)))
        return (to_edge / (to_edge + to_centre)).astype(np.float32)
    raise ValueError(f"unknown blending {mode!r}; choose one of {', '.join(BLENDINGS)}")
