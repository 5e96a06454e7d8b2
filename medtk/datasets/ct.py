"""A synthetic contrast-enhanced abdominal CT, as a DICOM series with its liver mask.

:func:`ct_phantom` builds the volume in Hounsfield units: air outside a body ellipse of
soft tissue with a subcutaneous fat layer, back muscles, a vertebra (cortical rim,
cancellous body, spinal canal) with ribs on the upper slices, the aorta and inferior
vena cava, a liver (irregular, smooth, in the patient's right upper abdomen, so on the
image's left, in the radiological convention) with a few vessels, the spleen, two
kidneys with cortex and medulla, fat around the organs and bowel gas. It is blurred a
little (the scanner's point spread) and gets correlated noise of about 15 HU, as a
reconstructed CT does. :func:`write_ct_series` writes it as one CT Image Storage file per
slice, named in shuffled order so readers must sort by position.

Geometry: array axes are ``(z, y, x)``. DICOM's patient frame is LPS: the rows of an
image run along +x (towards the patient's left), its columns along +y (posterior), and
slice ``k`` of the array lies at ``z = z0 + k * spacing_z`` (towards the head), so index 0
is the lowest (most inferior) slice. The anatomy is laid out in fractions of the field
of view, so any ``size`` and ``spacing`` give a whole abdomen in the image.

Liver disease (all off by default): ``liver_hu`` sets the parenchyma's attenuation (fat
lowers it), ``liver_surface_mm`` makes the outline nodular (scalloped bumps with notches
between them, as regenerative nodules push at the capsule in cirrhosis),
``liver_atrophy_mm`` shrinks the right lobe and enlarges the left (the caudate/left
lobe hypertrophy of cirrhosis), ``liver_mottle_hu`` adds a nodular heterogeneity to the
parenchyma and ``spleen_scale`` enlarges the spleen (portal hypertension).
``phase="unenhanced"`` gives a non-contrast scan (blood, kidneys and spleen at their
native attenuation), the phase in which liver fat is graded on CT.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from medtk.datasets._noise import smooth_noise

__all__ = ["ct_phantom", "write_ct_series"]

AIR, FAT, SOFT_TISSUE, MUSCLE = -1000.0, -100.0, 40.0, 50.0
BOWEL_WALL, SPLEEN, AORTA, IVC = 45.0, 55.0, 150.0, 120.0
VISCERAL_FAT, FLUID = -90.0, 12.0
KIDNEY_CORTEX, KIDNEY_MEDULLA = 170.0, 110.0
CANCELLOUS_BONE, CORTICAL_BONE, CSF = 420.0, 1000.0, 10.0
#: Native (non-contrast) attenuation of what enhances after contrast: blood ~40 HU,
#: kidney ~30 HU, spleen ~50 HU (so a normal liver of ~60 HU is ~10 HU above it).
UNENHANCED = {
    "aorta": 40.0,
    "ivc": 40.0,
    "liver_vessel": 40.0,
    "spleen": 50.0,
    "kidney_cortex": 32.0,
    "kidney_medulla": 28.0,
}
Phase = Literal["portal", "unenhanced"]
PHASE_DESCRIPTIONS: dict[str, str] = {
    "portal": "Abdomen portal venous, medtk phantom",
    "unenhanced": "Abdomen without contrast, medtk phantom",
}
#: Stored value = HU - RESCALE_INTERCEPT, kept within 12 bits (HU -1024 … 3071).
RESCALE_INTERCEPT = -1024
BITS_STORED = 12


def _sizes(size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(size, int):
        return size, size
    rows, cols = size
    return int(rows), int(cols)


@dataclass(frozen=True)
class _Grid:
    """Normalised in-plane coordinates (−1 … 1 across the field of view) and slice level."""

    x: NDArray[np.float32]  # (1, 1, X): −1 image left (patient right) … 1 image right
    y: NDArray[np.float32]  # (1, Y, 1): −1 anterior … 1 posterior
    t: NDArray[np.float32]  # (Z, 1, 1): 0 lowest slice … 1 highest


def _ellipse(
    g: _Grid, cx: Any, cy: Any, rx: Any, ry: Any, *, angle: float = 0.0
) -> NDArray[np.float32]:
    """Squared normalised radius of an ellipse; < 1 inside. Centre/radii may vary per slice.

    Always the full ``(z, y, x)`` shape, so masks built from it index the volume.
    """
    c, s = np.cos(angle), np.sin(angle)
    dx, dy = g.x - cx, g.y - cy
    u = (dx * c + dy * s) / rx
    v = (dy * c - dx * s) / ry
    r = (u * u + v * v).astype(np.float32)
    return np.broadcast_to(r, (g.t.shape[0], g.y.shape[1], g.x.shape[2]))


def _slab(t: NDArray[np.float32], lo: float, hi: float) -> NDArray[np.float32]:
    """Scale in (0, 1] across slices [lo, hi] (an ellipsoid's cross-section), 0 outside."""
    mid, half = (lo + hi) / 2, (hi - lo) / 2
    return np.sqrt(np.clip(1.0 - ((t - mid) / half) ** 2, 0.0, 1.0)).astype(np.float32)


def ct_phantom(
    *,
    slices: int = 40,
    size: int | tuple[int, int] = 256,
    spacing: tuple[float, float, float] = (2.5, 0.8, 0.8),
    seed: int = 0,
    liver_hu: float = 60.0,
    noise_hu: float = 15.0,
    phase: Phase = "portal",
    liver_surface_mm: float = 0.0,
    liver_atrophy_mm: float = 0.0,
    liver_mottle_hu: float = 0.0,
    spleen_scale: float = 1.0,
) -> tuple[NDArray[np.int16], NDArray[np.uint8]]:
    """A synthetic abdominal CT volume in HU and its liver mask.

    The slices cover the upper abdomen: the liver (and spleen, ribs) in the upper part,
    the kidneys in the middle, bowel below. The liver spans a contiguous run of slices.
    The disease parameters draw from their own random stream, so a healthy and a diseased
    phantom of one seed share everything else: the difference is the disease alone.

    :param slices: number of axial slices (z).
    :param size: in-plane size, ``n`` or ``(rows, columns)``.
    :param spacing: voxel size in mm as ``(z, y, x)``; sets the blur and noise texture.
    :param seed: selects organ shapes, gas pockets and noise.
    :param liver_hu: mean attenuation of liver parenchyma (before noise).
    :param noise_hu: standard deviation of the image noise.
    :param phase: ``"portal"`` (portal venous contrast phase) or ``"unenhanced"``.
    :param liver_surface_mm: size of the nodules on the liver outline (the outline moves
        by up to about twice this), 0 for a smooth capsule.
    :param liver_atrophy_mm: how far the right lobe's outline moves in (the left lobe's
        moves out by half as much).
    :param liver_mottle_hu: standard deviation of a nodular (~4 mm) attenuation pattern
        added to the parenchyma.
    :param spleen_scale: the spleen's in-plane size relative to normal.
    :return: ``(hu, liver)``: int16 HU and uint8 mask (1 = liver), both ``(z, y, x)``.
    """
    from scipy import ndimage

    rows, cols = _sizes(size)
    if slices < 1 or rows < 16 or cols < 16:
        raise ValueError(f"need at least 1 slice of 16 × 16, got {slices} × {rows} × {cols}")
    if phase not in ("portal", "unenhanced"):
        raise ValueError(f"phase must be 'portal' or 'unenhanced', got {phase!r}")
    if liver_surface_mm < 0 or liver_mottle_hu < 0 or spleen_scale <= 0:
        raise ValueError("liver_surface_mm, liver_mottle_hu must be ≥ 0 and spleen_scale > 0")
    rng = np.random.default_rng([seed, 2])
    g = _Grid(
        x=np.linspace(-1, 1, cols, dtype=np.float32)[None, None, :],
        y=np.linspace(-1, 1, rows, dtype=np.float32)[None, :, None],
        t=(np.linspace(0, 1, slices, dtype=np.float32) if slices > 1 else np.ones(1, np.float32))[
            :, None, None
        ],
    )
    shape = (slices, rows, cols)
    # smooth random fields, sized in mm so textures keep their look at any spacing

    def sigma(mm: float) -> tuple[float, ...]:
        return tuple(max(mm / s, 0.5) for s in spacing)

    wobble = smooth_noise(shape, sigma(12.0), rng)
    lumpy = smooth_noise(shape, sigma(5.0), rng)

    hu = np.full(shape, AIR, dtype=np.float32)
    hu[_ellipse(g, 0.0, 0.0, 0.88 + 0.012 * wobble, 0.68 + 0.012 * wobble) < 1] = FAT
    hu[_ellipse(g, 0.0, 0.0, 0.81, 0.61) + 0.03 * wobble < 1] = MUSCLE  # abdominal wall
    cavity = _ellipse(g, 0.0, 0.0, 0.77, 0.56) + 0.03 * wobble < 1
    # the cavity: fat (mesentery, retroperitoneum) between organs and bowel
    hu[cavity] = VISCERAL_FAT + 5.0 * lumpy[cavity]
    for side in (-1, 1):
        hu[_ellipse(g, side * 0.16, 0.52, 0.13, 0.1, angle=side * 0.3) < 1] = MUSCLE  # back
        psoas = _ellipse(g, side * 0.13, 0.27, 0.05 + 0.03 * (1 - g.t), 0.06)
        hu[psoas < 1] = MUSCLE

    liver = _largest_component(_liver(g, wobble, rng) & cavity)
    disease = np.random.default_rng([seed, 4])  # its own stream: the rest stays the same
    if liver_surface_mm > 0 or liver_atrophy_mm != 0:
        liver = _remodel_liver(
            g,
            liver,
            cavity,
            spacing,
            disease,
            surface_mm=liver_surface_mm,
            atrophy_mm=liver_atrophy_mm,
        )
    hu[liver] = liver_hu + 5.0 * lumpy[liver]
    if liver_mottle_hu > 0:
        mottle = smooth_noise(shape, sigma(4.0), disease)
        hu[liver] += liver_mottle_hu * mottle[liver]
    native = UNENHANCED if phase == "unenhanced" else {}
    _liver_vessels(g, hu, liver, rng, native.get("liver_vessel", 140.0))
    drawn = hu.copy()
    _spleen(g, hu, wobble, cavity, spleen_scale, native.get("spleen", SPLEEN))
    _kidneys(
        g,
        hu,
        native.get("kidney_cortex", KIDNEY_CORTEX),
        native.get("kidney_medulla", KIDNEY_MEDULLA),
    )
    _stomach(g, hu, cavity & ~liver)
    _bowel(g, hu, cavity & ~liver & (hu < 0), rng, spacing)
    _vessels_and_spine(g, hu, native.get("aorta", AORTA), native.get("ivc", IVC))
    liver &= hu == drawn  # organs drawn later take their place from the liver
    del drawn

    # the scanner: a little blur, then noise with a fine, correlated texture
    hu = ndimage.gaussian_filter(hu, sigma=(0.0, *(0.5 * 0.8 / s for s in spacing[1:])))
    texture = smooth_noise(shape, (0.0, 0.7, 0.7), rng)
    hu += noise_hu * texture
    hu = np.clip(np.rint(hu), RESCALE_INTERCEPT, RESCALE_INTERCEPT + 2**BITS_STORED - 1)
    return hu.astype(np.int16), liver.astype(np.uint8)


def _liver(g: _Grid, wobble: NDArray[np.float32], rng: np.random.Generator) -> NDArray[np.bool_]:
    """A large wedge: big on the right (image left), tapering across the midline, upper slices."""
    top = 1.0 + rng.uniform(0.05, 0.2)  # dome above the highest slice
    bottom = rng.uniform(0.3, 0.42)
    scale = _slab(g.t, bottom, 2 * top - bottom)
    dome = np.clip(scale, 0.2, None)
    r = _ellipse(
        g,
        -0.4 + 0.05 * (1 - scale),
        -0.1,
        0.42 * dome + 0.02 * rng.standard_normal(),
        0.4 * dome,
        angle=-0.35,
    )
    left_lobe = _ellipse(g, 0.02, -0.22, 0.32 * scale + 1e-3, 0.14 * scale + 1e-3, angle=0.25)
    field = np.minimum(r, left_lobe + 0.25) + 0.22 * wobble
    return (field < 1.0) & (scale > 0)


def _largest_component(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Keep the largest 26-connected piece, holes filled slice by slice: one organ."""
    from scipy import ndimage

    labels, count = ndimage.label(mask, structure=np.ones((3, 3, 3)))
    if count == 0:
        return mask
    sizes = np.bincount(labels.ravel())[1:]
    kept = labels == 1 + int(np.argmax(sizes))
    for k in range(kept.shape[0]):
        kept[k] = ndimage.binary_fill_holes(kept[k])
    return kept


def _remodel_liver(
    g: _Grid,
    liver: NDArray[np.bool_],
    cavity: NDArray[np.bool_],
    spacing: tuple[float, float, float],
    rng: np.random.Generator,
    *,
    surface_mm: float,
    atrophy_mm: float,
) -> NDArray[np.bool_]:
    """Move the liver's outline by a field of millimetres: nodules and lobe remodelling.

    The outline is the zero level of a signed distance (mm, negative inside); adding a
    displacement field and thresholding moves it by that many mm wherever it lies, so
    the nodules are sized in mm whatever the voxel size. Nodules are ``0.8 - |n|`` of a
    smooth noise ``n`` (~5 mm): rounded bumps meeting in sharp notches, the scalloped
    outline of a cirrhotic liver rather than a sinusoidal wobble.
    """
    from scipy import ndimage

    # only a box round the liver can change: as far out as the outline may move
    reach = 2.0 * surface_mm + 0.5 * max(atrophy_mm, 0.0) + 2 * max(spacing)
    found = np.nonzero(liver.any(axis=(1, 2)))[0], np.nonzero(liver.any(axis=(0, 2)))[0]
    found += (np.nonzero(liver.any(axis=(0, 1)))[0],)
    if not all(len(f) for f in found):
        return liver
    box = tuple(
        slice(max(int(f[0]) - pad, 0), int(f[-1]) + pad + 1)
        for f, pad in zip(found, (math.ceil(reach / s) + 1 for s in spacing), strict=True)
    )
    part = liver[box]
    inside = ndimage.distance_transform_edt(part, sampling=spacing)
    outside = ndimage.distance_transform_edt(~part, sampling=spacing)
    distance = (outside - inside).astype(np.float32)  # mm, < 0 inside
    shift = np.zeros(part.shape, dtype=np.float32)  # mm the outline moves out
    if surface_mm > 0:
        bumps = smooth_noise(part.shape, tuple(max(5.0 / s, 0.5) for s in spacing), rng)
        shift += surface_mm * (0.8 - np.abs(bumps))
    if atrophy_mm != 0:
        x = g.x[..., box[2]]
        right = np.clip((-x - 0.15) / 0.35, 0.0, 1.0)  # patient's right = image left
        left = np.clip((x + 0.05) / 0.3, 0.0, 1.0)
        shift += atrophy_mm * (0.5 * left - right)
    remodelled = np.zeros_like(liver)
    remodelled[box] = distance < shift
    return _largest_component(remodelled & cavity)


def _spleen(  # noqa: PLR0917 (the anatomy's grid, volume and fields, then its two numbers)
    g: _Grid,
    hu: NDArray[np.float32],
    wobble: NDArray[np.float32],
    cavity: NDArray[np.bool_],
    scale_xy: float = 1.0,
    value: float = SPLEEN,
) -> None:
    """Behind the stomach on the patient's left (image right), upper slices."""
    scale = _slab(g.t, 0.5, 1.1)
    rx, ry = 0.13 * scale * scale_xy + 1e-3, 0.24 * scale * scale_xy + 1e-3
    r = _ellipse(g, 0.56, 0.2, rx, ry, angle=0.7)
    hu[(r + 0.15 * wobble < 1) & (scale > 0) & cavity] = value


def _kidneys(
    g: _Grid,
    hu: NDArray[np.float32],
    cortex_hu: float = KIDNEY_CORTEX,
    medulla_hu: float = KIDNEY_MEDULLA,
) -> None:
    """Both kidneys beside the spine, the right one (image left) a little lower."""
    for side, lo, hi in ((-1, 0.0, 0.55), (1, 0.1, 0.65)):
        scale = _slab(g.t, lo, hi)
        present = scale > 0.05
        cx, angle = side * 0.34, side * 0.45
        cortex = _ellipse(g, cx, 0.27, 0.085 * scale + 1e-3, 0.15 * scale + 1e-3, angle=angle)
        hu[(cortex < 1) & present] = cortex_hu
        medulla = _ellipse(
            g, cx - side * 0.01, 0.27, 0.05 * scale + 1e-3, 0.1 * scale + 1e-3, angle=angle
        )
        hu[(medulla < 1) & present] = medulla_hu
        sinus = _ellipse(g, cx - side * 0.05, 0.25, 0.025 * scale + 1e-3, 0.05 * scale + 1e-3)
        hu[(sinus < 1) & present] = VISCERAL_FAT


def _stomach(g: _Grid, hu: NDArray[np.float32], free: NDArray[np.bool_]) -> None:
    """Upper left abdomen (image right, front): a wall around fluid with a gas cap in front."""
    scale = _slab(g.t, 0.55, 1.2)
    present = (scale > 0.1) & free
    r = _ellipse(g, 0.3, -0.22, 0.2 * scale + 1e-3, 0.15 * scale + 1e-3, angle=-0.4)
    hu[(r < 1) & present] = BOWEL_WALL
    lumen = (r < 0.7) & present
    hu[lumen] = FLUID
    hu[lumen & (g.y < -0.27)] = AIR  # supine: gas floats to the front


def _bowel(
    g: _Grid,
    hu: NDArray[np.float32],
    free: NDArray[np.bool_],
    rng: np.random.Generator,
    spacing: tuple[float, float, float],
) -> None:
    """Bowel loops (soft tissue rings) in the front and lower abdomen, some holding gas."""
    slices = hu.shape[0]
    half_fov_mm = spacing[2] * hu.shape[2] / 2
    for _ in range(90):
        cx, cy = rng.uniform(-0.6, 0.6), rng.uniform(-0.5, 0.2)
        t0 = rng.uniform(-0.1, 0.75)
        radius = rng.uniform(0.06, 0.12)  # of the half field of view
        length = radius * rng.uniform(1.0, 2.4)  # loops cut obliquely look oval
        half_t = max(radius * half_fov_mm * 1.5 / (spacing[0] * max(slices - 1, 1)), 0.04)
        angle, content = rng.uniform(0, np.pi), rng.random()
        # only the slices the loop crosses
        span = np.nonzero(_slab(g.t, t0 - half_t, t0 + half_t)[:, 0, 0] > 0.2)[0]
        if not len(span):
            continue
        z = slice(span[0], span[-1] + 1)
        part = _Grid(g.x, g.y, g.t[z])
        scale = _slab(part.t, t0 - half_t, t0 + half_t)
        r = _ellipse(part, cx, cy, length * scale + 1e-3, radius * scale + 1e-3, angle=angle)
        loop = (r < 1) & free[z]
        hu[z][loop] = BOWEL_WALL
        hu[z][loop & (r < 0.55)] = (
            AIR if content < 0.3 else FLUID if content < 0.75 else BOWEL_WALL + 15
        )


def _liver_vessels(
    g: _Grid,
    hu: NDArray[np.float32],
    liver: NDArray[np.bool_],
    rng: np.random.Generator,
    value: float = 140.0,
) -> None:
    """A few portal and hepatic vein branches crossing the liver (enhancing, or not)."""
    for _ in range(5):
        cx, cy = rng.uniform(-0.6, -0.1), rng.uniform(-0.35, 0.15)
        drift = rng.uniform(-0.15, 0.15, 2)
        r = _ellipse(g, cx + drift[0] * g.t, cy + drift[1] * g.t, 0.025, 0.025)
        hu[(r < 1) & liver] = value


def _vessels_and_spine(
    g: _Grid, hu: NDArray[np.float32], aorta_hu: float = AORTA, ivc_hu: float = IVC
) -> None:
    """Aorta left-front of the vertebra, IVC to its right; vertebra with canal; ribs."""
    hu[_ellipse(g, 0.06, 0.15, 0.055, 0.055 * 1.3) < 1] = aorta_hu
    hu[_ellipse(g, -0.1, 0.12, 0.07, 0.05) < 1] = ivc_hu
    body = _ellipse(g, 0.0, 0.33, 0.12, 0.13)
    hu[body < 1] = CORTICAL_BONE
    hu[body < 0.75] = CANCELLOUS_BONE
    arch = _ellipse(g, 0.0, 0.5, 0.1, 0.085)
    hu[(arch < 1) & (arch > 0.4)] = CORTICAL_BONE
    hu[arch <= 0.4] = CSF
    for side in (-1, 1):  # transverse processes
        hu[_ellipse(g, side * 0.13, 0.47, 0.08, 0.025, angle=side * 0.25) < 1] = CORTICAL_BONE
    hu[_ellipse(g, 0.0, 0.6, 0.025, 0.05) < 1] = CORTICAL_BONE  # spinous process
    # ribs: short bone bars along the body wall, cut obliquely, on the upper slices
    upper = g.t > 0.45
    for angle in np.linspace(0.1, 1.25, 5):
        for side in (-1, 1):
            cx, cy = side * 0.79 * np.cos(angle), 0.59 * np.sin(angle)
            tangent = side * (np.pi / 2 - angle) * 0.8
            rib = _ellipse(g, cx, cy, 0.055, 0.024, angle=float(tangent))
            hu[(rib < 1) & upper] = CORTICAL_BONE
            hu[(rib < 0.3) & upper] = CANCELLOUS_BONE


def write_ct_series(
    folder: str | os.PathLike[str],
    *,
    slices: int = 40,
    size: int | tuple[int, int] = 256,
    spacing: tuple[float, float, float] = (2.5, 0.8, 0.8),
    seed: int = 0,
    patient_id: str = "MEDTK-0001",
    liver_hu: float = 60.0,
    mask_path: str | os.PathLike[str] | None = None,
    phase: Phase = "portal",
    liver_surface_mm: float = 0.0,
    liver_atrophy_mm: float = 0.0,
    liver_mottle_hu: float = 0.0,
    spleen_scale: float = 1.0,
) -> Path:
    """Write :func:`ct_phantom` as a DICOM CT series, one file per slice.

    Files are CT Image Storage, explicit VR little endian, 12-bit unsigned pixels with
    ``RescaleIntercept = -1024``. UIDs come from :func:`pydicom.uid.generate_uid` with
    the parameters as entropy, so the same call writes identical files (change
    ``patient_id`` or ``seed`` for distinct studies). ``InstanceNumber`` counts from the
    head down and file names ``IM-0001.dcm`` … are shuffled: readers must sort by
    ``ImagePositionPatient``. ``folder`` must be new or empty; a new one appears whole.

    :param folder: output folder.
    :param slices: number of slices.
    :param size: in-plane size, ``n`` or ``(rows, columns)``.
    :param spacing: ``(slice spacing, row spacing, column spacing)`` in mm; slice
        thickness equals the slice spacing.
    :param seed: selects anatomy details and noise.
    :param patient_id: PatientID, also part of the UIDs' entropy.
    :param liver_hu: mean liver attenuation.
    :param mask_path: if given, also write the liver mask there as NIfTI (``.nii.gz``),
        its affine placing voxels where the DICOM series does (converted to RAS).
    :param phase: contrast phase, see :func:`ct_phantom`; also the SeriesDescription.
    :param liver_surface_mm: liver surface nodularity, see :func:`ct_phantom`.
    :param liver_atrophy_mm: right-lobe atrophy, see :func:`ct_phantom`.
    :param liver_mottle_hu: parenchymal heterogeneity, see :func:`ct_phantom`.
    :param spleen_scale: spleen size, see :func:`ct_phantom`.
    :return: ``folder``.
    """
    from medtk.atomic import written_aside

    folder = Path(folder)
    disease = {
        "liver_surface_mm": liver_surface_mm,
        "liver_atrophy_mm": liver_atrophy_mm,
        "liver_mottle_hu": liver_mottle_hu,
        "spleen_scale": spleen_scale,
    }
    hu, liver = ct_phantom(
        slices=slices,
        size=size,
        spacing=spacing,
        seed=seed,
        liver_hu=liver_hu,
        phase=phase,
        **disease,
    )
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise FileExistsError(f"{folder} exists and is not an empty folder")
    # patient_id first: it is the slices' PatientID too
    entropy = [patient_id, str(seed), str(hu.shape), str(spacing), f"{liver_hu:g}"]
    # options away from their defaults only, so a default call keeps its UIDs
    defaults = {"liver_surface_mm": 0.0, "liver_atrophy_mm": 0.0, "liver_mottle_hu": 0.0}
    entropy += [f"{k}={v:g}" for k, v in disease.items() if v != defaults.get(k, 1.0)]
    entropy += [f"phase={phase}"] if phase != "portal" else []
    description = PHASE_DESCRIPTIONS[phase]
    if folder.exists():
        _write_series(folder, hu, spacing, entropy, seed, description)
    else:
        with written_aside(folder, directory=True) as target:
            _write_series(target, hu, spacing, entropy, seed, description)
    if mask_path is not None:
        _write_mask(Path(mask_path), liver, spacing, _origin(hu.shape, spacing))
    return folder


def _origin(shape: tuple[int, ...], spacing: Sequence[float]) -> tuple[float, float, float]:
    """LPS position of the first voxel of the lowest slice: the volume centred on the bore."""
    slices, rows, cols = shape
    return (
        -(cols - 1) / 2 * spacing[2],
        -(rows - 1) / 2 * spacing[1],
        -100.0 - (slices - 1) * spacing[0],
    )


def _write_series(  # noqa: PLR0917 (internal: the pieces of one series)
    folder: Path,
    hu: NDArray[np.int16],
    spacing: tuple[float, float, float],
    entropy: Sequence[str],
    seed: int,
    description: str = "Abdomen portal venous, medtk phantom",
) -> None:
    """One file per slice; UIDs derived from ``entropy``, file numbers shuffled by ``seed``."""
    from pydicom.uid import generate_uid

    def uid(*what: str) -> str:
        return str(generate_uid(entropy_srcs=[*entropy, *what]))

    slices = hu.shape[0]
    shared = {
        "StudyInstanceUID": uid("study"),
        "SeriesInstanceUID": uid("series"),
        "FrameOfReferenceUID": uid("frame of reference"),
    }
    x0, y0, z0 = _origin(hu.shape, spacing)
    names = np.random.default_rng([seed, 3]).permutation(slices) + 1
    stored = (hu.astype(np.int32) - RESCALE_INTERCEPT).astype("<u2")
    for k in range(slices):
        ds = _slice_dataset(stored[k], spacing, uid("instance", str(k)), entropy[0])
        ds.SeriesDescription = description
        for keyword, value in shared.items():
            setattr(ds, keyword, value)
        ds.InstanceNumber = slices - k  # numbered from the head down, as scanners do
        ds.ImagePositionPatient = [f"{x0:g}", f"{y0:g}", f"{z0 + k * spacing[0]:g}"]
        ds.SliceLocation = f"{z0 + k * spacing[0]:g}"
        ds.save_as(folder / f"IM-{names[k]:04d}.dcm", enforce_file_format=True)


def _slice_dataset(
    pixels: NDArray[np.uint16], spacing: tuple[float, float, float], sop: str, patient_id: str
) -> Any:
    """The attributes of one CT slice that do not depend on its position in the series."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, CTImageStorage, ExplicitVRLittleEndian

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = sop
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = sop
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = "20240102"
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = "093000"
    ds.AccessionNumber = ""
    ds.Modality = "CT"
    ds.Manufacturer = "medtk"
    ds.ManufacturerModelName = "synthetic abdomen phantom"
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = "CT ABDOMEN (synthetic)"
    ds.SeriesDescription = "Abdomen portal venous, medtk phantom"
    ds.PatientName = "MEDTK^PHANTOM"
    ds.PatientID = patient_id
    ds.PatientBirthDate = ""
    ds.PatientSex = "O"
    ds.BodyPartExamined = "ABDOMEN"
    ds.SliceThickness = f"{spacing[0]:g}"
    ds.SpacingBetweenSlices = f"{spacing[0]:g}"
    ds.KVP = "120"
    ds.PatientPosition = "FFS"
    ds.StudyID = "1"
    ds.SeriesNumber = 2
    ds.AcquisitionNumber = 1
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.PositionReferenceIndicator = ""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = pixels.shape
    ds.PixelSpacing = [f"{spacing[1]:g}", f"{spacing[2]:g}"]
    ds.BitsAllocated = 16
    ds.BitsStored = BITS_STORED
    ds.HighBit = BITS_STORED - 1
    ds.PixelRepresentation = 0
    ds.WindowCenter, ds.WindowWidth = "40", "400"
    ds.RescaleIntercept = str(RESCALE_INTERCEPT)
    ds.RescaleSlope = "1"
    ds.RescaleType = "HU"
    ds.PixelData = np.ascontiguousarray(pixels).tobytes()
    return ds


def _write_mask(
    path: Path,
    mask: NDArray[np.uint8],
    spacing: tuple[float, float, float],
    origin_lps: tuple[float, float, float],
) -> None:
    """The mask as NIfTI: data ``(x, y, z)``, affine to RAS (LPS with x and y negated)."""
    import nibabel as nib

    from medtk.atomic import written_aside

    affine = np.diag([-spacing[2], -spacing[1], spacing[0], 1.0])
    affine[:3, 3] = [-origin_lps[0], -origin_lps[1], origin_lps[2]]
    image = nib.Nifti1Image(np.ascontiguousarray(mask.transpose(2, 1, 0)), affine)
    image.set_qform(affine, code=1)
    image.set_sform(affine, code=1)
    image.header.set_xyzt_units("mm", "sec")
    with written_aside(path, overwrite=True) as target:
        nib.save(image, target)
