"""A synthetic NAFLD cohort: per patient a CT series, its liver mask, an H&E slide and scores.

The nas study's source data (abdominal CT and liver biopsy slides scored by pathologists)
is private, so medtk generates a stand-in whose images follow the scores the way the
disease does. Everything here is a pure function of the patient's scores and seed.

Scores (NASH CRN, Kleiner et al., Hepatology 2005): steatosis 0–3 (<5 %, 5–33 %,
34–66 %, >66 % of hepatocytes with macrovesicular fat), lobular inflammation 0–3 (no
foci, <2, 2–4, >4 foci per 200× field), hepatocyte ballooning 0–2 (none, few, many),
fibrosis 0–4 (none; zone 3 perisinusoidal or portal; perisinusoidal and periportal;
bridging; cirrhosis), with 3.5 for incomplete cirrhosis as it occurs in the source's
table.

**Assumed cohort distribution.** The source's exact score distribution is not public
here. :func:`draw_patients` draws a plausible one for a biopsy-proven NAFLD cohort, from
published NASH CRN-type cohorts in broad strokes: marginals steatosis 0/1/2/3 =
5/35/33/27 %, lobular inflammation 5/50/33/12 %, ballooning 30/38/32 %, fibrosis
0/1/2/3/3.5/4 = 22/26/17/17/6/12 %. Scores are correlated through a Gaussian copula:
fibrosis with ballooning (ρ 0.55) and inflammation (0.45), inflammation with ballooning
(0.45), steatosis mildly with both (0.3–0.35) and barely with fibrosis (0.05: fat
recedes in cirrhosis, "burnt-out" NASH). The marginal counts are met exactly (largest
remainder), the copula decides who gets which; a different seed reassigns them.

**CT** (unenhanced, the phase in which liver fat is graded). Liver attenuation falls
with fat: a normal liver is ~55–65 HU and ~8–10 HU above the spleen; liver < 40 HU or
liver − spleen < −10 HU suggests ≥ 30 % macrovesicular steatosis (Park et al.,
Radiology 2006; Kodama et al., AJR 2007 found ~−0.6 HU per % fat). Here liver HU =
62 − 0.7 × (% hepatocytes with fat) + N(0, 3): grade 0 ≈ 59–62, grade 1 ≈ 39–58,
grade 2 ≈ 16–38, grade 3 ≈ 0–15 HU (before the patient scatter); the spleen is 50 HU.
Fibrosis makes the surface nodular (liver surface nodularity, Smith et al., Radiology
2016; nodules up to 0.3/0.7/1.4/2.4/3.5 mm at stage 1/2/3/3.5/4, so that the later
stages show at the cohort's 2 mm pixels as a scalloped outline), shrinks the right lobe
and enlarges the left (caudate–right lobe ratio > 0.65 in cirrhosis; 1.5/4/7 mm at
stage 3/3.5/4), mottles the parenchyma (regenerative nodules) and, at stage ≥ 3.5,
enlarges the spleen (×1.12, ×1.3). The volume spans 160 mm of upper abdomen over a
384 mm field of view whatever the voxel counts.

**H&E** (:class:`LiverSlide`: 20×, 0.5 µm/px; one needle core 1.1–1.4 mm wide, or two
fragments 0.75–0.95 mm wide, running nearly the slide's length as a crop of a longer
core would; 4096² px is 2 × 2 mm and gives ~7–15 patches of 224 px at 5× that pass a
mean ≤ 220 background test, fewer in severe steatosis, whose fat is as white as glass).
Lobules are the Voronoi cells of a jittered hexagonal lattice of central veins (~0.7 mm
apart); portal tracts (portal vein, hepatic artery, bile duct in collagen) sit at the
lattice's Voronoi vertices; hepatocytes (~24 µm) are a power diagram of a jittered
lattice, in plates separated by radial sinusoids. Steatosis: that share of hepatocytes
holds one large clear vacuole, its nucleus a crescent at the rim (zone 3 first,
panacinar when severe; sinusoids narrow as fat crowds them). Ballooning: that share of
hepatocytes (grade 1: 0.3–1 %, 2: 1.5–4 %, mostly zone 3) is enlarged ~1.6×, pale, with
wispy cytoplasm and sometimes a Mallory–Denk body. Lobular inflammation: foci of 12–40
lymphocytes (dense small dark blue nuclei) at the grade's rate per 200× field, taken as
0.95 mm² (field number 22). Fibrosis: zone 3 pericellular "chicken-wire" collagen from
stage 1, periportal spurs from stage 2, portal–portal (and some portal–central) bridging
septa from stage 3 and complete septa around nodules without central veins at stage 4,
in pink-red collagen with fibroblasts and lymphocytes. Stains are computed every 2
level-0 pixels (1 µm) and interpolated, sensor noise per pixel: about what a 20× scan
resolves, at a quarter of the work.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from medtk.datasets._noise import (
    field_key,
    hash_uniform,
    stripe_noise,
    value_noise_grid,
    value_noise_points,
)
from medtk.datasets.wsi import SyntheticSlide, _pixel_noise, _stamp

__all__ = [
    "FIBROSIS_STAGES",
    "LABELS_FILE",
    "SCORE_COLUMNS",
    "CtAppearance",
    "Histology",
    "LiverSlide",
    "Patient",
    "ct_appearance",
    "draw_patients",
    "histology",
    "patient_from_scores",
    "read_labels",
    "score_counts",
    "write_ct",
    "write_labels",
    "write_patient",
    "write_slide",
]

SCORE_COLUMNS = ("steatosis", "lobular", "ballooning", "fibrosis")
LABELS_FILE = "labels.csv"
FIBROSIS_STAGES = (0.0, 1.0, 2.0, 3.0, 3.5, 4.0)

#: Assumed marginal distribution per score (see the module docstring), in score order.
MARGINALS: dict[str, tuple[float, ...]] = {
    "steatosis": (0.05, 0.35, 0.33, 0.27),
    "lobular": (0.05, 0.50, 0.33, 0.12),
    "ballooning": (0.30, 0.38, 0.32),
    "fibrosis": (0.22, 0.26, 0.17, 0.17, 0.06, 0.12),
}
#: Assumed correlation of the latent severities (steatosis, lobular, ballooning, fibrosis).
CORRELATION = np.array(
    [
        [1.00, 0.30, 0.35, 0.05],
        [0.30, 1.00, 0.45, 0.45],
        [0.35, 0.45, 1.00, 0.55],
        [0.05, 0.45, 0.55, 1.00],
    ]
)
#: Share of hepatocytes with macrovesicular fat per steatosis grade (NASH CRN bands).
FAT_BANDS = ((0.0, 0.045), (0.05, 0.33), (0.34, 0.66), (0.67, 0.88))
#: Lobular inflammatory foci per 200× field per grade, and that field's area in mm².
FOCI_BANDS = ((0.0, 0.0), (0.4, 1.8), (2.0, 4.0), (4.6, 7.0))
FIELD_MM2 = 0.95
#: Share of hepatocytes ballooned per ballooning grade.
BALLOON_BANDS = ((0.0, 0.0), (0.003, 0.01), (0.015, 0.04))
#: Spleen attenuation on unenhanced CT (medtk.datasets.ct.UNENHANCED).
SPLEEN_HU = 50.0


# ---- scores ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Patient:
    """One patient's scores and where in each score's band they lie.

    ``fat``, ``foci`` and ``balloon`` are the continuous quantities the images show (the
    pathologist's grade is a binning of them); ``seed`` selects anatomy and details.
    """

    patient: str
    steatosis: int
    lobular: int
    ballooning: int
    fibrosis: float
    seed: int
    #: share of hepatocytes with macrovesicular fat, 0–1
    fat: float = 0.0
    #: lobular inflammatory foci per 200× field
    foci: float = 0.0
    #: share of hepatocytes ballooned, 0–1
    balloon: float = 0.0

    def scores(self) -> dict[str, Any]:
        """The raw NASH-CRN scores as ``labels.csv`` has them."""
        return {
            "patient": self.patient,
            "steatosis": self.steatosis,
            "lobular": self.lobular,
            "ballooning": self.ballooning,
            "fibrosis": self.fibrosis,
        }


def patient_from_scores(
    patient: str,
    *,
    steatosis: int,
    lobular: int,
    ballooning: int,
    fibrosis: float,
    seed: int = 0,
    position: float = 0.5,
) -> Patient:
    """A patient with given scores, each continuous quantity at ``position`` in its band.

    For tests and demos that need a particular grade rather than a drawn cohort.
    """
    _check_scores(steatosis, lobular, ballooning, fibrosis)
    return Patient(
        patient,
        steatosis,
        lobular,
        ballooning,
        float(fibrosis),
        seed,
        fat=_in_band(FAT_BANDS[steatosis], position),
        foci=_in_band(FOCI_BANDS[lobular], position),
        balloon=_in_band(BALLOON_BANDS[ballooning], position),
    )


def _check_scores(steatosis: int, lobular: int, ballooning: int, fibrosis: float) -> None:
    if steatosis not in range(4) or lobular not in range(4) or ballooning not in range(3):
        raise ValueError(
            f"scores out of range: steatosis {steatosis} (0–3), lobular {lobular} (0–3), "
            f"ballooning {ballooning} (0–2)"
        )
    if float(fibrosis) not in FIBROSIS_STAGES:
        raise ValueError(f"fibrosis must be one of {FIBROSIS_STAGES}, got {fibrosis}")


def _in_band(band: tuple[float, float], position: float) -> float:
    lo, hi = band
    return float(lo + (hi - lo) * min(max(position, 0.0), 1.0))


def _counts(shares: Sequence[float], n: int) -> list[int]:
    """``n`` split by ``shares`` with largest remainders, so the counts sum to ``n``."""
    raw = [share * n for share in shares]
    counts = [math.floor(r) for r in raw]
    order = sorted(range(len(raw)), key=lambda i: (counts[i] - raw[i], i))
    for i in order[: n - sum(counts)]:
        counts[i] += 1
    return counts


def draw_patients(n: int, seed: int = 0) -> list[Patient]:
    """``n`` patients ``P001`` … with correlated scores from the assumed distribution.

    Latent severities are drawn from a Gaussian copula (:data:`CORRELATION`); each score
    gives its :data:`MARGINALS` counts to the patients by rank of their latent severity,
    and a patient's rank inside its grade places its continuous quantity (fat share,
    foci, ballooned share) inside the grade's band, so a patient's images and grades
    agree. Deterministic in ``(n, seed)``.

    :param n: number of patients (1–999).
    :param seed: selects the latent draws and every patient's image seed.
    """
    if not 1 <= n <= 999:
        raise ValueError(f"need 1 to 999 patients, got {n}")
    rng = np.random.default_rng([seed, 1001])
    latent = rng.standard_normal((n, 4)) @ np.linalg.cholesky(CORRELATION).T
    grades: dict[str, NDArray[np.int64]] = {}
    positions: dict[str, NDArray[np.float64]] = {}
    for column, name in enumerate(SCORE_COLUMNS):
        order = np.argsort(latent[:, column], kind="stable")
        grade = np.empty(n, dtype=np.int64)
        position = np.empty(n, dtype=np.float64)
        start = 0
        for value, count in enumerate(_counts(MARGINALS[name], n)):
            members = order[start : start + count]
            grade[members] = value
            position[members] = (np.arange(count) + 0.5) / max(count, 1)
            start += count
        grades[name], positions[name] = grade, position
    image_seeds = np.random.SeedSequence([seed, 1002]).generate_state(n) % 2**31
    patients = []
    for i in range(n):
        steatosis, lobular = int(grades["steatosis"][i]), int(grades["lobular"][i])
        ballooning = int(grades["ballooning"][i])
        patients.append(
            Patient(
                f"P{i + 1:03d}",
                steatosis,
                lobular,
                ballooning,
                FIBROSIS_STAGES[int(grades["fibrosis"][i])],
                int(image_seeds[i]),
                fat=_in_band(FAT_BANDS[steatosis], positions["steatosis"][i]),
                foci=_in_band(FOCI_BANDS[lobular], positions["lobular"][i]),
                balloon=_in_band(BALLOON_BANDS[ballooning], positions["ballooning"][i]),
            )
        )
    return patients


def write_labels(path: str | os.PathLike[str], patients: Sequence[Patient]) -> Path:
    """``patient,steatosis,lobular,ballooning,fibrosis`` with the raw scores (3.5 kept)."""
    path = Path(path)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["patient", *SCORE_COLUMNS])
        for p in patients:
            writer.writerow([p.patient, p.steatosis, p.lobular, p.ballooning, f"{p.fibrosis:g}"])
    return path


def score_counts(patients: Sequence[Patient]) -> dict[str, dict[str, int]]:
    """How many patients have each value of each score (for the task's record)."""
    counts: dict[str, dict[str, int]] = {}
    for name in SCORE_COLUMNS:
        values = sorted({getattr(p, name) for p in patients})
        counts[name] = {f"{v:g}": sum(getattr(p, name) == v for p in patients) for v in values}
    return counts


def read_labels(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The rows of a ``labels.csv``, scores as numbers."""
    with Path(path).open(newline="", encoding="utf-8") as f:
        return [
            {
                "patient": row["patient"],
                **{k: int(row[k]) for k in SCORE_COLUMNS[:3]},
                "fibrosis": float(row["fibrosis"]),
            }
            for row in csv.DictReader(f)
        ]


# ---- CT -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CtAppearance:
    """The keyword arguments of :func:`medtk.datasets.ct_phantom` one patient gets."""

    liver_hu: float
    liver_surface_mm: float
    liver_atrophy_mm: float
    liver_mottle_hu: float
    spleen_scale: float

    def kwargs(self) -> dict[str, float]:
        """As keyword arguments of ``ct_phantom`` / ``write_ct_series``."""
        return {
            "liver_hu": self.liver_hu,
            "liver_surface_mm": self.liver_surface_mm,
            "liver_atrophy_mm": self.liver_atrophy_mm,
            "liver_mottle_hu": self.liver_mottle_hu,
            "spleen_scale": self.spleen_scale,
        }


#: Per fibrosis stage: surface nodule size (mm), right-lobe atrophy (mm), mottle (HU),
#: spleen scale.
_CT_FIBROSIS = {
    0.0: (0.0, 0.0, 0.0, 1.0),
    1.0: (0.3, 0.0, 0.5, 1.0),
    2.0: (0.7, 0.0, 1.0, 1.0),
    3.0: (1.4, 1.5, 2.0, 1.0),
    3.5: (2.4, 4.0, 3.5, 1.12),
    4.0: (3.5, 7.0, 6.0, 1.3),
}


def ct_appearance(patient: Patient) -> CtAppearance:
    """How the patient's liver looks on unenhanced CT, from fat share and fibrosis stage.

    Fat lowers attenuation by 0.7 HU per % of hepatocytes (see the module docstring)
    with a patient scatter of 3 HU (scanner calibration, iron, glycogen); fibrosis
    scales nodularity, atrophy and mottle with a ±20 % patient scatter.
    """
    rng = np.random.default_rng([patient.seed, 11])
    liver_hu = 62.0 - 70.0 * patient.fat + 3.0 * float(rng.standard_normal())
    surface, atrophy, mottle, spleen = _CT_FIBROSIS[patient.fibrosis]
    scatter = float(rng.uniform(0.8, 1.2))
    return CtAppearance(
        liver_hu=round(liver_hu, 1),
        liver_surface_mm=surface * scatter,
        liver_atrophy_mm=atrophy * scatter,
        liver_mottle_hu=mottle * scatter,
        spleen_scale=spleen,
    )


def ct_spacing(size: int, slices: int) -> tuple[float, float, float]:
    """Voxel size for a 384 mm field of view and 160 mm of z (an upper abdomen).

    The phantom lays anatomy out in fractions of the field of view, so this keeps
    organs at their real size in mm whatever ``size`` and ``slices``.
    """
    return (160.0 / slices, 384.0 / size, 384.0 / size)


def write_ct(
    folder: str | os.PathLike[str],
    patient: Patient,
    *,
    slices: int = 32,
    size: int = 192,
    mask_path: str | os.PathLike[str] | None = None,
) -> Path:
    """Write the patient's unenhanced abdominal CT as a DICOM series (and liver mask).

    :param folder: new or empty folder for the slices.
    :param patient: whose CT.
    :param slices: number of axial slices over 160 mm.
    :param size: in-plane pixels over a 384 mm field of view.
    :param mask_path: where to write the liver mask (NIfTI), if anywhere.
    """
    from medtk.datasets import write_ct_series

    return write_ct_series(
        folder,
        slices=slices,
        size=size,
        spacing=ct_spacing(size, slices),
        seed=patient.seed,
        patient_id=patient.patient,
        mask_path=mask_path,
        phase="unenhanced",
        **ct_appearance(patient).kwargs(),
    )


# ---- H&E ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Histology:
    """What a liver biopsy shows, in the quantities a pathologist estimates.

    :param fat: share of hepatocytes with a macrovesicular fat vacuole, 0–1.
    :param balloon: share of hepatocytes ballooned, 0–1.
    :param foci_per_mm2: lobular inflammatory foci per mm² of parenchyma.
    :param fibrosis: NASH CRN stage (0, 1, 2, 3, 3.5, 4).
    :param portal_inflammation: lymphocytes' share of the nuclei in portal tracts
        and septa.
    """

    fat: float = 0.02
    balloon: float = 0.0
    foci_per_mm2: float = 0.0
    fibrosis: float = 0.0
    portal_inflammation: float = 0.15


def histology(patient: Patient) -> Histology:
    """The patient's biopsy: fat share, ballooned share and foci from the scores' bands."""
    return Histology(
        fat=patient.fat,
        balloon=patient.balloon,
        foci_per_mm2=patient.foci / FIELD_MM2,
        fibrosis=patient.fibrosis,
        portal_inflammation=0.12 + 0.08 * patient.lobular + 0.04 * patient.fibrosis,
    )


@dataclass(frozen=True)
class _Stage:
    """How fibrosis shows at one stage; lengths in µm."""

    portal_scale: float  # portal tract size relative to normal
    spur_um: float  # length of periportal spurs along the lobule borders
    spur_share: float  # share of a portal tract's borders with a spur
    bridge_share: float  # share of lobule borders that are complete septa
    septum_um: float  # septum width
    central_share: float  # share of portal tract–central vein pairs bridged
    pericellular: float  # zone 3 chicken-wire collagen, 0–1
    vein_share: float  # share of lobules that keep a central vein


_STAGES = {
    0.0: _Stage(1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0),
    1.0: _Stage(1.15, 40.0, 0.3, 0.0, 10.0, 0.0, 0.55, 1.0),
    2.0: _Stage(1.35, 150.0, 0.8, 0.03, 14.0, 0.0, 0.65, 1.0),
    3.0: _Stage(1.5, 190.0, 0.9, 0.55, 30.0, 0.2, 0.7, 0.95),
    3.5: _Stage(1.65, 220.0, 1.0, 0.85, 38.0, 0.35, 0.6, 0.6),
    4.0: _Stage(1.8, 0.0, 1.0, 1.0, 50.0, 0.5, 0.5, 0.15),
}

#: Lattice spacings in µm: central veins (lobules), hepatocytes, stromal nuclei,
#: and the cells over which inflammatory foci are drawn.
_LOBULE_UM, _HEPATOCYTE_UM, _STROMA_UM, _FOCUS_CELL_UM = 700.0, 24.0, 11.0, 250.0
#: Width of a hepatocyte plate (with its sinusoid) 220 µm from the central vein.
_PLATE_UM = 40.0
#: How far (µm) the smooth warp of the plane moves lobule borders.
_WARP_UM = 110.0
#: Lobule geometry is computed every this many pixels and interpolated.
_COARSE = 8

(
    _K_VEIN_X,
    _K_VEIN_Y,
    _K_VEIN_R,
    _K_VEIN_KEEP,
    _K_EDGE,
    _K_SPUR,
    _K_VERTEX,
    _K_CENTRAL,
    _K_HEP_X,
    _K_HEP_Y,
    _K_HEP_KIND,
    _K_HEP_BALLOON,
    _K_HEP_SHAPE,
    _K_HEP_NUCLEUS,
    _K_HEP_ANGLE,
    _K_HEP_TINT,
    _K_SINUSOID,
    _K_KUPFFER,
    _K_STROMA_X,
    _K_STROMA_Y,
    _K_STROMA_KIND,
    _K_STROMA_SHAPE,
    _K_SHAPE1,
    _K_SHAPE2,
    _K_EDGE1,
    _K_EDGE2,
    _K_LIGHT,
    _K_PIXEL,
    _K_GRAIN,
    _K_WEB,
    _K_CHROMATIN,
    _K_RAGGED,
    _K_FIBRE,
    _K_RBC,
    _K_MALLORY,
    _K_WIDTH,
    _K_PLATE,
    _K_WARP_X,
    _K_WARP_Y,
) = range(201, 240)


@dataclass(frozen=True)
class _Lobules:
    """Lobule geometry at points, lengths in level-0 pixels.

    ``collagen``, ``central_lumen``, ``portal_vein``, ``artery``, ``duct`` are signed
    distances (negative inside); ``vein`` the distance to the nearest central vein's
    centre; ``zone`` 0 at the central vein (zone 3) … 1 at the portal tract (zone 1);
    ``radial`` the unit vector away from the central vein; ``along`` the unit vector
    along the nearest lobule border (septa's fibres run that way); ``vein_id`` the
    nearest central vein's lattice index (not interpolated).
    """

    collagen: NDArray[np.float32]
    central_lumen: NDArray[np.float32]
    portal_vein: NDArray[np.float32]
    artery: NDArray[np.float32]
    duct: NDArray[np.float32]
    vein: NDArray[np.float32]
    zone: NDArray[np.float32]
    radial_x: NDArray[np.float32]
    radial_y: NDArray[np.float32]
    along_x: NDArray[np.float32]
    along_y: NDArray[np.float32]
    vein_id: NDArray[np.int64]


@dataclass(frozen=True)
class _Near:
    """Points (warped) with their nearest central veins ``a``, ``b`` and their tract ``q``."""

    x: NDArray[np.float64]
    y: NDArray[np.float64]
    a: tuple[NDArray[np.float64], NDArray[np.float64]]
    b: tuple[NDArray[np.float64], NDArray[np.float64]]
    ids: tuple[NDArray[np.int64], NDArray[np.int64]]
    tract: NDArray[np.int64]
    q: tuple[NDArray[np.float64], NDArray[np.float64]]


@dataclass(frozen=True)
class _Cells:
    """Per pixel: its hepatocyte (``first_at``), the nearest other one, the border distance."""

    first_at: NDArray[np.int32]
    second_at: NDArray[np.int32]
    gap: NDArray[np.float32]
    c1x: NDArray[np.float32]
    c1y: NDArray[np.float32]


@dataclass(frozen=True)
class LiverSlide(SyntheticSlide):
    """A liver needle biopsy in H&E whose histology follows :class:`Histology`.

    Lays out one or two biopsy cores (~1 mm wide) instead of the base slide's tissue
    pieces and renders liver instead of generic tissue; everything else (tiling,
    determinism, :meth:`tissue_mask`, writing with :func:`medtk.datasets.write_slide`)
    is :class:`~medtk.datasets.SyntheticSlide`'s. Every pixel is a pure function of
    ``(seed, histology, x, y)``: tiles render independently and agree at borders.
    """

    histology: Histology = field(default_factory=Histology)
    #: Level-0 pixels between the samples the stains are computed on (see :meth:`region`).
    render_step: int = 2

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.render_step < 1:
            raise ValueError(f"render_step must be at least 1, got {self.render_step}")
        if float(self.histology.fibrosis) not in _STAGES:
            raise ValueError(f"fibrosis must be one of {FIBROSIS_STAGES}")

    # ---- layout: biopsy cores ---------------------------------------------------------------

    @cached_property
    def _pieces(self) -> tuple[Any, ...]:
        """A needle core along the slide's long axis, or two fragments side by side.

        A core is 1.1–1.4 mm wide (a 14–16 G needle's, shrunk a little by processing),
        fragments 0.75–0.95 mm; narrower where the slide is too small for them. Each
        runs nearly the slide's length, as a crop of a longer core would.
        """
        from medtk.datasets.wsi import _Piece

        rng = np.random.default_rng([self.seed, 301])
        count = 1 if rng.random() < 0.5 else 2
        w, h = self.width, self.height
        long_side, short_side = max(w, h), min(w, h)
        pitch = 0.86 / count  # share of the short side per piece, gaps included
        lo, hi = (1100.0, 1400.0) if count == 1 else (750.0, 950.0)
        pieces = []
        for i in range(count):
            width = min(self._px(rng.uniform(lo, hi)), 0.84 * pitch * short_side)
            half_length = long_side * rng.uniform(0.45, 0.5)
            across = 0.5 + (i - (count - 1) / 2) * pitch + rng.uniform(-0.02, 0.02)
            along = 0.5 + rng.uniform(-0.03, 0.03)
            cx, cy = (along * w, across * h) if w >= h else (across * w, along * h)
            rx, ry = (half_length, width / 2) if w >= h else (width / 2, half_length)
            pieces.append(_Piece(cx, cy, rx, ry, float(rng.uniform(-0.05, 0.05))))
        return tuple(pieces)

    @cached_property
    def _coverage(self) -> float:
        """The cores' area (a rectangle with rounded ends: ≈ 3.7 rx ry) over the slide's."""
        area = sum(3.7 * p.rx * p.ry for p in self._pieces)
        return float(min(area / (self.width * self.height), 0.75))

    def _pieces_field(self, x: NDArray[Any], y: NDArray[Any]) -> NDArray[np.float32]:
        """``1 - v² - u⁸`` per core: straight sides, rounded ends; glass margin kept."""
        margin = 0.06 * self._scale
        edge = np.minimum(
            np.minimum(x, self.width - x) / margin, np.minimum(y, self.height - y) / margin
        )
        best: NDArray[np.float32] | None = None
        for p in self._pieces:
            c, s = math.cos(p.angle), math.sin(p.angle)
            dx, dy = x - p.cx, y - p.cy
            u = (dx * c + dy * s) / p.rx if p.rx >= p.ry else (dy * c - dx * s) / p.ry
            v = (dy * c - dx * s) / p.ry if p.rx >= p.ry else (dx * c + dy * s) / p.rx
            value = (1.0 - v * v - (u * u) ** 4).astype(np.float32)
            best = value if best is None else np.maximum(best, value)
        assert best is not None
        return best - 2.0 * np.clip(1.0 - edge, 0, None) ** 2

    def _noise_terms(self, noise: Any) -> Any:
        """A core's outline: gently wavy, ragged at tissue scale, torn at the ends."""
        scale = self._scale
        return (
            0.12 * (noise(0.25 * scale, _K_SHAPE1) - 0.5)
            + 0.08 * (noise(0.08 * scale, _K_SHAPE2) - 0.5)
            + 7.0 * self._px(25.0) / scale * (noise(self._px(120.0), _K_EDGE1) - 0.5)
            + 7.0 * self._px(10.0) / scale * (noise(self._px(30.0), _K_EDGE2) - 0.5)
        )

    # ---- histology parameters ----------------------------------------------------------------

    @property
    def _stage(self) -> _Stage:
        return _STAGES[float(self.histology.fibrosis)]

    def _key(self, salt: int) -> int:
        return field_key(self.seed, salt)

    # ---- lobules -----------------------------------------------------------------------------

    def _veins(
        self, x0: float, y0: float, x1: float, y1: float
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64]]:
        """Central veins that can be among the 3 nearest of any point in a box: x, y, id.

        A hexagonal lattice (rows offset by half a spacing) jittered by ±22 %, so the
        lobules (its Voronoi cells) are irregular hexagons.
        """
        spacing = self._px(_LOBULE_UM)
        row = spacing * math.sqrt(3) / 2
        j = np.arange(math.floor(y0 / row) - 2, math.floor(y1 / row) + 3)[:, None]
        i = np.arange(math.floor(x0 / spacing) - 2, math.floor(x1 / spacing) + 3)[None, :]
        jx = hash_uniform(i, j, self._key(_K_VEIN_X)) - 0.5
        jy = hash_uniform(i, j, self._key(_K_VEIN_Y)) - 0.5
        vx = (i + 0.5 * (j % 2) + 0.44 * jx) * spacing
        vy = (j + 0.5 + 0.44 * jy) * row
        ids = (i + 2**20) * 2**21 + (j + 2**20)
        return vx.ravel(), vy.ravel(), np.broadcast_to(ids, vx.shape).ravel()

    def _nearest_veins(self, x: NDArray[Any], y: NDArray[Any]) -> _Near:
        """The three nearest central veins of points (in the warped plane) and their tract.

        A smooth warp of the plane first, so lobule borders (and septa) curve and portal
        tracts are irregular. The portal tract of the three veins is their Voronoi vertex
        (circumcentre), where three lobules meet.
        """
        px = self._px
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        bend = px(_WARP_UM)
        x = x + bend * (value_noise_points(x, y, px(260.0), self._key(_K_WARP_X)) - 0.5)
        y = y + bend * (value_noise_points(x, y, px(260.0), self._key(_K_WARP_Y)) - 0.5)
        vx, vy, ids = self._veins(float(x.min()), float(y.min()), float(x.max()), float(y.max()))
        d2 = (x[:, None] - vx) ** 2 + (y[:, None] - vy) ** 2
        near = np.argpartition(d2, 2, axis=1)[:, :3]
        order = np.argsort(np.take_along_axis(d2, near, axis=1), axis=1)
        near = np.take_along_axis(near, order, axis=1)
        (ax, bx, cx), (ay, by, cy) = vx[near].T, vy[near].T
        ux, uy, wx, wy = bx - ax, by - ay, cx - ax, cy - ay
        det = 2.0 * (ux * wy - uy * wx)
        det = np.where(np.abs(det) < 1e-6, 1e-6, det)
        ia, ib, ic = ids[near].T
        return _Near(
            x=x,
            y=y,
            a=(ax, ay),
            b=(bx, by),
            ids=(ia, ib),
            tract=_tract_id(ia, ib, ic),
            q=(
                ax + (wy * (ux * ux + uy * uy) - uy * (wx * wx + wy * wy)) / det,
                ay + (ux * (wx * wx + wy * wy) - wx * (ux * ux + uy * uy)) / det,
            ),
        )

    def _septa(self, n: _Near, portal_r: NDArray[np.float64]) -> NDArray[np.float64]:
        """Signed distance to septa: bridges along lobule borders, spurs, portal–central.

        A border is bridged (a complete septum) with the stage's share; otherwise it may
        carry a spur that runs out from the portal tract and tapers. Portal–central
        septa run from the tract towards the central vein and taper out before other
        tracts take over (there the triple of nearest veins changes).
        """
        st, px = self._stage, self._px
        (ax, ay), (bx, by), (ia, ib) = n.a, n.b, n.ids
        lo, hi = np.minimum(ia, ib), np.maximum(ia, ib)
        da, db = np.hypot(n.x - ax, n.y - ay), np.hypot(n.x - bx, n.y - by)
        border = (db * db - da * da) / (2.0 * np.hypot(bx - ax, by - ay) + 1e-6)
        dq = np.hypot(n.x - n.q[0], n.y - n.q[1])
        edge_u = hash_uniform(lo, hi, self._key(_K_EDGE))
        spur_u = hash_uniform(lo ^ n.tract, hi, self._key(_K_SPUR))
        half = 0.5 * px(st.septum_um) * (0.75 + 0.5 * hash_uniform(lo, hi, self._key(_K_WIDTH)))
        spur_len = px(st.spur_um) * (0.6 + 0.8 * edge_u) * (spur_u < st.spur_share)
        taper = np.clip((portal_r + spur_len - dq) / np.maximum(spur_len, 1.0), 0.0, 1.0)
        reach = np.where(edge_u < st.bridge_share, 1.0, np.sqrt(taper) * (spur_len > 0))
        septum = np.where(reach > 0, np.abs(border) - half * reach, np.inf)
        to_vein, along = _segment_distance(n.x, n.y, n.q[0], n.q[1], ax, ay)
        central = hash_uniform(n.tract, ia, self._key(_K_CENTRAL)) < st.central_share
        taper = np.clip((0.6 - along) / 0.25, 0.0, 1.0)
        central_septum = np.where(central & (taper > 0), to_vein - 0.8 * half * taper, np.inf)
        return np.minimum(septum, central_septum)

    def _lobules(self, x: NDArray[Any], y: NDArray[Any]) -> _Lobules:
        """Lobule geometry at points ``x``, ``y`` (1-D, level-0 pixels)."""
        st, px = self._stage, self._px
        n = self._nearest_veins(x, y)
        (ax, ay), (bx, by), (ia, ib) = n.a, n.b, n.ids
        (qx, qy), tract = n.q, n.tract
        da = np.hypot(n.x - ax, n.y - ay)
        dq = np.hypot(n.x - qx, n.y - qy)
        t1, t2, t3, t4 = (hash_uniform(tract, k, self._key(_K_VERTEX)) for k in range(1, 5))
        portal_r = px(40.0 + 45.0 * t1) * st.portal_scale
        collagen = np.minimum(dq - portal_r, self._septa(n, portal_r))
        # central vein: lumen and a thin collagen wall (absent in cirrhotic nodules)
        vein_r = px(22.0 + 16.0 * hash_uniform(ia, 0, self._key(_K_VEIN_R)))
        keep = hash_uniform(ia, 1, self._key(_K_VEIN_KEEP)) < st.vein_share
        central_lumen = np.where(keep, da - vein_r, np.inf)
        collagen = np.minimum(collagen, np.where(keep, np.abs(da - vein_r) - px(3.0), np.inf))
        # portal tract contents, placed by the tract's own draws
        inside = dq < portal_r
        angle = 2 * np.pi * t2

        def ring(offset: Any, turn: float, radius: Any) -> NDArray[np.float32]:
            dx = n.x - qx - offset * np.cos(angle + turn)
            dy = n.y - qy - offset * np.sin(angle + turn)
            return np.where(inside, np.hypot(dx, dy) - radius, np.inf).astype(np.float32)

        radial = np.maximum(da, 1e-3)
        # along the border, signed by vein id (not by distance): the same on both sides
        flip = np.where(ia < ib, 1.0, -1.0) / (np.hypot(bx - ax, by - ay) + 1e-6)
        return _Lobules(
            collagen=collagen.astype(np.float32),
            central_lumen=central_lumen.astype(np.float32),
            portal_vein=ring(0.42 * portal_r, 0.0, np.minimum(0.42 * portal_r, px(14 + 22 * t3))),
            artery=ring(0.5 * portal_r, np.pi + 0.5, px(9.0 + 4.0 * t4)),
            duct=ring(0.5 * portal_r, np.pi - 0.7, px(12.0 + 3.0 * t4)),
            vein=da.astype(np.float32),
            zone=(da / (da + np.maximum(dq - portal_r, 0.0) + 1e-3)).astype(np.float32),
            radial_x=((n.x - ax) / radial).astype(np.float32),
            radial_y=((n.y - ay) / radial).astype(np.float32),
            along_x=(-(by - ay) * flip).astype(np.float32),
            along_y=((bx - ax) * flip).astype(np.float32),
            vein_id=ia,
        )

    def _lobule_grid(
        self, xs: NDArray[np.float32], ys: NDArray[np.float32]
    ) -> dict[str, NDArray[np.float32]]:
        """:meth:`_lobules` on a coarse global grid, bilinearly interpolated to ``xs × ys``.

        The grid sits on multiples of :data:`_COARSE` level-0 pixels, so every tile
        interpolates between the same samples and tiles agree at their borders.
        """
        gx0 = math.floor(float(xs[0]) / _COARSE) * _COARSE
        gy0 = math.floor(float(ys[0]) / _COARSE) * _COARSE
        nx = math.floor(float(xs[-1]) / _COARSE) - gx0 // _COARSE + 2
        ny = math.floor(float(ys[-1]) / _COARSE) - gy0 // _COARSE + 2
        cx = gx0 + _COARSE * np.arange(nx, dtype=np.float64)
        cy = gy0 + _COARSE * np.arange(ny, dtype=np.float64)
        lob = self._lobules(np.tile(cx, ny), np.repeat(cy, nx))
        tx, ty = (xs - gx0) / _COARSE, (ys - gy0) / _COARSE
        ix, iy = tx.astype(np.intp), ty.astype(np.intp)
        fx = (tx - ix).astype(np.float32)[None, :]
        fy = (ty - iy).astype(np.float32)[:, None]
        out = {}
        for name in _Lobules.__dataclass_fields__:
            if name in ("vein_id", "radial_x", "radial_y"):
                continue  # not needed per pixel
            coarse = np.minimum(getattr(lob, name).reshape(ny, nx), np.float32(1e6))
            rows = coarse[:, ix] * (1 - fx) + coarse[:, ix + 1] * fx
            out[name] = rows[iy] * (1 - fy) + rows[iy + 1] * fy
        return out

    # ---- hepatocytes -------------------------------------------------------------------------

    def _hepatocyte_lattice(
        self, xs: NDArray[np.float32], ys: NDArray[np.float32]
    ) -> dict[str, Any]:
        """Hepatocytes whose cells can reach the window: centres, kinds, weights, plates.

        A jittered square lattice of ~24 µm. Each cell's kind (normal, fat-laden,
        ballooned) is drawn with a probability that depends on its acinar zone. Its
        plate is the integer part of an angular coordinate round its central vein
        (about 40 µm per plate at mid-lobule, warped), so the borders between plates
        run radially and form continuous sinusoids that fan into the vein.
        """
        hist, px = self.histology, self._px
        s = px(_HEPATOCYTE_UM)
        i0, i1 = math.floor(float(xs[0]) / s) - 2, math.floor(float(xs[-1]) / s) + 2
        j0, j1 = math.floor(float(ys[0]) / s) - 2, math.floor(float(ys[-1]) / s) + 2
        li = np.arange(i0, i1 + 1)[None, :]
        lj = np.arange(j0, j1 + 1)[:, None]
        shape = (lj.shape[0], li.shape[1])

        def u(salt: int) -> NDArray[np.float32]:
            return hash_uniform(li, lj, self._key(salt))

        cx = ((li + 0.5 + 0.7 * (u(_K_HEP_X) - 0.5)) * s).astype(np.float32)
        cy = ((lj + 0.5 + 0.7 * (u(_K_HEP_Y) - 0.5)) * s).astype(np.float32)
        at = self._lobules(cx.ravel(), cy.ravel())
        zone = at.zone.reshape(shape)
        # fat: zone 3 first while mild, panacinar when severe; the mean share is hist.fat
        fat_p = np.clip(hist.fat * (1.0 + 1.6 * (1.0 - hist.fat) * (0.5 - zone)), 0.0, 1.0)
        balloon_p = np.clip(hist.balloon * 2.0 * (1.2 - zone), 0.0, 1.0)
        stroma = at.collagen.reshape(shape) < 0
        balloon = (u(_K_HEP_BALLOON) < balloon_p) & ~stroma
        fat = (u(_K_HEP_KIND) < fat_p) & ~balloon
        weight = np.where(balloon, 0.9, np.where(fat, 0.3, 0.0)) * s * s
        theta = np.arctan2(at.radial_y, at.radial_x).reshape(shape)
        warp = value_noise_points(cx, cy, px(110.0), self._key(_K_PLATE))
        plates = 2 * np.pi * px(220.0) / px(_PLATE_UM)
        plate = np.floor(theta * plates / (2 * np.pi) + 1.6 * warp).astype(np.int64)
        plate = hash_uniform(plate, at.vein_id.reshape(shape), self._key(_K_PLATE))
        ids = (li + 2**20) * 2**21 + (lj + 2**20)
        return {
            "s": s,
            "i0": i0,
            "j0": j0,
            "shape": shape,
            "cx": cx.ravel(),
            "cy": cy.ravel(),
            "weight": weight.astype(np.float32).ravel(),
            "fat": fat.ravel(),
            "balloon": balloon.ravel(),
            "plate": plate.ravel(),
            "id": np.broadcast_to(ids, shape).ravel(),
            "shape_u": u(_K_HEP_SHAPE).ravel(),
            "angle_u": u(_K_HEP_ANGLE).ravel(),
            "nucleus_u": u(_K_HEP_NUCLEUS).ravel(),
            "tint_u": u(_K_HEP_TINT).ravel(),
            "mallory_u": u(_K_MALLORY).ravel(),
        }

    def _hepatocytes(
        self,
        xs: NDArray[np.float32],
        ys: NDArray[np.float32],
        lob: dict[str, NDArray[np.float32]],
        step: float,
    ) -> dict[str, NDArray[np.float32]]:
        """The hepatocyte layer: eosin and hematoxylin of plates, sinusoids, fat, nuclei.

        Hepatocytes are the cells of a power diagram (fat-laden and ballooned cells get
        larger weights and grow into their neighbours). A border between two plates
        opens as a sinusoid, except where a bridge joins the plates.
        """
        px = self._px
        lat = self._hepatocyte_lattice(xs, ys)
        cells = _power_cells(xs, ys, lat)
        aa = max(px(0.8), 0.7 * step)  # anti-aliasing width
        sinusoid, lining = self._sinusoids(xs, ys, lat, cells, aa)
        membrane = np.exp(-((cells.gap / max(px(0.9), step)) ** 2))
        vacuole, nucleus, body, nucleolus = self._nuclei(xs, ys, lat, cells, aa)
        own = cells.first_at
        own_balloon = lat["balloon"][own]

        def grid(lam_um: float, salt: int) -> NDArray[np.float32]:
            return _noise_on(xs, ys, px(lam_um), self._key(salt))

        grain = grid(1.4, _K_GRAIN)
        # cytoplasm: granular pink-purple, a little deeper in zone 1; ballooned: pale, webbed
        tint = lat["tint_u"][own]
        eosin = 0.56 + 0.10 * (grain - 0.5) + 0.06 * (tint - 0.5) + 0.05 * lob["zone"]
        hema = 0.16 + 0.03 * (grain - 0.5)
        if own_balloon.any():
            web = grid(3.5, _K_WEB)
            strands = np.clip(1.0 - np.abs(web - 0.5) / 0.07, 0.0, 1.0)
            eosin = np.where(own_balloon, 0.16 + 0.3 * strands, eosin)
            hema = np.where(own_balloon, 0.04 + 0.05 * strands, hema)
            # Mallory–Denk bodies: ropy eosinophilic clumps in some ballooned cells
            theta = 2 * np.pi * lat["angle_u"][own]
            clump = np.hypot(
                xs[None, :] - cells.c1x + px(5.0) * np.cos(theta),
                ys[:, None] - cells.c1y + px(5.0) * np.sin(theta),
            )
            clump_r = px(3.2) * (0.6 + 0.8 * grid(1.8, _K_MALLORY))
            mallory = np.clip((clump_r - clump) / aa, 0.0, 1.0)
            mallory *= own_balloon & (lat["mallory_u"][own] < 0.35)
            eosin = eosin + 0.75 * mallory
        eosin = eosin + 0.08 * membrane
        # zone 3 pericellular fibrosis: collagen along hepatocyte borders near the vein
        zone3 = np.clip(1.0 - lob["zone"] / 0.45, 0.0, 1.0) * self._stage.pericellular
        pericellular = zone3 * np.exp(-((cells.gap / px(1.6)) ** 2)) * (1.0 - own_balloon)
        clear = np.maximum(vacuole, sinusoid)
        eosin = eosin * (1.0 - clear) + 0.09 * sinusoid
        hema = hema * (1.0 - clear)
        chromatin = 0.75 + 0.5 * grid(0.8, _K_CHROMATIN)
        nuclear = (body * chromatin + nucleolus) * np.where(own_balloon, 1.35, 1.0)
        hema = hema + nuclear * (1.0 - clear) + 1.0 * lining
        eosin = eosin * (1.0 - 0.5 * nucleus) + 0.1 * lining
        return {
            "eosin": eosin.astype(np.float32),
            "hema": hema.astype(np.float32),
            "pericellular": pericellular.astype(np.float32),
        }

    def _sinusoids(
        self,
        xs: NDArray[np.float32],
        ys: NDArray[np.float32],
        lat: dict[str, Any],
        cells: _Cells,
        aa: float,
    ) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        """Sinusoids (borders between plates, bridged here and there) and their lining cells.

        Fat-laden hepatocytes compress the sinusoids, so they narrow with the fat share.
        Returns ``(sinusoid, lining nuclei)`` coverage.
        """
        px = self._px
        a_id, b_id = lat["id"][cells.first_at], lat["id"][cells.second_at]
        lo, hi = np.minimum(a_id, b_id), np.maximum(a_id, b_id)
        pair_u = hash_uniform(lo, hi, self._key(_K_SINUSOID))
        between = lat["plate"][cells.first_at] != lat["plate"][cells.second_at]
        open_ = (between & (pair_u > 0.12)) | (pair_u < 0.03)
        half = px(2.0) * (1.0 - 0.5 * self.histology.fat)
        sinusoid = np.clip((half - cells.gap) / aa + 0.5, 0.0, 1.0) * open_
        # lining cells: flat nuclei at the middle of some sinusoid borders
        c2x, c2y = lat["cx"][cells.second_at], lat["cy"][cells.second_at]
        sep = np.hypot(c2x - cells.c1x, c2y - cells.c1y) + 1e-3
        t = (xs[None, :] - (cells.c1x + c2x) / 2) * -(c2y - cells.c1y) / sep
        t += (ys[:, None] - (cells.c1y + c2y) / 2) * (c2x - cells.c1x) / sep
        lining = np.clip(2.5 * (1.0 - np.hypot(t / px(4.5), cells.gap / px(1.5))), 0.0, 1.0)
        lining *= open_ & (hash_uniform(lo, hi, self._key(_K_KUPFFER)) < 0.35)
        return sinusoid.astype(np.float32), lining.astype(np.float32)

    def _nuclei(
        self,
        xs: NDArray[np.float32],
        ys: NDArray[np.float32],
        lat: dict[str, Any],
        cells: _Cells,
        aa: float,
    ) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any], NDArray[Any]]:
        """Fat vacuoles and hepatocyte nuclei of each pixel's own cell.

        A fat-laden cell holds one round vacuole that pushes its nucleus to the rim, a
        flattened crescent denting the droplet (macrovesicular steatosis); other nuclei sit
        near the centre, round and vesicular with a nucleolus. Returns ``(vacuole, nucleus,
        body, nucleolus)``: coverages, and the nuclear stain of body (before chromatin
        texture) and nucleolus.
        """
        px, s = self._px, lat["s"]
        own = cells.first_at
        own_fat, own_balloon = lat["fat"][own], lat["balloon"][own]
        rel_x, rel_y = xs[None, :] - cells.c1x, ys[:, None] - cells.c1y
        vac_r = (0.37 + 0.14 * lat["shape_u"][own] + 0.05 * self.histology.fat) * s
        vacuole = np.clip((vac_r - np.hypot(rel_x, rel_y)) / aa + 0.5, 0.0, 1.0)
        vacuole *= own_fat * np.clip((cells.gap - px(1.0)) / aa, 0.0, 1.0)
        theta = 2 * np.pi * lat["angle_u"][own]
        nuc_u = lat["nucleus_u"][own]
        shift = np.where(own_fat, vac_r - px(0.8), px(2.5) * nuc_u)
        rn = px(3.9 + 1.1 * nuc_u) * np.where(own_balloon, 1.25, 1.0)
        a_ax = np.where(own_fat, rn * 1.3, rn)
        b_ax = np.where(own_fat, rn * 0.5, rn * 0.88)
        phi = np.where(own_fat, theta + np.pi / 2, 3.0 * theta)
        dxn = rel_x - shift * np.cos(theta)
        dyn = rel_y - shift * np.sin(theta)
        cos_p, sin_p = np.cos(phi), np.sin(phi)
        un = (dxn * cos_p + dyn * sin_p) / a_ax
        vn = (dyn * cos_p - dxn * sin_p) / b_ax
        rr = np.sqrt(un * un + vn * vn)
        nucleus = np.clip((1.0 - rr) * b_ax / aa + 0.5, 0.0, 1.0)
        nucleus *= np.clip(cells.gap / aa, 0.0, 1.0)
        vacuole = vacuole * (1.0 - nucleus)  # the nucleus dents the droplet: a crescent
        nucleolus = np.clip(1.0 - np.hypot(dxn - px(1.0), dyn + px(0.8)) / px(1.0), 0.0, 1.0)
        body = nucleus * (0.42 + 0.35 * rr * rr)  # chromatin gathers at the membrane
        return vacuole, nucleus, body, nucleus * 0.45 * nucleolus

    # ---- stroma, vessels and inflammation ----------------------------------------------------

    def _stroma_nuclei(
        self,
        xs: NDArray[np.float32],
        ys: NDArray[np.float32],
        lob: dict[str, NDArray[np.float32]],
        where: NDArray[np.bool_],
        step: float,
    ) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        """Fibroblasts (spindles along the septum) and lymphocytes in collagen.

        Only the pixels in ``where`` are evaluated: collagen is a small part of most
        tiles. Returns ``(fibroblast, lymphocyte)`` coverage.
        """
        px = self._px
        fib = np.zeros(where.shape, np.float32)
        lym = np.zeros(where.shape, np.float32)
        rows, cols = np.nonzero(where)
        if not len(rows):
            return fib, lym
        s = px(_STROMA_UM)
        aa = max(1.0, 0.7 * step)
        gx, gy = xs[cols], ys[rows]
        ax, ay = lob["along_x"][rows, cols], lob["along_y"][rows, cols]
        cell_i, cell_j = np.floor(gx / s).astype(np.int64), np.floor(gy / s).astype(np.int64)
        lymph_share = self.histology.portal_inflammation
        best_f = np.zeros(len(rows), np.float32)
        best_l = np.zeros(len(rows), np.float32)
        for dj in (-1, 0, 1):
            for di in (-1, 0, 1):
                i, j = cell_i + di, cell_j + dj
                ox = (i + 0.5 + 0.8 * (hash_uniform(i, j, self._key(_K_STROMA_X)) - 0.5)) * s
                oy = (j + 0.5 + 0.8 * (hash_uniform(i, j, self._key(_K_STROMA_Y)) - 0.5)) * s
                kind = hash_uniform(i, j, self._key(_K_STROMA_KIND))
                size = hash_uniform(i, j, self._key(_K_STROMA_SHAPE))
                dx, dy = gx - ox, gy - oy
                r = np.hypot(dx, dy) / px(2.9 + 0.4 * size)  # lymphocytes: small, round
                lymph = np.clip((1.0 - r) * px(2.9) / aa + 0.5, 0, 1) * (kind < lymph_share)
                best_l = np.maximum(best_l, lymph)
                u = (dx * ax + dy * ay) / px(4.5 + 2.5 * size)  # fibroblasts: spindles
                v = (dy * ax - dx * ay) / px(1.3)
                spindle = np.clip((1.0 - np.sqrt(u * u + v * v)) * px(1.3) / aa + 0.5, 0, 1)
                best_f = np.maximum(
                    best_f, spindle * ((kind >= lymph_share) & (kind < lymph_share + 0.3))
                )
        fib[rows, cols] = best_f
        lym[rows, cols] = best_l
        return fib, lym

    def _foci(
        self, xs: NDArray[np.float32], ys: NDArray[np.float32], step: float
    ) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        """Lobular inflammatory foci near the window: ``(haze, lymphocyte nuclei)``.

        ``haze`` (0–1) is where a focus crowds out hepatocytes; the nuclei are stamped
        onto the window's grid (level-0 coordinates divided by ``step``).
        """
        shape = (len(ys), len(xs))
        cell = self._px(_FOCUS_CELL_UM)
        reach = self._px(70.0)
        x0, x1, y0, y1 = float(xs[0]), float(xs[-1]), float(ys[0]), float(ys[-1])
        cx0, cx1 = math.floor((x0 - reach) / cell), math.floor((x1 + reach) / cell)
        cy0, cy1 = math.floor((y0 - reach) / cell), math.floor((y1 + reach) / cell)
        found = [
            _focus_cell(self, cy, cx) for cy in range(cy0, cy1 + 1) for cx in range(cx0, cx1 + 1)
        ]
        haze = np.zeros(shape, np.float32)
        dots = np.zeros(shape, np.float32)
        for centres, nuclei in found:
            for fx, fy, fr in centres:
                if fx + 3 * fr < x0 or fx - 3 * fr > x1 or fy + 3 * fr < y0 or fy - 3 * fr > y1:
                    continue
                d2 = (xs[None, :] - fx) ** 2 + (ys[:, None] - fy) ** 2
                haze = np.maximum(haze, np.exp(-d2 / (2 * (0.8 * fr) ** 2)))
            if len(nuclei):
                scaled = nuclei.copy()
                scaled[:, :2] = scaled[:, :2] / step + 0.5  # _stamp samples pixel centres
                scaled[:, 2:4] /= step
                origin_x, origin_y = round(x0 / step), round(y0 / step)
                dots = np.maximum(dots, _stamp(scaled, origin_x, origin_y, *shape[::-1], rim=True))
        return haze, dots

    def _make_focus_cell(self, cy: int, cx: int) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        """Foci whose centres lie in one focus cell: ``(centres (x, y, r), nuclei rows)``.

        A Poisson number of foci at the histology's rate; those that fall outside the
        parenchyma (portal tracts, septa, veins, glass) are dropped, and the rate is
        raised by a quarter to make up for them.
        """
        px = self._px
        rng = np.random.default_rng([self.seed, 307, cy + 2**20, cx + 2**20])
        area_mm2 = (_FOCUS_CELL_UM / 1000.0) ** 2
        count = int(rng.poisson(self.histology.foci_per_mm2 * area_mm2 * 1.25))
        fx = (cx + rng.random(count)) * px(_FOCUS_CELL_UM)
        fy = (cy + rng.random(count)) * px(_FOCUS_CELL_UM)
        radius = px(1.0) * rng.uniform(16.0, 30.0, count)
        if count:
            lob = self._lobules(fx, fy)
            tissue = self._field_points(fx, fy) - self._threshold > 6 * self._ramp
            keep = (lob.collagen > px(20.0)) & (lob.central_lumen > px(20.0)) & tissue
            fx, fy, radius = fx[keep], fy[keep], radius[keep]
        centres = np.stack([fx, fy, radius], axis=1).astype(np.float32)
        rows = []
        for x0, y0, r in centres:
            n = int(rng.integers(12, 41))
            spread = rng.normal(0.0, 0.5, (n, 2)) * r
            a = px(1.0) * rng.uniform(2.6, 3.3, n)
            rows.append(
                np.stack(
                    [
                        x0 + spread[:, 0],
                        y0 + spread[:, 1],
                        a,
                        a * rng.uniform(0.85, 1.0, n),
                        rng.uniform(0, np.pi, n),
                        rng.uniform(1.25, 1.55, n),
                    ],
                    axis=1,
                )
            )
        nuclei = np.concatenate(rows) if rows else np.zeros((0, 6))
        return centres.reshape(-1, 3), nuclei.astype(np.float32)

    # ---- rendering ---------------------------------------------------------------------------

    def _stains(
        self, xs: NDArray[np.float32], ys: NDArray[np.float32], step: float
    ) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        """Eosin and hematoxylin optical density on the grid ``xs × ys`` (0 on glass).

        Layers from the bottom: hepatocytes, collagen (portal tracts, septa, vein walls,
        zone 3 pericellular) with its cells, the portal tracts' duct and artery, vessel
        lumens, then lobular inflammatory foci.
        """
        px = self._px
        x0, y0, nx, ny = float(xs[0]), float(ys[0]), len(xs), len(ys)
        alpha = np.clip(
            (self._field_grid(x0, y0, nx, ny, step) - self._threshold) / self._ramp, 0.0, 1.0
        )
        if not alpha.any():
            zero = np.zeros((ny, nx), np.float32)
            return zero, zero
        lob = self._lobule_grid(xs, ys)
        hep = self._hepatocytes(xs, ys, lob, step)
        eosin, hema, collagen = self._collagen(xs, ys, lob, hep, step)
        eosin, hema, lumen = self._vessels(xs, ys, lob, eosin, hema, step)
        # lobular inflammation: lymphocytes crowding out hepatocytes
        haze, dots = self._foci(xs, ys, step)
        crowd = np.clip(1.6 * haze, 0.0, 1.0) * (1.0 - collagen) * (1.0 - lumen)
        eosin = eosin * (1.0 - 0.5 * crowd)
        hema = hema * (1.0 - 0.6 * crowd) + 0.1 * crowd
        if dots.any():
            dots = dots * (1.0 - lumen)
            chromatin = _noise_on(xs, ys, px(0.9), self._key(_K_CHROMATIN))
            hema = np.maximum(hema, dots * (0.8 + 0.4 * chromatin))
            eosin = eosin * (1.0 - 0.7 * np.clip(dots, 0.0, 1.0))
        return (alpha * eosin).astype(np.float32), (alpha * hema).astype(np.float32)

    def _collagen(
        self,
        xs: NDArray[np.float32],
        ys: NDArray[np.float32],
        lob: dict[str, NDArray[np.float32]],
        hep: dict[str, NDArray[np.float32]],
        step: float,
    ) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32]]:
        """Collagen over the hepatocytes: ``(eosin, hematoxylin, collagen coverage)``.

        Pink-red, hematoxylin-free, with ragged edges, wavy fibres along the septum and
        its fibroblasts and lymphocytes.
        """
        px = self._px

        def grid(lam_um: float, salt: int) -> NDArray[np.float32]:
            return _noise_on(xs, ys, px(lam_um), self._key(salt))

        eosin, hema = hep["eosin"], hep["hema"]
        collagen = 0.55 * hep["pericellular"]
        if not (lob["collagen"] < px(30.0)).any():
            eosin = eosin * (1.0 - collagen) + 0.6 * collagen
            return eosin, hema * (1.0 - collagen) + 0.01 * collagen, collagen
        ragged = px(5.0) * (grid(14.0, _K_RAGGED) - 0.5)
        ragged += px(14.0) * (grid(70.0, _K_RAGGED + 50) - 0.5)
        solid = np.clip(0.5 - (lob["collagen"] + ragged) / max(px(1.5), step), 0.0, 1.0)
        collagen = np.maximum(collagen, solid)
        fibres = stripe_noise(
            (xs[None, :] * lob["along_y"] - ys[:, None] * lob["along_x"]) / px(2.5)
            + 14.0 * grid(90.0, _K_FIBRE),
            self._key(_K_FIBRE),
        )
        col_eosin = 0.6 + 0.14 * (fibres - 0.5) + 0.1 * (grid(20.0, _K_FIBRE + 50) - 0.5)
        eosin = eosin * (1.0 - collagen) + col_eosin * collagen
        hema = hema * (1.0 - collagen) + 0.01 * collagen
        fib, lym = self._stroma_nuclei(xs, ys, lob, collagen > 0.35, step)
        hema = hema + collagen * (1.0 * fib + 1.35 * lym)
        eosin = eosin * (1.0 - 0.4 * collagen * np.maximum(fib, lym))
        return eosin, hema, collagen

    def _vessels(  # noqa: PLR0917 (the grid, the geometry, the two stains and the step)
        self,
        xs: NDArray[np.float32],
        ys: NDArray[np.float32],
        lob: dict[str, NDArray[np.float32]],
        eosin: NDArray[np.float32],
        hema: NDArray[np.float32],
        step: float,
    ) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32]]:
        """Bile duct, hepatic artery and the lumens: ``(eosin, hematoxylin, lumen)``.

        The duct is a ring of cuboidal cells round a small lumen, the artery a thick
        muscular wall (pink, with nuclei); lumens are plasma-tinted glass.
        """
        px = self._px
        aa = max(px(0.8), 0.7 * step)
        lumen = np.clip(0.5 - lob["central_lumen"] / aa, 0.0, 1.0)
        duct, artery = lob["duct"], lob["artery"]
        if (duct < px(20.0)).any() or (artery < px(20.0)).any():
            ring = np.clip(1.0 - np.abs(duct + px(4.5)) / px(4.5), 0.0, 1.0) ** 0.3
            nuclei = _noise_on(xs, ys, px(3.2), self._key(_K_CHROMATIN + 50)) > 0.5
            eosin = eosin * (1.0 - ring) + 0.3 * ring
            hema = hema * (1.0 - ring) + (0.25 + 0.6 * nuclei) * ring
            muscle = np.clip(0.5 - artery / aa, 0.0, 1.0)
            nuclei = _noise_on(xs, ys, px(2.4), self._key(_K_CHROMATIN + 90)) > 0.68
            eosin = eosin * (1.0 - muscle) + 0.6 * muscle
            hema = hema * (1.0 - muscle) + (0.08 + 0.6 * nuclei) * muscle
            lumen = np.maximum(lumen, np.clip(-(artery + px(5.5)) / aa + 0.5, 0.0, 1.0))
            lumen = np.maximum(lumen, np.clip(-(duct + px(9.0)) / aa + 0.5, 0.0, 1.0))
        if (lob["portal_vein"] < px(5.0)).any():
            lumen = np.maximum(lumen, np.clip(0.5 - lob["portal_vein"] / aa, 0.0, 1.0))
        eosin = eosin * (1.0 - lumen) + 0.05 * lumen
        return eosin, hema * (1.0 - lumen), lumen

    def region(self, x: int, y: int, width: int, height: int) -> NDArray[np.uint8]:
        """Render level-0 pixels ``[y, y + height) × [x, x + width)`` as RGB uint8.

        Stains are computed every :attr:`render_step` level-0 pixels on a grid aligned
        to the slide (so tiles agree) and interpolated; light and sensor noise are per
        pixel. At the default 2 that is a 1 µm sampling of the tissue, about the optical
        resolution a 20× scan shows, for a quarter of the work.
        """
        from medtk.datasets.wsi import _EOSIN, _HEMATOXYLIN

        w, h, step = width, height, self.render_step
        kx0, ky0 = math.floor(x / step), math.floor(y / step)
        kx1, ky1 = math.floor((x + w - 1) / step) + 1, math.floor((y + h - 1) / step) + 1
        xs = (step * np.arange(kx0, kx1 + 1)).astype(np.float32)
        ys = (step * np.arange(ky0, ky1 + 1)).astype(np.float32)
        eosin, hema = self._stains(xs, ys, float(step))
        light = 241.0 + 5.0 * (
            value_noise_grid(x, y, w, h, self._scale * 0.3, self._key(_K_LIGHT)) - 0.5
        )
        rgb = np.broadcast_to(light[..., None], (h, w, 3)).copy()
        if eosin.any() or hema.any():
            tx = (x + np.arange(w)) / step - kx0
            ty = (y + np.arange(h)) / step - ky0
            eosin, hema = _upsample(eosin, tx, ty), _upsample(hema, tx, ty)
            od = eosin[..., None] * _EOSIN + hema[..., None] * _HEMATOXYLIN
            rgb *= np.exp(-od)
        rgb += _pixel_noise(x, y, w, h, self._key(_K_PIXEL))
        return np.clip(rgb + 0.5, 0, 255).astype(np.uint8)


def _power_cells(xs: NDArray[np.float32], ys: NDArray[np.float32], lat: dict[str, Any]) -> _Cells:
    """Nearest and second-nearest hepatocyte per pixel by power distance ``|p - c|² - w``.

    Each pixel looks at the 3 × 3 lattice cells round its own (centres are jittered by
    less than a cell, weights keep cells under ~1.6 cells across, so that suffices).
    The distance to the border of the two is ``(d₂ - d₁) / (2 |c₂ - c₁|)``.
    """
    s, (ly, lx) = lat["s"], lat["shape"]
    cxs, cys, wts = lat["cx"], lat["cy"], lat["weight"]
    col = (np.floor(xs / s) - lat["i0"]).astype(np.int32)
    row = (np.floor(ys / s) - lat["j0"]).astype(np.int32)
    shape = (len(ys), len(xs))
    first = np.full(shape, np.inf, np.float32)
    second = first.copy()
    first_at = np.zeros(shape, np.int32)
    second_at = first_at.copy()
    cx2, cy2, wt2 = cxs.reshape(ly, lx), cys.reshape(ly, lx), wts.reshape(ly, lx)
    for dj in (-1, 0, 1):
        r = row + dj
        for di in (-1, 0, 1):
            c = col + di
            dx = xs[None, :] - cx2[r][:, c]
            dy = ys[:, None] - cy2[r][:, c]
            d = dx * dx + dy * dy - wt2[r][:, c]
            cell = r[:, None] * lx + c[None, :]
            nearer = d < first
            second_at = np.where(nearer, first_at, np.where(d < second, cell, second_at))
            second = np.minimum(second, np.maximum(first, d))
            first_at = np.where(nearer, cell, first_at)
            first = np.minimum(first, d)
    c1x, c1y = cxs[first_at], cys[first_at]
    sep = np.hypot(cxs[second_at] - c1x, cys[second_at] - c1y) + 1e-3
    return _Cells(first_at, second_at, (second - first) / (2.0 * sep), c1x, c1y)


def _noise_on(
    xs: NDArray[np.float32], ys: NDArray[np.float32], wavelength: float, key: int
) -> NDArray[np.float32]:
    """Value noise on the regular grid ``xs × ys`` (evenly spaced)."""
    step = float(xs[1] - xs[0]) if len(xs) > 1 else 1.0
    return value_noise_grid(float(xs[0]), float(ys[0]), len(xs), len(ys), wavelength, key, step)


def _upsample(
    coarse: NDArray[np.float32], tx: NDArray[np.float64], ty: NDArray[np.float64]
) -> NDArray[np.float32]:
    """Bilinear interpolation of ``coarse`` at fractional indices ``ty × tx``."""
    ix, iy = np.floor(tx).astype(np.intp), np.floor(ty).astype(np.intp)
    fx = (tx - ix).astype(np.float32)[None, :]
    fy = (ty - iy).astype(np.float32)[:, None]
    rows = coarse[:, ix] * (1 - fx) + coarse[:, np.minimum(ix + 1, coarse.shape[1] - 1)] * fx
    return rows[iy] * (1 - fy) + rows[np.minimum(iy + 1, rows.shape[0] - 1)] * fy


def _tract_id(a: NDArray[np.int64], b: NDArray[np.int64], c: NDArray[np.int64]) -> Any:
    """One integer per set of three veins (their portal tract), whatever their order."""
    lo = np.minimum(np.minimum(a, b), c)
    hi = np.maximum(np.maximum(a, b), c)
    mid = a + b + c - lo - hi
    return (lo * 1_000_003 + mid * 7_919 + hi) & (2**62 - 1)


def _segment_distance(  # noqa: PLR0917 (a point and a segment's two ends)
    px_: Any, py_: Any, ax: Any, ay: Any, bx: Any, by: Any
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Distance from points to segments ``a``–``b``, and how far along (0–1) the nearest
    point of the segment lies."""
    dx, dy = bx - ax, by - ay
    t = ((px_ - ax) * dx + (py_ - ay) * dy) / (dx * dx + dy * dy + 1e-9)
    t = np.clip(t, 0.0, 1.0)
    return np.hypot(px_ - ax - t * dx, py_ - ay - t * dy), t


@lru_cache(maxsize=1024)
def _focus_cell(
    slide: LiverSlide, cy: int, cx: int
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Cached foci of one focus cell: each is reached by the tiles around it."""
    found = slide._make_focus_cell(cy, cx)
    for array in found:
        array.setflags(write=False)
    return found


def write_slide(
    path: str | os.PathLike[str],
    patient: Patient,
    *,
    size: int = 4096,
    workers: int | None = None,
) -> Path:
    """Write the patient's biopsy as a pyramidal JPEG-tiled TIFF (20×, 0.5 µm/px).

    :param path: output ``.tif``.
    :param patient: whose biopsy.
    :param size: level-0 width and height in pixels.
    :param workers: rendering threads (default: the usable cores, at most 8).
    """
    from medtk.datasets import write_slide as write

    slide = LiverSlide(size, size, 0.5, patient.seed, histology(patient))
    return write(path, slide=slide, magnification=20, workers=workers)


def write_patient(
    root: str | os.PathLike[str],
    patient: Patient,
    *,
    slices: int = 32,
    ct_size: int = 192,
    slide_size: int = 4096,
    workers: int | None = None,
) -> None:
    """Write one patient into a cohort folder: ``ct/ID/``, ``ct/ID.liver.nii.gz``, ``he/ID.tif``.

    :param root: the cohort folder (``ct/`` and ``he/`` are made as needed).
    :param patient: whose images.
    :param slices: CT slices.
    :param ct_size: CT in-plane pixels.
    :param slide_size: slide width and height at 20×.
    :param workers: slide rendering threads (default: the usable cores, at most 8).
    """
    from concurrent.futures import ThreadPoolExecutor

    root = Path(root)
    (root / "ct").mkdir(parents=True, exist_ok=True)
    (root / "he").mkdir(parents=True, exist_ok=True)
    # the CT is one thread's work: it runs beside the slide's tile threads
    with ThreadPoolExecutor(1) as pool:
        ct = pool.submit(
            write_ct,
            root / "ct" / patient.patient,
            patient,
            slices=slices,
            size=ct_size,
            mask_path=root / "ct" / f"{patient.patient}.liver.nii.gz",
        )
        write_slide(
            root / "he" / f"{patient.patient}.tif", patient, size=slide_size, workers=workers
        )
        ct.result()
