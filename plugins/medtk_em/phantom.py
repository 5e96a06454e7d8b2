"""A synthetic FIB-SEM volume of brain neuropil with labels for eight classes.

The public FIB-SEM data the ``em`` family's method was developed on cannot be fetched
here, so :class:`Phantom` generates a stand-in that looks like it: dark, heavy-metal
stained membranes on a lighter cytoplasm, neurites cut at every angle, mitochondria with
cristae, boutons full of vesicles at synapses, black myelin rings, all blurred by the
beam, noisy and striped by the milling, at 5-8 nm voxels.

**Geometry.** Everything is defined in nanometres by a *catalogue* of continuous objects
drawn once per ``(shape × voxel size, seed)``; a voxel's class and clean intensity are a
pure function of its position and that catalogue, so any block of the volume can be
generated on its own, in any order, on any thread, and matches its neighbours exactly
(and the same tissue sampled at another voxel size is the same objects). Memory is
bounded by the block; the catalogue grows with the volume but holds a few numbers per
object.

- *Neurites* (axons, dendrites) are tubes around straight axes in random directions (half
  of them near one bundle direction), seen through a smooth random warp of space so axes
  and boundaries curve. Space is split between them as an additively weighted Voronoi
  diagram of their axes: a point belongs to the neurite minimising ``distance - radius``,
  which packs the volume without gaps into cell profiles with curved boundaries, sized
  by the radii, as neuropil is. The *membrane* is the band, 20 nm wide, around the
  boundary between the two nearest neurites (distance = difference of the weighted
  distances over the length of its gradient).
- *Boutons* swell axons (a Gaussian bump of the radius along the axis, 0.5-0.9 µm across)
  and hold a cloud of *vesicles* (spheres of ~40 nm, dart-thrown 4 nm apart). Where a
  bouton touches a dendrite, the contact point on the Voronoi boundary becomes a
  *synapse*: a dark postsynaptic density (PSD) on the dendrite's side, lens-shaped, and
  the cleft under it; boutons without one have their synapse outside the volume.
- *Myelinated axons* claim a disc exactly (their weighted distance is steep), so they are
  round: the sheath between the axon's radius and the outer one (g-ratio 0.62-0.75),
  drawn as concentric dark lamellae.
- *Mitochondria* are capsules along their neurite, sized to the room it has there and
  kept only when they fit inside it, with a dark rim and cristae across the long axis.
- *Microtubules* are 25 nm tubes parallel to their neurite's axis; *ER* is a thin shell
  (18 nm) around a level set of smooth 3-D value noise, in patches of cytoplasm away from
  membranes: short curved tubules and cisternae in section.

**Image formation (FIB-SEM).** Intensity by class, drawn anti-aliased from signed
distances (membranes and myelin darkest, as osmium stains lipid; cytosol lighter with a
fine granular texture), blurred by an anisotropic Gaussian point spread (σ 6 nm along
the milling axis z, 4 nm in the block face), then the detector: a slow per-slice drift of
gain and offset along z, curtaining stripes that run along y and change slowly with z
(the FIB milling artefact), and Poisson-Gaussian noise (variance ``a·I + b``, the normal
approximation), rounded to uint8. Noise values are hashed from voxel coordinates, so
they too are the same whoever generates a block.

**Class fractions (assumption).** Published FIB-SEM segmentations of neuropil report
roughly cytosol 60-70 %, membranes 10-15 %, mitochondria 8-12 %, myelin 3-8 %, vesicles
1-3 %, ER 1-2 %, synapses 0.5-1 %, microtubules 0.5-1 %. The generator targets
:data:`TARGET_FRACTIONS` (cytosol the rest, about 66 %): membranes through the density
and sizes of neurites, ER through the shell's thickness and patches, the others through
volume budgets the catalogue fills object by object (counting only what the volume
shows). Measured over the default 64 × 256 × 256 volume at 8 nm, seeds 0-4: cytosol
66.9-69.0 %, membranes 11.3-12.4 %, mitochondria 9.3-10.7 %, myelin 4.5-5.6 %, vesicles
2.0 %, ER 1.2-1.6 %, synapses 0.69-0.84 %, microtubules 0.65-0.78 %. Small volumes hold
few objects (one myelinated axon may be 5 % of one), so their fractions scatter more;
every kind of object is placed at least once where it fits.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from medtk.datasets._noise import field_key, hash_uniform

__all__ = [
    "CLASSES",
    "MAX_SIDE",
    "MAX_VOXELS",
    "MIN_SIDE",
    "TARGET_FRACTIONS",
    "Phantom",
    "class_fractions",
    "fractions_from_counts",
    "shape_problem",
]

#: Label value → class name; the order is the label value.
CLASSES: tuple[str, ...] = (
    "cytosol",
    "synapses",
    "mitochondria",
    "membranes",
    "vesicles",
    "ER",
    "microtubules",
    "myelin",
)
CYTOSOL, SYNAPSE, MITO, MEMBRANE, VESICLE, ER, MICROTUBULE, MYELIN = range(8)

#: Volume fraction each class aims at (cytosol is what is left).
TARGET_FRACTIONS: dict[str, float] = {
    "cytosol": 0.664,
    "synapses": 0.007,
    "mitochondria": 0.10,
    "membranes": 0.12,
    "vesicles": 0.02,
    "ER": 0.015,
    "microtubules": 0.007,
    "myelin": 0.055,
}

#: Smallest and largest side, and most voxels, a phantom may have.
MIN_SIDE, MAX_SIDE, MAX_VOXELS = 16, 4096, 1 << 30

Region = tuple[slice, ...]
F32 = NDArray[np.float32]

# Neurite kinds.
_AXON, _DENDRITE, _MYELINATED = 0, 1, 2
#: How steep a myelinated axon's weighted distance is: it owns its disc, and no more.
_STEEP = 25.0

# Geometry, in nm.
_MEMBRANE_NM = 20.0  # dark band between two cells: two bilayers and the cleft
_MT_RADIUS = 12.5  # microtubules are 25 nm tubes
_LINE_DENSITY = 1.1e-5  # neurite axes per nm² of cross-section (tuned: membranes ≈ 12 %)
_DENDRITE_SHARE = 0.25
_BOUTONS = 3  # at most this many boutons per axon in the volume
_VESICLE_FILL = 0.04  # share of a bouton's ball its vesicles fill (tuned)
_DENDRITE_R = (180.0, 360.0)  # radius ranges (log-uniform)
_AXON_R = (100.0, 220.0)
#: Budget / target per class: what an object's nominal volume loses once drawn (voxels
#: at the border, membranes over it), measured on the default volume.
_CALIBRATION = {
    "myelin": 1.0,
    "mitochondria": 1.12,
    "synapses": 1.45,
    "vesicles": 1.0,
    "microtubules": 1.35,
}
_CELL_NM = 800.0  # catalogue queries are grouped in cubes of this side …
_DIRECT_LIMIT = 1 << 17  # … unless points × neurites is at most this

# ER: a shell of this half thickness around a level set of noise of this wavelength,
# in patches where a coarser noise exceeds a level (tuned: ER ≈ 1.5 %)
_ER_HALF_NM, _ER_WAVELENGTH_NM = 9.0, 220.0
_ER_PATCH_NM, _ER_PATCH_LEVEL = 200.0, 0.6

# Intensities (uint8 scale, before blur and detector).
_I_CYTOSOL = 172.0
_I_MEMBRANE = 48.0
_I_MYELIN = 40.0
_I_MITO, _I_MITO_RIM, _I_CRISTA = 122.0, 72.0, 84.0
_I_VESICLE_LUMEN, _I_VESICLE_RIM = 150.0, 82.0
_I_PSD, _I_CLEFT = 44.0, 62.0
_I_ER = 84.0
_I_MT = 124.0

# Salts of the independent random streams and hashed fields.
_S_WARP, _S_LINES, _S_MYELIN, _S_MITO, _S_SYN, _S_VES, _S_MT, _S_BOUTON = range(1, 9)
_F_TEXTURE, _F_TEXTURE2, _F_ER, _F_ER_MASK = 11, 12, 13, 14
_F_GAIN, _F_OFFSET, _F_CURTAIN, _F_CURTAIN_ENV, _F_NOISE1, _F_NOISE2 = 21, 22, 23, 24, 25, 26


# ---------------------------------------------------------------------------- helpers


def _unit(v: NDArray[np.float64]) -> NDArray[np.float64]:
    """Rows of ``v`` scaled to unit length."""
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _perpendicular_basis(u: NDArray[np.float64]) -> tuple[NDArray[np.float64], ...]:
    """Two unit vectors spanning the plane normal to each row of ``u``."""
    helper = np.where(np.abs(u[:, :1]) < 0.9, [[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]])
    e1 = _unit(np.cross(u, helper))
    return e1, np.cross(u, e1)


def _smoothstep(t: NDArray[Any]) -> NDArray[Any]:
    """Weights with a continuous gradient, so interpolated noise has no creases."""
    return t * t * (3.0 - 2.0 * t)


def value_noise(coords: Sequence[NDArray[Any]], wavelengths: Sequence[float], key: int) -> F32:
    """Value noise in [0, 1) on the grid spanned by 1-D coordinates (1 to 3 axes).

    Lattice values are hashed from integer lattice coordinates and ``key``, so the value
    at a point is the same whichever grid it is evaluated on: blocks agree exactly. The
    interpolation is separable (smoothstep weights), a few passes over the output.

    :param coords: one 1-D array of positions per axis (any unit).
    :param wavelengths: lattice spacing per axis, in the unit of ``coords``.
    :param key: selects the field (from :func:`medtk.datasets._noise.field_key`).
    """
    cells, weights, lattices = [], [], []
    for c, wavelength in zip(coords, wavelengths, strict=True):
        g = np.asarray(c, dtype=np.float64) / wavelength
        f = np.floor(g)
        first = int(f.min())
        cells.append((f - first).astype(np.intp))
        weights.append(_smoothstep((g - f).astype(np.float32)))
        lattices.append(np.arange(first, int(f.max()) + 2, dtype=np.int64))
    dims = len(lattices)
    mesh = np.meshgrid(*lattices, indexing="ij")
    combined = np.zeros_like(mesh[0])
    for axis in range(dims - 1):
        combined = combined * (1 << 21) + mesh[axis]
    values = hash_uniform(mesh[-1], combined, key)
    for axis in range(dims):
        shape = [1] * dims
        shape[axis] = -1
        w = weights[axis].reshape(shape)
        lo = np.take(values, cells[axis], axis=axis)
        hi = np.take(values, cells[axis] + 1, axis=axis)
        values = lo * (1.0 - w) + hi * w
    return values.astype(np.float32, copy=False)


def _chords(
    a: NDArray[np.float64], u: NDArray[np.float64], lo: NDArray[np.float64], hi: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Entry and exit parameters of lines ``a + t u`` through the box ``[lo, hi]``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = (lo - a) / u
        t2 = (hi - a) / u
    inside = (a >= lo) & (a <= hi)
    parallel = np.abs(u) < 1e-12
    t_lo = np.where(parallel, np.where(inside, -np.inf, np.inf), np.minimum(t1, t2))
    t_hi = np.where(parallel, np.where(inside, np.inf, -np.inf), np.maximum(t1, t2))
    return t_lo.max(axis=1), t_hi.min(axis=1)


# ------------------------------------------------------------------------------ warp


@dataclass(frozen=True)
class _Warp:
    """A smooth random displacement of space (sums of sine waves), curving everything.

    ``q = p + Σ a sin(ω·p + φ)`` per component: long waves (1-2 µm) bend neurites, short
    ones (250-450 nm) make their outlines irregular. The gradient stays well below 1, so
    the map does not fold and can be inverted by fixed-point iteration.
    """

    omega: NDArray[np.float64]  # (3 components, waves, 3 axes), radians per nm
    phase: NDArray[np.float64]  # (3, waves)
    amp: NDArray[np.float64]  # (3, waves), nm

    @classmethod
    def draw(cls, rng: np.random.Generator) -> _Warp:
        waves = ((1000.0, 2000.0, 38.0), (1000.0, 2000.0, 30.0), (250.0, 450.0, 7.0))
        omega, amp = [], []
        for lo, hi, a in waves:
            direction = _unit(rng.standard_normal((3, 3)))
            omega.append(direction * (2 * np.pi / rng.uniform(lo, hi, (3, 1))))
            amp.append(np.full(3, a))
        return cls(
            omega=np.stack(omega, axis=1),
            phase=rng.uniform(0, 2 * np.pi, (3, len(waves))),
            amp=np.stack(amp, axis=1),
        )

    @property
    def reach(self) -> float:
        """The largest displacement, in nm."""
        return float(self.amp.sum(axis=1).max())

    def grid(self, z: F32, y: F32, x: F32) -> tuple[F32, F32, F32]:
        """Warped coordinates of the grid spanned by 1-D ``z``, ``y``, ``x`` (nm)."""
        out = []
        for c, base in enumerate((z[:, None, None], y[None, :, None], x[None, None, :])):
            q = np.broadcast_to(base, (len(z), len(y), len(x))).astype(np.float32)
            for k in range(self.omega.shape[1]):
                w = self.omega[c, k].astype(np.float32)
                arg = (w[0] * z)[:, None, None] + (w[1] * y)[None, :, None]
                arg = arg + (w[2] * x + np.float32(self.phase[c, k]))[None, None, :]
                q = q + np.float32(self.amp[c, k]) * np.sin(arg)
            out.append(q)
        return out[0], out[1], out[2]

    def points(self, p: NDArray[np.float64]) -> NDArray[np.float64]:
        """Warped positions of points ``(n, 3)``."""
        q = p.copy()
        for c in range(3):
            q[:, c] += (np.sin(p @ self.omega[c].T + self.phase[c]) * self.amp[c]).sum(axis=1)
        return q

    def inverse(self, q: NDArray[np.float64]) -> NDArray[np.float64]:
        """Points ``p`` with ``points(p) ≈ q`` (to well under a nanometre)."""
        p = q.copy()
        for _ in range(12):
            p = p - (self.points(p) - q)
        return p


# ----------------------------------------------------------------------- tessellation


@dataclass(frozen=True)
class _Neurites:
    """Neurite axes and the weighted Voronoi diagram they define.

    A neurite's weighted distance is ``distance to its axis - radius``, the radius
    swelling along the axis at boutons: ``r + Σ A exp(-((t - t_b) / L)²)`` with ``t`` the
    position along the axis. A myelinated axon's is ``steep ×`` that, so it owns its disc.
    """

    a: NDArray[np.float64]  # (n, 3) a point on each axis
    u: NDArray[np.float64]  # (n, 3) unit directions
    r: NDArray[np.float64]  # (n,) radius (outer radius for myelinated axons)
    r_in: NDArray[np.float64]  # (n,) axon radius inside the myelin; = r otherwise
    kind: NDArray[np.int8]  # (n,) _AXON, _DENDRITE, _MYELINATED
    t_lo: NDArray[np.float64]  # (n,) where each axis enters the catalogue box
    t_hi: NDArray[np.float64]  # (n,) and leaves it
    seen: NDArray[np.float64]  # (n,) length of axis inside the volume, nm
    bouton_t: NDArray[np.float64]  # (n, _BOUTONS) where boutons swell the radius …
    bouton_a: NDArray[np.float64]  # (n, _BOUTONS) by how much (0: no bouton) …
    bouton_l: NDArray[np.float64]  # (n, _BOUTONS) over what length along the axis
    #: candidates per cube of :meth:`at_points` (cleared when boutons change the radii)
    cell_candidates: dict[tuple[int, ...], NDArray[np.intp]] = field(
        default_factory=dict, compare=False, repr=False
    )

    @property
    def steep(self) -> NDArray[np.float64]:
        """Slope of each neurite's weighted distance: 1, or steep for myelinated axons."""
        return np.where(self.kind == _MYELINATED, _STEEP, 1.0)

    @property
    def lipschitz(self) -> NDArray[np.float64]:
        """A bound on the slope of each plain weighted distance (boutons add theirs)."""
        return 1.0 + (self.bouton_a / self.bouton_l).sum(axis=1) * math.sqrt(2 / math.e)

    def swelling(self, index: NDArray[Any], t: NDArray[Any]) -> tuple[NDArray[Any], ...]:
        """Extra radius at axis positions ``t`` of neurites ``index`` (same shapes, or
        ``index`` broadcast along ``t``'s last axis), and its derivative along the axis."""
        t = np.asarray(t, dtype=np.float64)
        index = np.broadcast_to(np.asarray(index), t.shape)
        extra, slope = np.zeros(t.shape), np.zeros(t.shape)
        swollen = np.flatnonzero(self.bouton_a.any(axis=1)[index.ravel()])
        if not len(swollen):
            return extra, slope
        lines, at = index.ravel()[swollen], t.ravel()[swollen]
        s = (at[:, None] - self.bouton_t[lines]) / self.bouton_l[lines]
        near = (np.abs(s) < 4.0).any(axis=1)  # beyond 4 lengths a bump is < 1e-7 of itself
        swollen, lines, s = swollen[near], lines[near], s[near]
        bump = self.bouton_a[lines] * np.exp(-s * s)
        extra.ravel()[swollen] = bump.sum(axis=1)
        slope.ravel()[swollen] = (-2 * s / self.bouton_l[lines] * bump).sum(axis=1)
        return extra, slope

    def weighted(
        self, q: NDArray[np.float64], index: NDArray[np.intp]
    ) -> tuple[NDArray[Any], NDArray[Any]]:
        """Weighted distances and axis distances of points ``(m, 3)`` to neurites
        ``index``: one list for all points ``(k,)``, or one per point ``(m, k)`` where
        ``-1`` pads (its distances are infinite) → two ``(m, k)`` matrices."""
        index = np.asarray(index)
        rows = np.broadcast_to(index, (len(q), index.shape[-1]))
        pad = rows < 0
        lines = np.where(pad, 0, rows)
        a, u = self.a, self.u
        dz = q[:, 0, None] - a[:, 0][lines]
        dy = q[:, 1, None] - a[:, 1][lines]
        dx = q[:, 2, None] - a[:, 2][lines]
        t = dz * u[:, 0][lines] + dy * u[:, 1][lines] + dx * u[:, 2][lines]
        axis = np.sqrt(np.maximum(dz * dz + dy * dy + dx * dx - t * t, 0.0))
        extra, _ = self.swelling(lines, t)
        weighted = (axis - self.r[lines] - extra) * self.steep[lines]
        weighted[pad] = np.inf
        return weighted, axis

    def weighted_pairs(self, q: NDArray[np.float64], index: NDArray[np.intp]) -> NDArray[Any]:
        """Weighted distance of each point ``q[k]`` to neurite ``index[k]``."""
        d = q - self.a[index]
        t = (d * self.u[index]).sum(axis=1)
        axis = np.sqrt(np.maximum((d * d).sum(axis=1) - t * t, 0.0))
        extra, _ = self.swelling(index, t)
        return (axis - self.r[index] - extra) * self.steep[index]

    def axis_distance_pairs(self, q: NDArray[np.float64], index: NDArray[np.intp]) -> NDArray[Any]:
        """Distance from each point ``q[k]`` to the axis ``index[k]``."""
        d = q - self.a[index]
        t = (d * self.u[index]).sum(axis=1)
        return np.sqrt(np.maximum((d * d).sum(axis=1) - t * t, 0.0))

    def candidates(self, center: NDArray[np.float64], h: float) -> NDArray[np.intp]:
        """Neurites that can be nearest or second nearest anywhere within ``h`` of ``center``.

        Exact, not a heuristic: a plain weighted distance is Lipschitz (slope 1, more at
        boutons; a steep one ``k`` times that), so bounds at the centre hold in the ball.
        """
        k = self.steep
        plain = self.weighted(center[None], np.arange(len(self.r)))[0][0] / k
        reach = h * self.lipschitz
        upper = np.where(plain + reach > 0, k, 1.0) * (plain + reach)
        lower = np.where(plain - reach > 0, 1.0, k) * (plain - reach)
        second = np.partition(upper, 1)[1]
        return np.flatnonzero(lower <= second)

    def nearest_two(
        self, qz: F32, qy: F32, qx: F32, index: NDArray[np.intp]
    ) -> tuple[F32, F32, NDArray[np.int32], NDArray[np.int32], F32]:
        """Per point: weighted distances and indices of the two nearest neurites among
        ``index``, and the nearest one's axis distance (the inner loop of rendering)."""
        d1 = np.full(qz.shape, np.inf, np.float32)
        d2 = d1.copy()
        axis1 = d1.copy()
        i1 = np.full(qz.shape, -1, np.int32)
        i2 = i1.copy()
        t, s, tmp = (np.empty(qz.shape, np.float32) for _ in range(3))
        for j in index:
            az, ay, ax = (np.float32(v) for v in self.a[j])
            uz, uy, ux = (np.float32(v) for v in self.u[j])
            dz, dy, dx = qz - az, qy - ay, qx - ax
            np.multiply(dz, uz, out=t)
            t += np.multiply(dy, uy, out=tmp)
            t += np.multiply(dx, ux, out=tmp)
            np.multiply(dz, dz, out=s)
            s += np.multiply(dy, dy, out=tmp)
            s += np.multiply(dx, dx, out=tmp)
            s -= np.multiply(t, t, out=tmp)
            axis = np.sqrt(np.maximum(s, np.float32(0), out=s), out=s)
            d = np.subtract(axis, np.float32(self.r[j]), out=dz)
            for k in np.flatnonzero(self.bouton_a[j]):
                bump = (t - np.float32(self.bouton_t[j, k])) / np.float32(self.bouton_l[j, k])
                d -= np.float32(self.bouton_a[j, k]) * np.exp(-bump * bump)
            if self.kind[j] == _MYELINATED:
                d *= np.float32(_STEEP)
            first = d < d1
            second = d < d2
            np.minimum(d2, np.maximum(d1, d, out=tmp), out=d2)
            i2 = np.where(second, np.where(first, i1, np.int32(j)), i2)
            np.minimum(d1, d, out=d1)
            i1[first] = j
            axis1[first] = axis[first]
        return d1, d2, i1, i2, axis1

    def gradient(self, q: NDArray[Any], index: NDArray[Any]) -> NDArray[Any]:
        """Gradient of the weighted distance of neurite ``index[k]`` at ``q[k]`` → (m, 3)."""
        u = self.u[index]
        d = q - self.a[index]
        t = (d * u).sum(axis=-1)
        d = d - t[..., None] * u
        norm = np.maximum(np.linalg.norm(d, axis=-1, keepdims=True), 1e-6)
        _, slope = self.swelling(index, t)
        return (d / norm - slope[..., None] * u) * self.steep[index][..., None]

    def separation(self, q: NDArray[np.float64]) -> tuple[NDArray[np.int32], NDArray[Any]]:
        """Nearest neurite at points ``(m, 3)`` and the distance to its boundary (nm)."""
        d1, d2, i1, i2, _ = self.at_points(q)
        slope = np.linalg.norm(self.gradient(q, i1) - self.gradient(q, i2), axis=-1)
        return i1, (d2 - d1) / np.maximum(slope, 0.2)

    def at_points(self, q: NDArray[np.float64]) -> tuple[NDArray[Any], ...]:
        """:meth:`nearest_two` at scattered points ``(m, 3)``, as a points × neurites matrix.

        A compact cluster of points (a vesicle cloud, a capsule) takes the neurites
        :meth:`candidates` allows for its ball; a few scattered points take every
        neurite; many scattered points take the candidates of their cube (cached).
        """
        m = len(q)
        if not m:
            empty = np.zeros(0, np.float32)
            return empty, empty, np.zeros(0, np.int32), np.zeros(0, np.int32), empty
        lo, hi = q.min(axis=0), q.max(axis=0)
        if float(np.linalg.norm(hi - lo)) <= 2 * _CELL_NM:
            index = self.candidates((lo + hi) / 2, float(np.linalg.norm(hi - lo)) / 2 + 1e-3)
        elif m * len(self.r) <= _DIRECT_LIMIT:
            index = np.arange(len(self.r))
        else:
            cell = np.floor(q / _CELL_NM).astype(np.int64)
            keys, group = np.unique(cell, axis=0, return_inverse=True)
            lists = [self._cell_candidates(tuple(int(c) for c in key)) for key in keys]
            table = np.full((len(lists), max(len(c) for c in lists)), -1, np.intp)
            for row, found in enumerate(lists):
                table[row, : len(found)] = found
            index = table[group.ravel()]
        weighted, axis = self.weighted(q, index)
        rows = np.broadcast_to(index, weighted.shape)
        at = np.arange(m)
        two = np.argpartition(weighted, 1, axis=1)[:, :2]
        swap = weighted[at, two[:, 1]] < weighted[at, two[:, 0]]
        two[swap] = two[swap][:, ::-1]
        first, second = two[:, 0], two[:, 1]
        return (
            weighted[at, first].astype(np.float32),
            weighted[at, second].astype(np.float32),
            rows[at, first].astype(np.int32),
            rows[at, second].astype(np.int32),
            axis[at, first].astype(np.float32),
        )

    def _cell_candidates(self, key: tuple[int, ...]) -> NDArray[np.intp]:
        """The candidates of one cube of side ``_CELL_NM`` (cached)."""
        if key not in self.cell_candidates:
            centre = (np.asarray(key) + 0.5) * _CELL_NM
            self.cell_candidates[key] = self.candidates(centre, _CELL_NM * 0.87)
        return self.cell_candidates[key]


# -------------------------------------------------------------------------- catalogue


@dataclass(frozen=True)
class _Catalogue:
    """Every object of one phantom, in nm (warped space unless said otherwise)."""

    warp: _Warp
    neurites: _Neurites
    # mitochondria: capsules from c0 to c1 with radius, host neurite, cristae period/phase
    mito_c0: NDArray[np.float64]
    mito_c1: NDArray[np.float64]
    mito_r: NDArray[np.float64]
    mito_host: NDArray[np.intp]
    mito_period: NDArray[np.float64]
    mito_phase: NDArray[np.float64]
    # microtubules: lines parallel to their host's axis
    mt_a: NDArray[np.float64]
    mt_u: NDArray[np.float64]
    mt_host: NDArray[np.intp]
    # synapses: contact point, normal (axon → dendrite), partners, disc radius, PSD depth
    syn_b: NDArray[np.float64]
    syn_n: NDArray[np.float64]
    syn_axon: NDArray[np.intp]
    syn_dendrite: NDArray[np.intp]
    syn_r: NDArray[np.float64]
    syn_depth: NDArray[np.float64]
    # vesicles: centres in *unwarped* space (they stay round), radius, host neurite
    ves_p: NDArray[np.float64]
    ves_r: NDArray[np.float64]
    ves_host: NDArray[np.intp]


class _Builder:
    """Draws a catalogue: neurites first, then the objects inside them, each to a budget.

    Objects are proposed in batches (vectorised checks against the tessellation) and
    accepted one by one until their class's volume budget is met. A budget counts only
    the part of an object inside the volume, so the fractions hold whatever the shape.
    """

    BATCH = 96

    def __init__(self, shape: tuple[int, int, int], voxel_nm: float, seed: int) -> None:
        self.seed = seed
        self.voxel_nm = voxel_nm
        self.extent = np.asarray(shape, np.float64) * voxel_nm
        self.volume = float(np.prod(self.extent))
        self.warp = _Warp.draw(self._rng(_S_WARP))
        margin = self.warp.reach + 60.0  # in nm only: the voxel size changes no object
        # the box objects are drawn in, in warped space: the volume's image and a margin
        self.lo = np.full(3, -margin)
        self.hi = self.extent + margin
        #: class → (nominal volume placed in view, budget), for diagnostics
        self.budgets: dict[str, tuple[float, float]] = {}
        self.neurites = self._neurites()

    def _rng(self, salt: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, salt, 0xE3])

    def visible(self, q: NDArray[np.float64], pad: float = 0.0) -> NDArray[np.bool_]:
        """Which points of warped space the volume shows (at least ``pad`` nm inside)."""
        p = self.warp.inverse(np.atleast_2d(q))
        return np.all((p >= pad) & (p <= self.extent - pad), axis=-1)

    # neurites --------------------------------------------------------------------
    def _neurites(self) -> _Neurites:
        """Axes through the box: a Poisson number of lines, half near one bundle
        direction, a quarter dendrites (thicker), the rest axons; then myelin, boutons."""
        rng = self._rng(_S_LINES)
        center = (self.lo + self.hi) / 2
        reach = float(np.linalg.norm(self.hi - self.lo)) / 2 + 600.0
        count = max(int(rng.poisson(_LINE_DENSITY * np.pi * reach**2)), 4)
        main = _unit(rng.standard_normal((1, 3)))
        u = _unit(rng.standard_normal((count, 3)))
        bundle = rng.random(count) < 0.5
        tilt = np.radians(np.abs(rng.normal(0.0, 18.0, count)))
        e1, e2 = _perpendicular_basis(np.repeat(main, count, axis=0))
        spin = rng.uniform(0, 2 * np.pi, count)
        near_main = (
            np.cos(tilt)[:, None] * main
            + (np.sin(tilt) * np.cos(spin))[:, None] * e1
            + (np.sin(tilt) * np.sin(spin))[:, None] * e2
        )
        u = np.where(bundle[:, None], near_main, u)
        f1, f2 = _perpendicular_basis(u)
        rho = reach * np.sqrt(rng.random(count))
        phi = rng.uniform(0, 2 * np.pi, count)
        a = center + (rho * np.cos(phi))[:, None] * f1 + (rho * np.sin(phi))[:, None] * f2
        dendrite = rng.random(count) < _DENDRITE_SHARE
        r = np.where(
            dendrite,
            np.exp(rng.uniform(np.log(_DENDRITE_R[0]), np.log(_DENDRITE_R[1]), count)),
            np.exp(rng.uniform(np.log(_AXON_R[0]), np.log(_AXON_R[1]), count)),
        )
        kind = np.where(dendrite, _DENDRITE, _AXON).astype(np.int8)
        t_lo, t_hi = _chords(a, u, self.lo, self.hi)
        t_hi = np.maximum(t_hi, t_lo)
        # how much of each axis the volume shows, from samples along its chord
        t = t_lo[:, None] + (t_hi - t_lo)[:, None] * np.linspace(0.01, 0.99, 48)[None]
        finite = np.isfinite(t).all(axis=1)
        t = np.where(finite[:, None], t, 0.0)
        pts = a[:, None, :] + t[..., None] * u[:, None, :]
        shown = self.visible(pts.reshape(-1, 3)).reshape(count, -1).mean(axis=1)
        seen = np.where(finite, shown * (t_hi - t_lo), 0.0)
        r_in = r.copy()
        neurites = _Neurites(
            a=a,
            u=u,
            r=r,
            r_in=r_in,
            kind=kind,
            t_lo=t_lo,
            t_hi=t_hi,
            seen=seen,
            bouton_t=np.zeros((count, _BOUTONS)),
            bouton_a=np.zeros((count, _BOUTONS)),
            bouton_l=np.ones((count, _BOUTONS)),
        )
        self._myelinate(neurites)
        self._boutons(neurites)
        return neurites

    def _boutons(self, n: _Neurites) -> None:
        """Swell axons into boutons, enough to hold the vesicle budget.

        A bouton is a Gaussian bump of the radius along the axis (a varicosity of
        0.5-0.9 µm). Its vesicles fill a few per cent of the ball it spans (the rest of
        the ball belongs to neighbours, or is too near a membrane), which sets how many
        boutons the budget needs, with a fifth to spare: the last ones may stay empty.
        """
        rng = self._rng(_S_BOUTON)
        budget = TARGET_FRACTIONS["vesicles"] * self.volume * _CALIBRATION["vesicles"] * 1.2
        axons = np.flatnonzero((n.kind == _AXON) & (n.seen > 0))
        if not len(axons):
            return
        weight = n.seen[axons] / n.seen[axons].sum()
        used = 0.0
        for _ in range(2000):
            if used >= budget:
                break
            j = int(rng.choice(axons, p=weight))
            free = np.flatnonzero(n.bouton_a[j] == 0)
            if not len(free):
                continue
            t = rng.uniform(n.t_lo[j], n.t_hi[j])
            centre = n.a[j] + t * n.u[j]
            if not self.visible(centre)[0]:
                continue
            amp, length = rng.uniform(130.0, 250.0), rng.uniform(200.0, 340.0)
            taken = n.bouton_a[j] > 0
            if (np.abs(n.bouton_t[j, taken] - t) < 2.5 * (length + n.bouton_l[j, taken])).any():
                continue
            k = int(free[0])
            n.bouton_t[j, k], n.bouton_a[j, k], n.bouton_l[j, k] = t, amp, length
            used += _VESICLE_FILL * 4 / 3 * np.pi * (n.r[j] + amp) ** 3
        n.cell_candidates.clear()

    def _myelinate(self, n: _Neurites) -> None:
        """Turn axons into myelinated ones until the myelin budget is used (at least one).

        A sheath's share of the volume is its visible length times its ring's area, less
        the membranes on both of its faces; the outer radius is chosen to fit what is
        left of the budget.
        """
        rng = self._rng(_S_MYELIN)
        budget = TARGET_FRACTIONS["myelin"] * self.volume * _CALIBRATION["myelin"]
        order = rng.permutation(np.flatnonzero((n.kind == _AXON) & (n.seen > 0)))
        used, half_w = 0.0, _MEMBRANE_NM / 2
        for j in order:
            g = rng.uniform(0.62, 0.75)
            seen = self._ring_seen(n, j)
            if seen <= 0:
                continue
            # area(o) = π((o - w/2)² - (g o + w/2)²) = π(1 + g) o ((1 - g) o - w)
            area = (budget - used) / seen
            a2, a1 = np.pi * (1 - g * g), 2 * half_w * np.pi * (1 + g)
            fit = (a1 + math.sqrt(a1 * a1 + 4 * a2 * max(area, 0.0))) / (2 * a2)
            outer = min(rng.uniform(280.0, 460.0), fit)
            if outer < 220.0:
                if used > 0:
                    continue
                outer = 220.0  # the first one always goes in, if small
            n.r[j], n.r_in[j], n.kind[j] = outer, g * outer, _MYELINATED
            used += seen * np.pi * (1 + g) * outer * ((1 - g) * outer - 2 * half_w)
            if used >= 0.95 * budget:
                break
        self.budgets["myelin"] = (used, budget)

    def _ring_seen(self, n: _Neurites, j: int, radius: float = 250.0) -> float:
        """Visible length of a sheath around axis ``j``: samples on a ring, not the axis,
        since a fibre running along a thin volume's face shows only part of its ring."""
        if not np.isfinite(n.t_hi[j] - n.t_lo[j]):
            return 0.0
        e1, e2 = _perpendicular_basis(n.u[j][None])
        t = np.linspace(n.t_lo[j], n.t_hi[j], 40)[:, None, None]
        phi = np.linspace(0, 2 * np.pi, 12, endpoint=False)[None, :, None]
        pts = n.a[j] + t * n.u[j] + radius * (np.cos(phi) * e1[0] + np.sin(phi) * e2[0])
        return float(self.visible(pts.reshape(-1, 3)).mean() * (n.t_hi[j] - n.t_lo[j]))

    def _hosts(
        self, rng: np.random.Generator, eligible: NDArray[np.bool_], power: float
    ) -> NDArray[np.intp]:
        """A batch of neurites drawn in proportion to visible length × inner radius^power."""
        n = self.neurites
        weight = np.where(eligible, n.seen * n.r_in**power, 0.0)
        if weight.sum() <= 0:
            return np.zeros(0, np.intp)
        return rng.choice(len(weight), size=self.BATCH, p=weight / weight.sum())

    def _random_points(self, rng: np.random.Generator, count: int = 0) -> NDArray[np.float64]:
        """Points (a batch by default) spread uniformly over the volume, in warped space."""
        p = rng.random((count or self.BATCH, 3)) * self.extent
        return self.warp.points(p)

    # mitochondria ----------------------------------------------------------------
    def mitochondria(self) -> dict[str, NDArray[Any]]:
        """Capsules along their host neurite, sized to the room it has, not touching.

        A neurite's room is its territory, not its nominal radius (neighbours squeeze it),
        so a proposal measures the room at a random point of the volume, takes a radius
        that fits it, lies along the axis of the neurite there, and is kept only if the
        whole capsule stays inside that neurite.
        """
        rng = self._rng(_S_MITO)
        n = self.neurites
        budget = TARGET_FRACTIONS["mitochondria"] * self.volume * _CALIBRATION["mitochondria"]
        used, placed = 0.0, []
        taken, taken_r = np.zeros((0, 3)), np.zeros(0)
        steps = np.linspace(-1.0, 1.0, 9)
        # bigger volumes need more mitochondria: bigger batches keep the rounds few
        batch = int(self.BATCH * np.clip(self.volume / 4e9, 1, 16))
        idle = 0
        for _ in range(400):
            if (used >= budget and placed) or idle >= 30:
                break
            idle += 1
            s = self._random_points(rng, batch)
            hosts = n.at_points(s)[2].astype(np.intp)
            k = len(hosts)
            room = self._room(s, hosts)
            radius = np.clip(rng.uniform(0.6, 0.92, k) * room, 0.0, 140.0)
            half = rng.uniform(0.3, 2.0, k) * radius + rng.uniform(0.0, 500.0, k)
            direction = _unit(n.u[hosts] + rng.normal(0.0, 0.08, (k, 3)))
            e1, e2 = _perpendicular_basis(n.u[hosts])
            rho = np.maximum(room - radius, 0.0) * 0.5 * np.sqrt(rng.random(k))
            phi = rng.uniform(0, 2 * np.pi, k)
            centre = s + rho[:, None] * (np.cos(phi)[:, None] * e1 + np.sin(phi)[:, None] * e2)
            axis = (
                centre[:, None, :]
                + (steps[None, :, None] * half[:, None, None]) * (direction[:, None, :])
            )
            shown = np.zeros(k)
            fits = radius >= 45.0
            if fits.any():
                flat = axis[fits].reshape(-1, 3)
                shown[fits] = self.visible(flat).reshape(-1, len(steps)).mean(axis=1)
                room_along = self._room(flat, np.repeat(hosts[fits], len(steps)))
                fits[fits] = room_along.reshape(-1, len(steps)).min(axis=1) > radius[fits] + 4.0
            for j in np.flatnonzero(fits & (shown > 0)):
                if used >= budget and placed:
                    break
                if (
                    len(taken)
                    and (
                        np.linalg.norm(axis[j][:, None] - taken[None], axis=-1)
                        < radius[j] + taken_r[None] + 25.0
                    ).any()
                ):
                    continue
                volume = np.pi * radius[j] ** 2 * 2 * half[j] + 4 / 3 * np.pi * radius[j] ** 3
                if placed and used + volume * shown[j] > 1.08 * budget:
                    continue  # overshoots: a smaller one will come
                taken = np.concatenate([taken, axis[j]])
                taken_r = np.concatenate([taken_r, np.full(len(steps), radius[j])])
                ends = centre[j] - half[j] * direction[j], centre[j] + half[j] * direction[j]
                placed.append((ends[0], ends[1], radius[j], hosts[j]))
                idle = 0
                used += volume * shown[j]
        self.budgets["mitochondria"] = (used, budget)
        return {
            "mito_c0": np.array([p[0] for p in placed]).reshape(-1, 3),
            "mito_c1": np.array([p[1] for p in placed]).reshape(-1, 3),
            "mito_r": np.array([p[2] for p in placed], np.float64),
            "mito_host": np.array([p[3] for p in placed], np.intp),
            "mito_period": rng.uniform(40.0, 65.0, len(placed)),
            "mito_phase": rng.uniform(0, 2 * np.pi, len(placed)),
        }

    def _room(self, q: NDArray[np.float64], hosts: NDArray[np.intp]) -> NDArray[np.float64]:
        """How far each point is from its host's membrane (< 0: not in the host): the
        distance to the cell boundary less half the membrane; inside a myelinated axon,
        what the sheath leaves."""
        n = self.neurites
        i1, sep = n.separation(q)
        room = sep - _MEMBRANE_NM / 2
        inner = n.r_in[hosts] - n.axis_distance_pairs(q, hosts)
        room = np.where(n.kind[hosts] == _MYELINATED, inner, room)
        return np.where(i1 == hosts, room, -1.0)

    # synapses and vesicles -------------------------------------------------------
    def synapses(self, mito: dict[str, NDArray[Any]]) -> dict[str, NDArray[Any]]:
        """Vesicle clouds in boutons, synapses where boutons touch dendrites.

        Each bouton (in random order) gets a vesicle cloud; while the synapse budget
        lasts, the contact of the bouton with its nearest neighbour becomes a synapse (a
        PSD on the neighbour's side, the cloud shifted towards it). Boutons without one
        have their synapse outside the volume. If the budget still has room, contacts
        from random points of axons follow, with a small cloud behind each.
        """
        rng = self._rng(_S_SYN)
        ves_rng = self._rng(_S_VES)
        n = self.neurites
        syn_budget = TARGET_FRACTIONS["synapses"] * self.volume * _CALIBRATION["synapses"]
        ves_budget = TARGET_FRACTIONS["vesicles"] * self.volume * _CALIBRATION["vesicles"]
        synapses: list[tuple[Any, ...]] = []
        vesicles: list[tuple[NDArray[np.float64], NDArray[np.float64], int]] = []
        used = {"syn": 0.0, "ves": 0.0}

        def add_synapse(b: NDArray[np.float64], normal: Any, axon: int, partner: int) -> bool:
            if any(np.linalg.norm(b - s[0]) < 450.0 for s in synapses):
                return False
            radius, depth = rng.uniform(100.0, 200.0), rng.uniform(20.0, 32.0)
            volume = np.pi * radius**2 * (depth + _MEMBRANE_NM) * self.visible(b)[0]
            if synapses and used["syn"] + volume > 1.2 * syn_budget:
                return False  # overshoots: a smaller one may come
            synapses.append((b, normal, axon, partner, radius, depth))
            used["syn"] += volume
            return True

        lines, slots = np.nonzero(n.bouton_a > 0)
        order = rng.permutation(len(lines))
        lines, slots = lines[order], slots[order]
        centres = n.a[lines] + n.bouton_t[lines, slots][:, None] * n.u[lines]
        contacts = {k: rest for k, *rest in self._contacts(rng, centres, lines)}
        for k, (j, slot) in enumerate(zip(lines, slots, strict=True)):
            if used["ves"] >= ves_budget:
                break
            size = n.r[j] + n.bouton_a[j, slot]
            centre = centres[k]
            if k in contacts and used["syn"] < syn_budget:
                b, normal, partner = contacts[k]
                if add_synapse(b, normal, int(j), partner):
                    centre = centre + 0.3 * (b - centre)
            used["ves"] += self._cloud(
                ves_rng,
                centre=centre,
                radius=size,
                host=int(j),
                mito=mito,
                out=vesicles,
                limit=ves_budget - used["ves"],
            )
        axons = n.kind == _AXON
        for _ in range(30):
            if used["syn"] >= syn_budget and synapses:
                break
            s = self._random_points(rng)
            owner, _ = n.separation(s)
            for _k, b, normal, partner in self._contacts(rng, s, owner.astype(np.intp)):
                if used["syn"] >= syn_budget and synapses:
                    break
                axon = int(owner[_k])
                if not axons[axon] or not add_synapse(b, normal, axon, partner):
                    continue
                if used["ves"] < ves_budget:
                    cloud = rng.uniform(100.0, 160.0)
                    used["ves"] += self._cloud(
                        ves_rng,
                        centre=b - normal * (0.8 * cloud + _MEMBRANE_NM),
                        radius=cloud,
                        host=axon,
                        mito=mito,
                        out=vesicles,
                        limit=ves_budget - used["ves"],
                    )
        syn_used, ves_used = used["syn"], used["ves"]
        self.budgets["synapses"] = (syn_used, syn_budget)
        self.budgets["vesicles"] = (ves_used, ves_budget)
        q = np.concatenate([v[0] for v in vesicles]) if vesicles else np.zeros((0, 3))
        ves_r = np.concatenate([v[1] for v in vesicles]) if vesicles else np.zeros(0)
        hosts_v = [np.full(len(v[1]), v[2], np.intp) for v in vesicles]
        return {
            "syn_b": np.array([s[0] for s in synapses]).reshape(-1, 3),
            "syn_n": np.array([s[1] for s in synapses]).reshape(-1, 3),
            "syn_axon": np.array([s[2] for s in synapses], np.intp),
            "syn_dendrite": np.array([s[3] for s in synapses], np.intp),
            "syn_r": np.array([s[4] for s in synapses], np.float64),
            "syn_depth": np.array([s[5] for s in synapses], np.float64),
            "ves_p": self.warp.inverse(q),
            "ves_r": ves_r,
            "ves_host": np.concatenate(hosts_v) if hosts_v else np.zeros(0, np.intp),
        }

    def _contacts(
        self,
        rng: np.random.Generator,
        s: NDArray[np.float64],
        hosts: NDArray[np.intp],
    ) -> list[tuple[int, NDArray[np.float64], NDArray[np.float64], int]]:
        """Points on the boundary between axons and the dendrite (or axon) each touches.

        From a point ``s[k]`` inside axon ``hosts[k]``, bisect towards the axis of its
        nearest neighbour for the tie of their weighted distances; keep the tie if those
        two are still the two nearest there. The normal (axon → partner) is the gradient
        of the difference of the distances. Returns ``(k, point, normal, partner)``.
        """
        n = self.neurites
        _, _, i1, i2, _ = n.at_points(s)
        partner = i2.astype(np.intp)
        ok = (i1 == hosts) & (n.kind[partner] != _MYELINATED)
        ok &= (n.kind[partner] == _DENDRITE) | (rng.random(len(hosts)) < 0.2)
        index = np.flatnonzero(ok)
        if not len(index):
            return []
        start, axon, other = s[index], hosts[index], partner[index]
        foot = n.a[other] + ((start - n.a[other]) * n.u[other]).sum(1)[:, None] * n.u[other]
        lo, hi = np.zeros(len(index)), np.ones(len(index))
        for _ in range(40):
            mid = (lo + hi) / 2
            x = start + mid[:, None] * (foot - start)
            closer = n.weighted_pairs(x, axon) < n.weighted_pairs(x, other)
            lo, hi = np.where(closer, mid, lo), np.where(closer, hi, mid)
        b = start + lo[:, None] * (foot - start)
        _, _, j1, j2, _ = n.at_points(b)
        ok = (j1 == axon) & (j2 == other) & self.visible(b, 40.0)
        found = []
        for m in np.flatnonzero(ok):
            normal = n.gradient(b[m][None], axon[m : m + 1])[0]
            normal = _unit((normal - n.gradient(b[m][None], other[m : m + 1])[0])[None])[0]
            found.append((int(index[m]), b[m], normal, int(other[m])))
        return found

    def _cloud(
        self,
        rng: np.random.Generator,
        *,
        centre: NDArray[np.float64],
        radius: float,
        host: int,
        mito: dict[str, NDArray[Any]],
        out: list[tuple[NDArray[np.float64], NDArray[np.float64], int]],
        limit: float | None = None,
    ) -> float:
        """Dart-throw vesicles into a ball inside ``host``; return their volume in view
        (at most about ``limit``).

        Six darts per vesicle-sized share of the ball; those that fall in the host (off
        its membrane, clear of mitochondria) and keep 4 nm from the others and from earlier
        clouds' vesicles stay, first come first kept: packed about as densely as real
        vesicle clouds, where the host is.
        """
        from scipy.spatial import cKDTree
        from scipy.spatial.distance import cdist

        n = self.neurites
        tries = min(int(6.0 * (radius / 20.0) ** 3), 8000) + 10
        pts = centre + _unit(rng.standard_normal((tries, 3))) * (
            radius * rng.random((tries, 1)) ** (1 / 3)
        )
        radii = np.clip(rng.normal(20.0, 2.5, tries), 14.0, 27.0)
        i1, sep = n.separation(pts)
        ok = (i1 == host) & (sep > radii + _MEMBRANE_NM)
        c0, c1, r_m = mito["mito_c0"], mito["mito_c1"], mito["mito_r"]
        if len(r_m):
            d = c1 - c0
            t = np.clip(((centre - c0) * d).sum(1) / np.maximum((d * d).sum(1), 1e-9), 0, 1)
            near = np.linalg.norm(centre - (c0 + t[:, None] * d), axis=1) < radius + r_m + 40.0
            for j in np.flatnonzero(near):
                ok &= _segment_distance(pts, c0[j], c1[j]) > r_m[j] + radii + 8.0
        if out:  # earlier vesicles nearby: clouds may overlap, vesicles never do
            old_p = np.concatenate([v[0] for v in out])
            old_r = np.concatenate([v[1] for v in out])
            close = np.linalg.norm(old_p - centre, axis=1) < radius + 60.0
            if close.any():
                gap = cdist(pts, old_p[close]) - old_r[close][None] - radii[:, None]
                ok &= (gap >= 4.0).all(axis=1)
        pts, radii = pts[ok], radii[ok]
        if not len(pts):
            return 0.0
        # greedy: a dart stays unless an earlier kept one is too close
        alive = np.ones(len(pts), bool)
        neighbours = cKDTree(pts).query_ball_point(pts, r=2 * 27.0 + 4.0)
        for i in range(len(pts)):
            if not alive[i]:
                continue
            others = np.asarray([j for j in neighbours[i] if j > i], np.intp)
            if len(others):
                gap = np.linalg.norm(pts[others] - pts[i], axis=1) - radii[others] - radii[i]
                alive[others[gap < 4.0]] = False
        q, r = pts[alive], radii[alive]
        volume = 4 / 3 * np.pi * r**3 * self.visible(q)
        if limit is not None:  # the budget's last cloud: the first darts only, evenly spread
            keep = max(int(np.searchsorted(np.cumsum(volume), limit)) + 1, 1)
            q, r, volume = q[:keep], r[:keep], volume[:keep]
        out.append((q, r, host))
        return float(volume.sum())

    # microtubules ----------------------------------------------------------------
    def microtubules(self) -> dict[str, NDArray[Any]]:
        """Lines parallel to their neurite's axis, spread over its cross-section, kept
        where they run inside it for most of their length."""
        rng = self._rng(_S_MT)
        n = self.neurites
        budget = TARGET_FRACTIONS["microtubules"] * self.volume * _CALIBRATION["microtubules"]
        used, a, host = 0.0, [], []
        steps = np.linspace(0.05, 0.95, 10)
        for _ in range(80):
            if used >= budget and a:
                break
            hosts = self._hosts(rng, n.r_in >= 90.0, 1.5)
            if not len(hosts):
                break
            k = len(hosts)
            e1, e2 = _perpendicular_basis(n.u[hosts])
            rho = 0.65 * n.r_in[hosts] * np.sqrt(rng.random(k))
            phi = rng.uniform(0, 2 * np.pi, k)
            point = n.a[hosts] + rho[:, None] * (
                np.cos(phi)[:, None] * e1 + np.sin(phi)[:, None] * e2
            )
            t = n.t_lo[hosts][:, None] + (n.t_hi - n.t_lo)[hosts][:, None] * steps[None]
            pts = point[:, None, :] + t[..., None] * n.u[hosts][:, None, :]
            shown = self.visible(pts.reshape(-1, 3)).reshape(k, -1)
            i1, sep = n.separation(pts.reshape(-1, 3))
            inside = (i1.reshape(k, -1) == hosts[:, None]) & (
                sep.reshape(k, -1) > _MT_RADIUS + _MEMBRANE_NM
            )
            share = (inside & shown).sum(axis=1) / np.maximum(shown.sum(axis=1), 1)
            for j in np.flatnonzero((share >= 0.6) & shown.any(axis=1)):
                if used >= budget and a:
                    break
                h = hosts[j]
                if any(
                    ph == h and np.linalg.norm(np.cross(point[j] - pa, n.u[h])) < 45.0
                    for pa, ph in zip(a, host, strict=True)
                ):
                    continue
                a.append(point[j])
                host.append(h)
                used += n.seen[h] * share[j] * np.pi * _MT_RADIUS**2
        self.budgets["microtubules"] = (used, budget)
        host_arr = np.array(host, np.intp)
        return {
            "mt_a": np.array(a).reshape(-1, 3),
            "mt_u": n.u[host_arr].reshape(-1, 3),
            "mt_host": host_arr,
        }

    def build(self) -> _Catalogue:
        mito = self.mitochondria()
        return _Catalogue(
            warp=self.warp,
            neurites=self.neurites,
            **mito,
            **self.microtubules(),
            **self.synapses(mito),
        )


def _segment_distance(
    p: NDArray[Any], c0: NDArray[np.float64], c1: NDArray[np.float64]
) -> NDArray[Any]:
    """Distance from points ``(m, 3)`` to the segment ``c0``-``c1``."""
    d = c1 - c0
    t = np.clip(((p - c0) @ d) / max(float(d @ d), 1e-9), 0.0, 1.0)
    return np.linalg.norm(p - (c0 + t[:, None] * d), axis=-1)


# ---------------------------------------------------------------------------- phantom


def _alpha(sdf: F32, voxel: float) -> F32:
    """Coverage of a voxel by a shape from its signed distance (nm, > 0 inside)."""
    return np.clip(sdf / np.float32(voxel) + np.float32(0.5), 0.0, 1.0)


def _blend(image: F32, alpha: F32, value: F32 | float, where: NDArray[np.bool_]) -> None:
    """Paint ``value`` over ``image`` with coverage ``alpha`` where ``where`` holds."""
    mix = alpha * where
    image += mix * (np.float32(value) - image)


class Phantom:
    """A synthetic FIB-SEM volume: labels and image of any block, on demand.

    :param shape: ``(z, y, x)`` in voxels; z is the milling (slicing) axis.
    :param seed: the same seed (and shape and voxel size) gives the same voxels.
    :param voxel_nm: isotropic voxel size in nm; structures keep their physical size.
    :param noise: strength of the acquisition's imperfections (shot and read noise,
        curtaining, drift): 1 typical, 0 none (a clean, blurred image).
    """

    #: Sub-block side in voxels: small enough that few neurites compete in one.
    BLOCK = 24

    def __init__(
        self, shape: Sequence[int], *, seed: int = 0, voxel_nm: float = 8.0, noise: float = 1.0
    ) -> None:
        shape = tuple(int(n) for n in shape)
        problem = shape_problem(shape)
        if problem:
            raise ValueError(problem)
        if not 1.0 <= voxel_nm <= 50.0:
            raise ValueError(f"voxel size must be 1 to 50 nm, got {voxel_nm:g}")
        if noise < 0:
            raise ValueError(f"noise must be 0 or more, got {noise:g}")
        self.shape: tuple[int, int, int] = (shape[0], shape[1], shape[2])
        self.seed = int(seed)
        self.voxel_nm = float(voxel_nm)
        self.noise = float(noise)
        self.catalogue = _Builder(self.shape, self.voxel_nm, self.seed).build()
        # point spread σ in voxels (z, y, x): milling thickness blurs z a little more
        self.sigma = tuple(s / self.voxel_nm for s in (6.0, 4.0, 4.0))
        self.halo = tuple(int(4.0 * s + 0.5) + 1 for s in self.sigma)
        from scipy.spatial import cKDTree

        n = self.catalogue.neurites
        #: axis points, directions and slopes as float32 columns, for per-voxel gathers
        self.neurites_f32 = tuple(
            np.ascontiguousarray(c, dtype=np.float32)
            for c in (*n.a.T, *n.u.T, n.steep, n.bouton_a, n.bouton_t, n.bouton_l)
        )
        self.lipschitz_f32 = n.lipschitz.astype(np.float32)
        self._vesicle_tree = cKDTree(self.catalogue.ves_p) if len(self.catalogue.ves_r) else None

    # public --------------------------------------------------------------------------
    def labels(self, region: Region | None = None) -> NDArray[np.uint8]:
        """Class labels of a block ``(z, y, x)`` slices (default: the whole volume)."""
        lo, hi = self._bounds(region)
        labels, _ = self._render(lo, hi, image=False)
        return labels

    def clean(self, region: Region | None = None) -> F32:
        """The noiseless, unblurred intensity of a block (for inspection and tests)."""
        lo, hi = self._bounds(region)
        _, image = self._render(lo, hi, image=True)
        assert image is not None
        return image

    def image(self, region: Region | None = None) -> NDArray[np.uint8]:
        """The FIB-SEM image of a block: blurred, drifting, striped, noisy, uint8."""
        return self.image_and_labels(region)[0]

    def image_and_labels(
        self, region: Region | None = None
    ) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
        """Image and labels of a block at once (the image's rendering yields both)."""
        from scipy import ndimage

        lo, hi = self._bounds(region)
        halo = np.asarray(self.halo)
        labels, clean = self._render(lo - halo, hi + halo, image=True)
        assert clean is not None
        blurred = ndimage.gaussian_filter(clean, self.sigma, mode="nearest", truncate=4.0)
        crop = tuple(
            slice(int(h), int(h) + int(b - a)) for h, a, b in zip(halo, lo, hi, strict=True)
        )
        signal = blurred[crop]
        if self.noise > 0:
            image = self._detector(signal, lo, hi)
        else:
            image = np.clip(np.rint(signal), 0, 255).astype(np.uint8)
        return image, np.ascontiguousarray(labels[crop])

    # internals ---------------------------------------------------------------------
    def _bounds(self, region: Region | None) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        if region is None:
            region = tuple(slice(0, n) for n in self.shape)
        lo = np.array([s.start or 0 for s in region], np.int64)
        hi = np.array(
            [n if s.stop is None else s.stop for s, n in zip(region, self.shape, strict=True)],
            np.int64,
        )
        return lo, hi

    def _detector(
        self, signal: F32, lo: NDArray[np.int64], hi: NDArray[np.int64]
    ) -> NDArray[np.uint8]:
        """Drift along z, curtaining along y, Poisson-Gaussian noise; all hashed by voxel.

        A few slices at a time, so the 64-bit hashing needs little memory per block.
        """
        z = np.arange(lo[0], hi[0], dtype=np.float64)
        x = np.arange(lo[2], hi[2], dtype=np.float64)
        k = self.noise
        # slow drift of gain and offset from slice to slice (beam current, charging)
        gain = 1.0 + k * 0.06 * (2 * value_noise([z], [45.0], self._key(_F_GAIN)) - 1)
        offset = k * 7.0 * (2 * value_noise([z], [28.0], self._key(_F_OFFSET)) - 1)
        # curtains: thin vertical stripes (constant along y), strong in some x ranges,
        # slowly changing from slice to slice as the milled face changes
        stripes = 2 * value_noise([z, x], [60.0, 2.5], self._key(_F_CURTAIN)) - 1
        envelope = value_noise([z, x], [150.0, 40.0], self._key(_F_CURTAIN_ENV))
        curtain = k * 20.0 * stripes * envelope
        y = np.arange(lo[1], hi[1], dtype=np.int64)
        xi = np.arange(lo[2], hi[2], dtype=np.int64)[None, None, :]
        image = np.empty(signal.shape, np.uint8)
        for first in range(0, len(z), 4):
            part = slice(first, first + 4)
            out = (
                signal[part] * gain[part, None, None]
                + offset[part, None, None]
                + curtain[part, None, :]
            )
            # Poisson-Gaussian noise: variance a·I + b, a normal deviate hashed per voxel
            zi = np.arange(lo[0] + first, min(lo[0] + first + 4, hi[0]), dtype=np.int64)
            row = (zi[:, None] * (1 << 24) + y[None, :])[:, :, None]
            u1 = hash_uniform(xi, row, self._key(_F_NOISE1))
            u2 = hash_uniform(xi, row, self._key(_F_NOISE2))
            normal = np.sqrt(-2.0 * np.log(np.maximum(u1, 1e-7))) * np.cos(
                np.float32(2 * np.pi) * u2
            )
            out += k * np.sqrt(0.55 * np.maximum(out, 0.0) + 30.0) * normal
            image[part] = np.clip(np.rint(out), 0, 255)
        return image

    def _key(self, salt: int) -> int:
        return field_key(self.seed, salt)

    def _render(
        self, lo: NDArray[np.int64], hi: NDArray[np.int64], *, image: bool
    ) -> tuple[NDArray[np.uint8], F32 | None]:
        """Labels (and clean intensity) of voxels ``lo`` ≤ index < ``hi``; may go outside."""
        size = tuple(int(b - a) for a, b in zip(lo, hi, strict=True))
        labels = np.zeros(size, np.uint8)
        intensity = np.zeros(size, np.float32) if image else None
        step = self.BLOCK
        for z0 in range(int(lo[0]), int(hi[0]), step):
            for y0 in range(int(lo[1]), int(hi[1]), step):
                for x0 in range(int(lo[2]), int(hi[2]), step):
                    start = np.array([z0, y0, x0], np.int64)
                    block = self._render_block(start, np.minimum(start + step, hi), image=image)
                    where = tuple(
                        slice(int(a - o), int(a - o) + n)
                        for a, o, n in zip(start, lo, block.labels.shape, strict=True)
                    )
                    labels[where] = block.labels
                    if intensity is not None and block.img is not None:
                        intensity[where] = block.img
        return labels, intensity

    def _render_block(self, lo: NDArray[np.int64], hi: NDArray[np.int64], *, image: bool) -> _Block:
        """One sub-block: the tessellation, then each class painted in order."""
        cat, v = self.catalogue, self.voxel_nm
        n = cat.neurites
        z, y, x = (
            np.arange(a, b, dtype=np.float32) * np.float32(v) for a, b in zip(lo, hi, strict=True)
        )
        qz, qy, qx = cat.warp.grid(z, y, x)
        q_lo = np.array([qz.min(), qy.min(), qx.min()], np.float64)
        q_hi = np.array([qz.max(), qy.max(), qx.max()], np.float64)
        centre, reach = (q_lo + q_hi) / 2, float(np.linalg.norm(q_hi - q_lo)) / 2 + 1.0
        d1, d2, i1, i2, axis1 = n.nearest_two(qz, qy, qx, n.candidates(centre, reach))
        w = np.float32(_MEMBRANE_NM)
        sep = self._separation((qz, qy, qx), d2 - d1, i1, i2)
        membrane_sdf = w / 2 - sep
        myelinated = n.kind[i1] == _MYELINATED
        r_in = n.r_in[i1].astype(np.float32)
        sheath_sdf = np.where(myelinated, axis1 - r_in, np.float32(-1e6)).astype(np.float32)
        block = _Block(
            lo=lo,
            coords=(z, y, x),
            q=(qz, qy, qx),
            sep=sep,
            i1=i1,
            i2=i2,
            inside=(membrane_sdf < 0) & (sheath_sdf < 0),
            labels=np.zeros(qz.shape, np.uint8),
            img=self._texture(z, y, x) if image else None,
            voxel=v,
        )

        # ER: a thin shell (a level set of a smooth field), in patches, away from membranes
        patch = value_noise([z, y, x], [_ER_PATCH_NM] * 3, self._key(_F_ER_MASK))
        er_ok = block.inside & (patch > _ER_PATCH_LEVEL) & (sep > 35.0)
        if er_ok.any():
            block.paint(ER, self._er_shell(z, y, x), er_ok, _I_ER)
        for j in self._near_lines(cat.mt_a, cat.mt_u, centre, reach + _MT_RADIUS):
            sdf = _MT_RADIUS - _line_distance(block.q, cat.mt_a[j], cat.mt_u[j])
            block.paint(MICROTUBULE, sdf, block.host(cat.mt_host[j]), _I_MT)
        for j in self._near_capsules(centre, reach):
            self._mitochondrion(block, int(j))
        if self._vesicle_tree is not None:  # vesicles live in unwarped space: round
            p_centre = (lo + hi - 1) * v / 2
            p_reach = float(np.linalg.norm((hi - lo) * v)) / 2 + 30.0
            for j in self._vesicle_tree.query_ball_point(p_centre, p_reach):
                self._vesicle(block, int(j))
        # myelin: dark lamellae around the axon
        period = max(14.0, 2.4 * v)
        lamellae = np.float32(_I_MYELIN) + np.float32(16.0) * np.cos(
            sheath_sdf * np.float32(2 * np.pi / period)
        )
        block.paint(MYELIN, sheath_sdf, membrane_sdf < 0, lamellae)
        # membranes, and the axolemma inside the myelin
        axolemma = np.where(myelinated, w / 2 - np.abs(sheath_sdf), np.float32(-1e6))
        block.paint(MEMBRANE, np.maximum(membrane_sdf, axolemma), True, _I_MEMBRANE)
        for j in self._near_synapses(centre, reach):
            self._synapse(block, int(j))
        return block

    def _separation(
        self, q: tuple[F32, F32, F32], gap: F32, i1: NDArray[np.int32], i2: NDArray[np.int32]
    ) -> F32:
        """Distance (nm) to the boundary between the two nearest cells, per voxel.

        The weighted distances' difference over the length of its gradient ``|∇d₁ - ∇d₂|``
        (≈ gap / 2 where the two axes face each other). The gradient only matters near
        boundaries: it is at most the sum of the two slopes, so where that bound puts a
        voxel farther than any rule asks (60 nm), the bound is kept.
        """
        n = self.neurites_f32
        lip = self.lipschitz_f32
        bound = gap / (n[6][i1] * lip[i1] + n[6][i2] * lip[i2])
        near = np.flatnonzero(bound < 60.0)
        if not len(near):
            return bound
        j1, j2 = i1.ravel()[near], i2.ravel()[near]
        pz, py, px = (c.ravel()[near] for c in q)
        grads = []
        for i in (j1, j2):
            uz, uy, ux = n[3][i], n[4][i], n[5][i]
            dz, dy, dx = pz - n[0][i], py - n[1][i], px - n[2][i]
            t = dz * uz + dy * uy + dx * ux
            gz, gy, gx = dz - t * uz, dy - t * uy, dx - t * ux
            scale = 1 / np.maximum(np.sqrt(gz * gz + gy * gy + gx * gx), np.float32(1e-3))
            swell = np.zeros_like(t)  # d(extra radius)/dt at boutons
            for k in range(_BOUTONS):
                amp = n[7][i, k]
                if not amp.any():
                    continue
                s = (t - n[8][i, k]) / n[9][i, k]
                swell -= 2 * s / n[9][i, k] * amp * np.exp(-s * s)
            k_i = n[6][i]
            grads.append(
                (
                    (gz * scale - swell * uz) * k_i,
                    (gy * scale - swell * uy) * k_i,
                    (gx * scale - swell * ux) * k_i,
                )
            )
        (az, ay, ax), (bz, by, bx) = grads
        slope = np.sqrt((az - bz) ** 2 + (ay - by) ** 2 + (ax - bx) ** 2)
        sep = bound.ravel().copy()
        sep[near] = gap.ravel()[near] / np.maximum(slope, np.float32(0.2))
        return sep.reshape(gap.shape)

    def _er_shell(self, z: F32, y: F32, x: F32) -> F32:
        """Signed distance (nm) to a shell of the ER field's level set ``f = 0.5``.

        ``|f - 0.5| / |∇f|`` is the distance to the level set; the gradient comes from
        central differences on a grid one voxel larger, so blocks agree exactly.
        """
        v = np.float32(self.voxel_nm)
        padded = [np.concatenate([c[:1] - v, c, c[-1:] + v]) for c in (z, y, x)]
        f = value_noise(padded, [_ER_WAVELENGTH_NM] * 3, self._key(_F_ER))
        centre = f[1:-1, 1:-1, 1:-1]
        gz = f[2:, 1:-1, 1:-1] - f[:-2, 1:-1, 1:-1]
        gy = f[1:-1, 2:, 1:-1] - f[1:-1, :-2, 1:-1]
        gx = f[1:-1, 1:-1, 2:] - f[1:-1, 1:-1, :-2]
        slope = np.sqrt(gz * gz + gy * gy + gx * gx) / (2 * v)
        distance = np.abs(centre - np.float32(0.5)) / np.maximum(slope, np.float32(1e-5))
        return np.float32(_ER_HALF_NM) - distance

    def _texture(self, z: F32, y: F32, x: F32) -> F32:
        """Cytoplasm: light, with a fine granular texture (ribosomes, cytoskeleton, stain)."""
        fine = value_noise([z, y, x], [22.0] * 3, self._key(_F_TEXTURE))
        coarse = value_noise([z, y, x], [90.0] * 3, self._key(_F_TEXTURE2))
        return (
            np.float32(_I_CYTOSOL)
            + np.float32(22.0) * (fine - np.float32(0.5))
            + np.float32(14.0) * (coarse - np.float32(0.5))
        )

    @staticmethod
    def _near_lines(
        a: NDArray[np.float64], u: NDArray[np.float64], centre: NDArray[np.float64], reach: float
    ) -> NDArray[np.intp]:
        if not len(a):
            return np.zeros(0, np.intp)
        d = centre - a
        t = (d * u).sum(axis=1)
        return np.flatnonzero((d * d).sum(axis=1) - t * t < reach * reach)

    def _near_capsules(self, centre: NDArray[np.float64], reach: float) -> NDArray[np.intp]:
        cat = self.catalogue
        if not len(cat.mito_r):
            return np.zeros(0, np.intp)
        d = cat.mito_c1 - cat.mito_c0
        t = np.clip(((centre - cat.mito_c0) * d).sum(axis=1) / (d * d).sum(axis=1), 0.0, 1.0)
        gap = np.linalg.norm(centre - (cat.mito_c0 + t[:, None] * d), axis=1)
        return np.flatnonzero(gap < reach + cat.mito_r)

    def _near_synapses(self, centre: NDArray[np.float64], reach: float) -> NDArray[np.intp]:
        cat = self.catalogue
        if not len(cat.syn_r):
            return np.zeros(0, np.intp)
        gap = np.linalg.norm(cat.syn_b - centre, axis=1)
        return np.flatnonzero(gap < reach + cat.syn_r + cat.syn_depth + 2 * _MEMBRANE_NM)

    def _mitochondrion(self, block: _Block, j: int) -> None:
        """A capsule: dark rim (the double membrane), cristae across the long axis."""
        cat = self.catalogue
        c0, c1, r = cat.mito_c0[j], cat.mito_c1[j], np.float32(cat.mito_r[j])
        length = float(np.linalg.norm(c1 - c0))
        u = ((c1 - c0) / max(length, 1e-6)).astype(np.float32)
        qz, qy, qx = block.q
        dz, dy, dx = qz - np.float32(c0[0]), qy - np.float32(c0[1]), qx - np.float32(c0[2])
        s = dz * u[0] + dy * u[1] + dx * u[2]
        t = np.clip(s, 0, np.float32(length))
        ez, ey, ex = dz - t * u[0], dy - t * u[1], dx - t * u[2]
        sdf = r - np.sqrt(ez * ez + ey * ey + ex * ex)
        host = block.host(cat.mito_host[j])
        if block.img is None:
            block.labels[(sdf >= 0) & host] = MITO
            return
        # cristae: stripes across the long axis, a little wavy, not reaching the rim
        wave = np.float32(0.35) * np.sin(ez * np.float32(0.045) + ex * np.float32(0.03))
        phase = s * np.float32(2 * np.pi / cat.mito_period[j]) + np.float32(cat.mito_phase[j])
        crista = np.clip((np.cos(phase + wave) - np.float32(0.55)) / np.float32(0.3), 0, 1)
        inner = np.float32(_I_MITO) + crista * (sdf > 16.0) * np.float32(_I_CRISTA - _I_MITO)
        rim = np.clip((np.float32(13.0) - sdf) / np.float32(block.voxel) + 0.5, 0, 1)
        block.paint(MITO, sdf, host, inner + rim * (np.float32(_I_MITO_RIM) - inner))

    def _vesicle(self, block: _Block, j: int) -> None:
        """A sphere with a dark rim and a lighter lumen, in the voxels its centre is near."""
        cat, v = self.catalogue, block.voxel
        p, r = cat.ves_p[j], float(cat.ves_r[j])
        box = []
        for axis, coords in enumerate(block.coords):
            a = max(int(np.floor((p[axis] - r - v) / v)) - int(block.lo[axis]), 0)
            b = min(int(np.ceil((p[axis] + r + v) / v)) - int(block.lo[axis]) + 1, len(coords))
            if a >= b:
                return
            box.append(slice(a, b))
        where = tuple(box)
        bz, by, bx = (c[s] - np.float32(pc) for c, s, pc in zip(block.coords, box, p, strict=True))
        dist = np.sqrt(bz[:, None, None] ** 2 + by[None, :, None] ** 2 + bx[None, None, :] ** 2)
        sdf = np.float32(r) - dist
        host = block.host(cat.ves_host[j])[where]
        block.labels[where][(sdf >= 0) & host] = VESICLE
        if block.img is not None:
            rim = np.clip((np.float32(9.0) - sdf) / np.float32(v) + 0.5, 0, 1)
            lumen, dark = np.float32(_I_VESICLE_LUMEN), np.float32(_I_VESICLE_RIM)
            _blend(block.img[where], _alpha(sdf, v), lumen + rim * (dark - lumen), host)

    def _synapse(self, block: _Block, j: int) -> None:
        """The PSD (a dark lens on the dendrite's side) and the cleft beneath it."""
        cat = self.catalogue
        axon, dendrite = int(cat.syn_axon[j]), int(cat.syn_dendrite[j])
        b, normal = cat.syn_b[j], cat.syn_n[j].astype(np.float32)
        qz, qy, qx = block.q
        dz, dy, dx = qz - np.float32(b[0]), qy - np.float32(b[1]), qx - np.float32(b[2])
        along = dz * normal[0] + dy * normal[1] + dx * normal[2]
        lateral = np.sqrt(np.maximum(dz * dz + dy * dy + dx * dx - along * along, 0))
        disc = np.float32(cat.syn_r[j]) - lateral
        half, depth = np.float32(_MEMBRANE_NM / 2), np.float32(cat.syn_depth[j])
        near = np.abs(along) < 200.0
        sep, i1, i2 = block.sep, block.i1, block.i2
        # the PSD thins towards its edge: lens-shaped in section
        taper = np.float32(0.35) + np.float32(0.65) * np.clip(disc / np.float32(60.0), 0, 1)
        psd_sdf = np.minimum(np.minimum(sep - half + 1, half + depth * taper - sep), disc)
        psd_ok = (i1 == dendrite) & (i2 == axon) & near
        pair = ((i1 == axon) & (i2 == dendrite)) | ((i1 == dendrite) & (i2 == axon))
        block.paint(SYNAPSE, psd_sdf, psd_ok, _I_PSD)
        block.paint(SYNAPSE, np.minimum(half - sep, disc), pair & near, _I_CLEFT)


@dataclass
class _Block:
    """One sub-block being rendered: its coordinates, the tessellation, the outputs."""

    lo: NDArray[np.int64]  # first voxel index
    coords: tuple[F32, F32, F32]  # 1-D positions along z, y, x (nm, unwarped)
    q: tuple[F32, F32, F32]  # warped positions of every voxel
    sep: F32  # distance to the nearest cell boundary (nm)
    i1: NDArray[np.int32]  # nearest neurite
    i2: NDArray[np.int32]  # second nearest
    inside: NDArray[np.bool_]  # cytoplasm: not membrane, not myelin
    labels: NDArray[np.uint8]
    img: F32 | None  # clean intensity, when an image is wanted
    voxel: float

    def host(self, neurite: int) -> NDArray[np.bool_]:
        """The cytoplasm of one neurite."""
        return self.inside & (self.i1 == neurite)

    def paint(
        self, value: int, sdf: F32, where: NDArray[np.bool_] | bool, intensity: F32 | float
    ) -> None:
        """Label ``value`` where ``sdf ≥ 0`` (and ``where``); blend ``intensity`` anti-aliased."""
        mask = np.asarray(where, dtype=bool)
        self.labels[(sdf >= 0) & mask] = value
        if self.img is not None:
            _blend(self.img, _alpha(sdf, self.voxel), intensity, mask)


def _line_distance(q: tuple[F32, F32, F32], a: NDArray[np.float64], u: NDArray[np.float64]) -> F32:
    """Distance of every voxel to the line through ``a`` along the unit vector ``u``."""
    qz, qy, qx = q
    dz, dy, dx = qz - np.float32(a[0]), qy - np.float32(a[1]), qx - np.float32(a[2])
    t = dz * np.float32(u[0]) + dy * np.float32(u[1]) + dx * np.float32(u[2])
    return np.sqrt(np.maximum(dz * dz + dy * dy + dx * dx - t * t, np.float32(0)))


def class_fractions(labels: NDArray[np.integer[Any]]) -> dict[str, float]:
    """Fraction of voxels per class in a label volume (any shape)."""
    return fractions_from_counts(np.bincount(np.asarray(labels).ravel(), minlength=len(CLASSES)))


def fractions_from_counts(counts: NDArray[np.integer[Any]]) -> dict[str, float]:
    """Fraction per class from voxel counts indexed by label value."""
    counts = np.asarray(counts, dtype=np.int64)
    total = max(int(counts.sum()), 1)
    return {name: float(counts[i]) / total for i, name in enumerate(CLASSES)}


def shape_problem(shape: Sequence[int]) -> str | None:
    """Why ``shape`` cannot be a phantom (one line), or ``None`` when it can."""
    if len(shape) != 3:
        return f"shape must be Z Y X, got {len(shape)} values"
    sides = " × ".join(str(int(n)) for n in shape)
    if min(shape) < MIN_SIDE or max(shape) > MAX_SIDE:
        return f"each side must be {MIN_SIDE} to {MAX_SIDE} voxels, got {sides}"
    if math.prod(int(n) for n in shape) > MAX_VOXELS:
        return f"{sides} is more than 2^30 voxels, the most the phantom makes"
    return None
