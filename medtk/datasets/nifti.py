"""A synthetic T1-weighted brain MR (or the CT phantom) as a compressed NIfTI-1 volume.

:func:`mr_phantom` builds a head in ``(z, y, x)`` order: scalp, a skull ring (dark
cortical bone around brighter marrow), cerebrospinal fluid, a folded cortex of grey
matter over white matter, two lateral ventricles, and one bright (enhancing) lesion. Then
the scanner's look: a smooth multiplicative bias field and Rician noise (the magnitude of
complex Gaussian noise), which leaves the background a dim floor rather than zero.

NIfTI stores the first array axis as ``i`` (x), so writing transposes ``(z, y, x)`` to
``(x, y, z)``; nibabel's ``get_fdata()`` returns ``(x, y, z)`` and
``.transpose(2, 1, 0)`` gives back ``(z, y, x)``. The affine is RAS+: ``i`` runs from the
patient's left to right, ``j`` from back to front, ``k`` from feet to head, with the
volume centred on the origin; ``header.get_zooms()`` is ``spacing`` reversed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from medtk.datasets._noise import smooth_noise

__all__ = ["MR_LABELS", "mr_phantom", "nifti_affine", "write_nifti", "write_nifti_label"]

#: Label values of :func:`mr_phantom`'s segmentation.
MR_LABELS = {
    "background": 0,
    "scalp": 1,
    "skull": 2,
    "csf": 3,
    "grey matter": 4,
    "white matter": 5,
    "lesion": 6,
}
#: T1-weighted intensity per label, before bias and noise (white matter brightest tissue).
_T1 = {0: 0.0, 1: 0.85, 2: 0.12, 3: 0.18, 4: 0.55, 5: 0.8, 6: 1.0}
_MARROW = 0.45


def mr_phantom(
    *,
    shape: tuple[int, int, int] = (32, 96, 96),
    spacing: tuple[float, float, float] = (3.0, 1.0, 1.0),
    seed: int = 0,
    noise: float = 0.03,
) -> tuple[NDArray[np.float32], NDArray[np.uint8]]:
    """A synthetic T1-weighted head in ``(z, y, x)`` order, with its tissue labels.

    The head fills the field of view whatever the shape; folds, ventricles and the lesion
    are placed by ``seed``.

    :param shape: ``(z, y, x)`` voxels.
    :param spacing: ``(z, y, x)`` voxel size in mm; blur and textures are sized in mm.
    :param seed: selects the folding, lesion, bias field and noise.
    :param noise: Rician noise level as a fraction of white-matter intensity.
    :return: ``(image, labels)``: float32 intensities (white matter ≈ 0.8) and uint8
        labels (:data:`MR_LABELS`).
    """
    from scipy import ndimage

    if len(shape) != 3 or min(shape) < 1 or min(shape[1:]) < 16:
        raise ValueError(f"shape must be (z, y, x) with slices of at least 16 × 16, got {shape}")
    rng = np.random.default_rng([seed, 4])
    nz, ny, nx = shape

    def sigma(mm: float) -> tuple[float, ...]:
        return tuple(max(mm / s, 0.5) for s in spacing)

    # normalised coordinates: x −1 (left) … 1 (right), y −1 (back) … 1 (front),
    # z −1 … 1 across the slices, which cover the upper two thirds of the head
    z = (
        np.linspace(-0.55, 0.75, nz, dtype=np.float32)[:, None, None]
        if nz > 1
        else np.zeros((1, 1, 1), np.float32)
    )
    y = np.linspace(-1, 1, ny, dtype=np.float32)[None, :, None]
    x = np.linspace(-1, 1, nx, dtype=np.float32)[None, None, :]
    outline = smooth_noise(shape, sigma(25.0), rng)
    head = np.sqrt((x / 0.8) ** 2 + ((y - 0.02) / 0.92) ** 2 + (z / 0.95) ** 2)
    head = head + 0.015 * outline
    labels = np.zeros(shape, dtype=np.uint8)
    labels[head < 1.0] = MR_LABELS["scalp"]
    labels[head < 0.93] = MR_LABELS["skull"]
    labels[head < 0.86] = MR_LABELS["csf"]
    # sulci: thin clefts along the zero crossings of band-limited noise, reaching in
    # from the brain surface; cortex: a ribbon of fixed thickness under every CSF surface
    half_fov_mm = min(ny * spacing[1], nx * spacing[2]) / 2
    folds = smooth_noise(shape, [max(0.06 * half_fov_mm / s, 0.5) for s in spacing], rng)
    depth = 0.83 - head  # > 0 inside the brain, in normalised units
    brain = depth > 0
    fluid = (np.abs(folds) < 0.12) & (depth < 0.16 + 0.05 * outline)
    for side in (-1, 1):  # lateral ventricles: butterfly, frontal horns close together
        behind = np.clip(0.2 - y, 0, None)  # the atria diverge towards the back
        horn = ((x - side * (0.05 + 0.35 * behind)) / (0.045 + 0.04 * behind)) ** 2
        horn = horn + ((y + 0.05) / 0.36) ** 2 + ((z - 0.1) / 0.25) ** 2
        fluid |= horn < 1
    fluid[:, :, nx // 2 - 1 : nx // 2 + 1] |= depth[:, :, nx // 2 - 1 : nx // 2 + 1] < 0.5
    labels[brain] = MR_LABELS["grey matter"]
    labels[brain & fluid] = MR_LABELS["csf"]
    csf_distance = ndimage.distance_transform_edt(brain & ~fluid, sampling=spacing)
    cortex_mm = max(0.055 * half_fov_mm, 1.5 * min(spacing))
    labels[brain & ~fluid & (csf_distance > cortex_mm)] = MR_LABELS["white matter"]
    for side in (-1, 1):  # deep grey matter beside the ventricles
        nucleus = (
            ((x - side * 0.24) / 0.1) ** 2 + ((y + 0.05) / 0.18) ** 2 + ((z + 0.05) / 0.2) ** 2
        )
        labels[(nucleus < 1) & (labels == MR_LABELS["white matter"])] = MR_LABELS["grey matter"]
    core, edema = _lesion(
        labels, (csf_distance > 2.5 * cortex_mm) & (np.abs(x) > 0.3), spacing, half_fov_mm, rng
    )
    lut = np.array([_T1[i] for i in range(len(_T1))], dtype=np.float32)
    image = lut[labels]
    image[(labels == MR_LABELS["skull"]) & (np.abs(head - 0.895) < 0.012)] = _MARROW  # diploë
    image[core] = 0.3  # necrotic centre inside the enhancing rim
    image[edema] = 0.62  # oedema: darker white matter around the lesion
    image *= 1.0 + 0.04 * smooth_noise(shape, sigma(6.0), rng)  # tissue texture
    image = ndimage.gaussian_filter(image, [0.6 / s for s in spacing])  # partial volume
    bias = np.exp(0.12 * smooth_noise(shape, sigma(60.0), rng) + 0.08 * y - 0.05 * z)
    image *= bias.astype(np.float32)
    # Rician noise: the magnitude of the signal plus complex Gaussian noise
    scale = noise * _T1[MR_LABELS["white matter"]]
    real = image + scale * rng.standard_normal(shape, dtype=np.float32)
    imag = scale * rng.standard_normal(shape, dtype=np.float32)
    return np.hypot(real, imag).astype(np.float32), labels


def _lesion(
    labels: NDArray[np.uint8],
    where: NDArray[np.bool_],
    spacing: tuple[float, float, float],
    half_fov_mm: float,
    rng: np.random.Generator,
) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Label one ring-enhancing lesion centred somewhere in ``where``; ``(core, oedema)``."""
    core = np.zeros(labels.shape, dtype=bool)
    edema = np.zeros(labels.shape, dtype=bool)
    candidates = np.argwhere(where)
    if not len(candidates):
        return core, edema
    centre = candidates[rng.integers(len(candidates))]
    radius_mm = rng.uniform(0.08, 0.13) * half_fov_mm
    grids = np.ogrid[: labels.shape[0], : labels.shape[1], : labels.shape[2]]
    dist = np.sqrt(sum(((g - c) * s) ** 2 for g, c, s in zip(grids, centre, spacing, strict=True)))
    tissue = (labels == MR_LABELS["white matter"]) | (labels == MR_LABELS["grey matter"])
    labels[(dist < radius_mm) & tissue] = MR_LABELS["lesion"]
    core = (dist < 0.6 * radius_mm) & (labels == MR_LABELS["lesion"])
    edema = (dist < 1.7 * radius_mm) & (labels == MR_LABELS["white matter"])
    return core, edema


def nifti_affine(shape: tuple[int, int, int], spacing: tuple[float, float, float]) -> NDArray:
    """RAS+ affine of a ``(z, y, x)`` volume stored as ``(x, y, z)``, centred on the origin.

    :param shape: ``(z, y, x)`` voxels.
    :param spacing: ``(z, y, x)`` voxel size in mm.
    """
    zooms = np.array(spacing[::-1], dtype=np.float64)
    dims = np.array(shape[::-1], dtype=np.float64)
    affine = np.diag([*zooms, 1.0])
    affine[:3, 3] = -(dims - 1) / 2 * zooms
    return affine


def _save(path: Path, data: NDArray, spacing: tuple[float, float, float]) -> Path:
    """Write ``(z, y, x)`` data as NIfTI-1 with both qform and sform, units mm."""
    import nibabel as nib

    from medtk.atomic import written_aside

    affine = nifti_affine(data.shape, spacing)  # type: ignore[arg-type]
    image = nib.Nifti1Image(np.ascontiguousarray(data.transpose(2, 1, 0)), affine)
    image.set_qform(affine, code=1)  # scanner anatomical
    image.set_sform(affine, code=1)
    image.header.set_xyzt_units("mm", "sec")
    image.header["descrip"] = b"medtk synthetic phantom"
    with written_aside(path, overwrite=True) as target:
        nib.save(image, target)
    return path


def write_nifti(
    path: str | os.PathLike[str],
    *,
    shape: tuple[int, int, int] = (32, 96, 96),
    spacing: tuple[float, float, float] = (3.0, 1.0, 1.0),
    seed: int = 0,
    kind: Literal["mr", "ct"] = "mr",
    dtype: Literal["int16", "float32"] = "int16",
) -> Path:
    """Write a synthetic volume as ``.nii.gz`` (or ``.nii``, by the suffix of ``path``).

    ``shape`` and ``spacing`` are ``(z, y, x)``; the file stores the transpose
    ``(x, y, z)`` (see the module docstring). An existing file is replaced.

    :param path: output file.
    :param shape: ``(z, y, x)`` voxels.
    :param spacing: ``(z, y, x)`` voxel size in mm.
    :param seed: selects anatomy and noise.
    :param kind: ``"mr"``: :func:`mr_phantom` (int16 scales white matter to ≈ 800);
        ``"ct"``: the CT phantom of :mod:`medtk.datasets.ct`, in HU.
    :param dtype: stored data type.
    :return: ``path``.
    """
    if kind == "mr":
        image, _ = mr_phantom(shape=shape, spacing=spacing, seed=seed)
        data = np.rint(image * 1000.0) if dtype == "int16" else image
    elif kind == "ct":
        from medtk.datasets.ct import ct_phantom

        hu, _ = ct_phantom(slices=shape[0], size=shape[1:], spacing=spacing, seed=seed)
        data = hu
    else:
        raise ValueError(f"kind must be 'mr' or 'ct', got {kind!r}")
    if dtype not in ("int16", "float32"):
        raise ValueError(f"dtype must be 'int16' or 'float32', got {dtype!r}")
    return _save(Path(path), data.astype(dtype), spacing)


def write_nifti_label(
    path: str | os.PathLike[str],
    *,
    shape: tuple[int, int, int] = (32, 96, 96),
    spacing: tuple[float, float, float] = (3.0, 1.0, 1.0),
    seed: int = 0,
    kind: Literal["mr", "ct"] = "mr",
) -> Path:
    """Write the labels matching :func:`write_nifti` with the same arguments (uint8).

    ``"mr"``: tissue classes of :data:`MR_LABELS`; ``"ct"``: the liver mask (1 = liver).

    :param path: output file.
    :param shape: ``(z, y, x)`` voxels.
    :param spacing: ``(z, y, x)`` voxel size in mm.
    :param seed: as given to :func:`write_nifti`.
    :param kind: ``"mr"`` or ``"ct"``.
    :return: ``path``.
    """
    if kind == "mr":
        _, labels = mr_phantom(shape=shape, spacing=spacing, seed=seed)
    elif kind == "ct":
        from medtk.datasets.ct import ct_phantom

        _, labels = ct_phantom(slices=shape[0], size=shape[1:], spacing=spacing, seed=seed)
    else:
        raise ValueError(f"kind must be 'mr' or 'ct', got {kind!r}")
    return _save(Path(path), labels, spacing)
