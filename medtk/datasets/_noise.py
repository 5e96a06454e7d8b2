"""Seeded, coordinate-hashed noise: the same value at a point whoever asks for it.

Sample images are generated piece by piece (a slide tile by tile, in any order, on any
thread), so a noise field cannot come from one RNG stream: its value at a point must be a
pure function of ``(seed, salt, point)``. Value noise on an integer lattice whose values
come from a 64-bit hash does exactly that, so neighbouring tiles agree along their
borders and any tile is reproducible on its own.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

_M1 = np.uint64(0x9E3779B97F4A7C15)
_M2 = np.uint64(0xC2B2AE3D27D4EB4F)
_M3 = np.uint64(0xBF58476D1CE4E5B9)
_M4 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S40 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(40)


def hash_bits(ix: ArrayLike, iy: ArrayLike, key: int) -> NDArray[np.uint64]:
    """64 well-mixed bits per integer lattice point (splitmix64 finaliser).

    Cheap, vectorised, and without visible lattice correlations.

    :param ix: integer x coordinates (any shape, broadcast against ``iy``).
    :param iy: integer y coordinates.
    :param key: a non-negative integer that selects an independent field.
    """
    x = np.atleast_1d(np.asarray(ix, dtype=np.int64).astype(np.uint64))
    y = np.atleast_1d(np.asarray(iy, dtype=np.int64).astype(np.uint64))
    mixed = np.uint64((key * 0xBF58476D1CE4E5B9 + 0x632BE59BD9B4E019) & (2**64 - 1))
    h = (x * _M1) ^ (y * _M2) ^ mixed
    h ^= h >> _S30
    h *= _M3
    h ^= h >> _S27
    h *= _M4
    h ^= h >> _S31
    return h.reshape(np.broadcast_shapes(np.shape(ix), np.shape(iy)))


def hash_uniform(ix: ArrayLike, iy: ArrayLike, key: int) -> NDArray[np.float32]:
    """Uniform values in [0, 1) hashed from integer lattice points and a key.

    :param ix: integer x coordinates (any shape, broadcast against ``iy``).
    :param iy: integer y coordinates.
    :param key: a non-negative integer that selects an independent field.
    """
    return (hash_bits(ix, iy, key) >> _S40).astype(np.float32) * np.float32(1.0 / 2**24)


def field_key(seed: int, salt: int) -> int:
    """One key per (seed, field) pair, so fields of one image are independent."""
    return (seed * 1_000_003 + salt * 7_919 + 0x5EED) & (2**63 - 1)


def _smooth(t: NDArray[np.float32]) -> NDArray[np.float32]:
    """Smoothstep weights: the interpolated field has a continuous gradient."""
    return t * t * (3.0 - 2.0 * t)


def value_noise_grid(  # noqa: PLR0917 (a window and a field: positional reads best)
    x0: float, y0: float, width: int, height: int, wavelength: float, key: int, step: float = 1.0
) -> NDArray[np.float32]:
    """Value noise in [0, 1) on a regular grid of ``height × width`` samples.

    Only the lattice points under the grid are hashed and the interpolation is
    separable, so a tile costs a few array passes whatever the wavelength. Samples are
    at ``x0 + step * i``, ``y0 + step * j``; the values equal :func:`value_noise_points`
    at the same coordinates.

    :param x0: x coordinate of the first column (pixels of the reference grid).
    :param y0: y coordinate of the first row.
    :param width: number of columns.
    :param height: number of rows.
    :param wavelength: lattice spacing, in the same units as the coordinates.
    :param key: from :func:`field_key`.
    :param step: distance between neighbouring samples.
    """
    gx = (x0 + step * np.arange(width, dtype=np.float64)) / wavelength
    gy = (y0 + step * np.arange(height, dtype=np.float64)) / wavelength
    fx, fy = np.floor(gx), np.floor(gy)
    ix0, iy0 = int(fx[0]), int(fy[0])
    lx = np.arange(ix0, int(fx[-1]) + 2)
    ly = np.arange(iy0, int(fy[-1]) + 2)
    lattice = hash_uniform(lx[None, :], ly[:, None], key)
    cx = (fx - ix0).astype(np.intp)
    cy = (fy - iy0).astype(np.intp)
    wx = _smooth((gx - fx).astype(np.float32))
    wy = _smooth((gy - fy).astype(np.float32))[:, None]
    rows = lattice[:, cx] * (1.0 - wx) + lattice[:, cx + 1] * wx
    return rows[cy] * (1.0 - wy) + rows[cy + 1] * wy


def value_noise_points(
    x: ArrayLike, y: ArrayLike, wavelength: float, key: int
) -> NDArray[np.float32]:
    """Value noise in [0, 1) at scattered points; equal to :func:`value_noise_grid`.

    :param x: x coordinates.
    :param y: y coordinates (same shape as ``x``).
    :param wavelength: lattice spacing.
    :param key: from :func:`field_key`.
    """
    gx = np.asarray(x, dtype=np.float64) / wavelength
    gy = np.asarray(y, dtype=np.float64) / wavelength
    fx, fy = np.floor(gx), np.floor(gy)
    ix, iy = fx.astype(np.int64), fy.astype(np.int64)
    wx = _smooth((gx - fx).astype(np.float32))
    wy = _smooth((gy - fy).astype(np.float32))
    top = hash_uniform(ix, iy, key) * (1.0 - wx) + hash_uniform(ix + 1, iy, key) * wx
    bottom = hash_uniform(ix, iy + 1, key) * (1.0 - wx) + hash_uniform(ix + 1, iy + 1, key) * wx
    return top * (1.0 - wy) + bottom * wy


def smooth_noise(
    shape: tuple[int, ...], sigma: float | tuple[float, ...], rng: np.random.Generator
) -> NDArray[np.float32]:
    """Gaussian-filtered white noise rescaled to zero mean and unit standard deviation.

    For whole volumes generated in one piece (CT, MR), where an RNG stream is fine.

    :param shape: output shape.
    :param sigma: Gaussian width per axis, in voxels.
    :param rng: the generator to draw from.
    """
    from scipy import ndimage

    field = ndimage.gaussian_filter(rng.standard_normal(shape), sigma, mode="wrap")
    field -= field.mean()
    std = field.std()
    return (field / std if std > 0 else field).astype(np.float32)


def stripe_noise(u: NDArray[np.floating[Any]], key: int) -> NDArray[np.float32]:
    """1-D value noise in [0, 1) of a coordinate field ``u`` (in lattice units).

    With ``u`` a wavy function of position, the result is a family of wavy stripes (the
    level lines of ``u``): collagen fibres in stroma, say. Only the lattice span under
    ``u`` is hashed, so the cost is a few array passes.

    :param u: lattice coordinate per sample, any shape.
    :param key: from :func:`field_key`.
    """
    f = np.floor(u)
    lo = int(f.min())
    lattice = hash_uniform(np.arange(lo, int(f.max()) + 2), np.zeros(1, np.int64), key)
    i = (f - lo).astype(np.intp)
    w = _smooth((u - f).astype(np.float32))
    return lattice[i] * (1.0 - w) + lattice[i + 1] * w
