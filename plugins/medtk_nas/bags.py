"""Patients as bags of instances: liver CT slices and H&E tissue patches, per the method.

CT: axial slices of the Hounsfield volume, windowed to [-200, 250] HU and scaled to 0–255,
pixels outside the liver set to zero, slices whose mean is then below 5 dropped (they hold
little or no liver). H&E: non-overlapping 224 px patches at 5× (from the slide's own
magnification or µm per pixel), patches whose mean intensity is above 220 dropped as
background. Both are resized to one instance size and kept as uint8, one zarr group per
patient (``bags.zarr/<patient>/ct`` ``(n, 1, S, S)`` and ``/he`` ``(m, 3, S, S)``), with the
patient's raw scores and fold in the group's attributes. Training reads instances from
here (or their cached frozen features, see ``cache.py``), never the source images.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from medtk.errors import BadInputError

MODALITIES: tuple[str, ...] = ("ct", "he")
BAGS_VERSION = 1


@dataclass(frozen=True)
class CtRule:
    """How CT slices become instances."""

    hu: tuple[float, float] = (-200.0, 250.0)
    min_mean: float = 5.0
    size: int = 224


@dataclass(frozen=True)
class SlideRule:
    """How a slide becomes patches."""

    magnification: float = 5.0
    patch: int = 224
    background: float = 220.0
    size: int = 224
    max_patches: int = 0
    seed: int = 0


def _resize(images: np.ndarray, size: int) -> np.ndarray:
    """``(n, c, h, w)`` uint8 → ``(n, c, size, size)`` uint8 with antialiased bilinear."""
    import torch
    from torch.nn.functional import interpolate

    if images.shape[-2:] == (size, size) or not len(images):
        return images
    tensor = torch.from_numpy(np.ascontiguousarray(images)).float()
    resized = interpolate(tensor, size=(size, size), mode="bilinear", antialias=True)
    return resized.round().clamp(0, 255).to(torch.uint8).numpy()


def liver_slices(hu: np.ndarray, liver: np.ndarray, rule: CtRule) -> tuple[np.ndarray, np.ndarray]:
    """The kept slices ``(n, 1, S, S)`` uint8 of one CT volume ``(z, y, x)`` and their z.

    Windowing as the source: ``round(255 · (clip(x, lo, hi) − lo) / (hi − lo))``; outside
    the liver mask 0; a slice is kept when its mean over the whole slice is ≥ ``min_mean``.
    """
    if hu.shape != liver.shape:
        raise BadInputError(f"CT shape {hu.shape} and liver mask shape {liver.shape} differ")
    low, high = rule.hu
    scaled = np.round(255.0 * (np.clip(hu, low, high) - low) / (high - low)).astype(np.uint8)
    scaled[liver == 0] = 0
    means = scaled.reshape(len(scaled), -1).mean(axis=1)
    keep = np.flatnonzero(means >= rule.min_mean)
    return _resize(scaled[keep][:, None], rule.size), keep


def slide_patches(store: Any, rule: SlideRule) -> tuple[np.ndarray, np.ndarray]:
    """Tissue patches ``(m, 3, S, S)`` uint8 of one slide store and their level-0 ``(x, y)``."""
    from medtk.io.patch_reader import PatchReader
    from medtk.ops.patches import drop_background, patch_grid

    if store.axes != ("c", "y", "x") or store.levels[0].shape[0] != 3:
        raise BadInputError(f"{str(store.path)!r} is not an RGB slide store (axes cyx)")
    grid = patch_grid(
        [level.shape for level in store.levels],
        [store.downsample(i)[-1] for i in range(len(store.levels))],
        store.medtk.get("mpp"),
        store.medtk.get("magnification"),
        size=rule.patch,
        magnification=rule.magnification,
    )
    grid = drop_background(store.dask(grid.level), grid, rule.background)
    if rule.max_patches and len(grid) > rule.max_patches:
        chosen = np.random.default_rng(rule.seed).choice(len(grid), rule.max_patches, False)
        grid = grid.subset(np.sort(chosen))
    reader = PatchReader(store, grid.level)
    boxes = [
        (int(x), int(y), grid.level_size, grid.level_size)
        for x, y in zip(grid.level_x, grid.level_y, strict=True)
    ]
    patches = np.stack(list(reader.read_many(boxes))) if boxes else np.zeros((0, 3, 1, 1))
    where = np.stack([grid.x, grid.y], axis=1) if len(grid) else np.zeros((0, 2), np.int64)
    return _resize(patches.astype(np.uint8), rule.size), where


def liver_mask(ct_store: Any, label: str, predictions: Path | None) -> np.ndarray:
    """The liver mask of a CT store: its label image ``label``, or, with ``predictions``,
    the ``prediction`` label of ``STEM.nas-liver.zarr`` in that folder."""
    from medtk.io.store import Store

    if predictions is None:
        if label not in ct_store.labels:
            known = ", ".join(ct_store.labels) or "none"
            raise BadInputError(
                f"CT store {str(ct_store.path)!r} has no label {label!r} (labels: {known}); "
                "segment the liver with 'medtk predict nas-liver' and pass --liver-predictions"
            )
        return np.asarray(ct_store.label(label).array(0)[...])
    stem = ct_store.path.name.removesuffix(".zarr")
    path = predictions / f"{stem}.nas-liver.zarr"
    if not path.exists():
        raise BadInputError(f"no liver prediction {str(path)!r} for CT store {stem!r}")
    predicted = Store.open(path)
    array = predicted.label("prediction").array(0) if predicted.labels else predicted.array(0)
    return np.asarray(array[...])


@dataclass(frozen=True)
class Patient:
    """One row of the cohort table: raw scores, fold and stores."""

    id: str
    scores: dict[str, float]
    fold: int
    stores: dict[str, Path]


def read_patients(table: Path, id_column: str, targets: tuple[str, ...]) -> list[Patient]:
    """The cohort table's patients; every target column and a ``fold`` are required."""
    from medtk.preprocess.cohort import read_table

    header, rows = read_table(table)
    missing = [c for c in (id_column, "fold", *targets) if c not in header]
    if missing:
        raise BadInputError(
            f"cohort table {str(table)!r} lacks column(s) {', '.join(missing)} "
            f"(columns: {', '.join(header)}); make it with 'medtk preprocess cohort … --stores'"
        )
    store_columns = {c.removeprefix("store_").lower(): c for c in header if c.startswith("store_")}
    patients = []
    for number, row in enumerate(rows, start=2):
        try:
            scores = {t: float(row[t]) for t in targets}
            fold = int(row["fold"])
        except ValueError:
            raise BadInputError(
                f"cohort table {str(table)!r}, line {number}: a score or the fold is not a number"
            ) from None
        stores = {}
        for modality, aliases in (("ct", ("ct",)), ("he", ("wsi", "he", "sm"))):
            column = next((store_columns[a] for a in aliases if a in store_columns), None)
            if column and row[column]:
                stores[modality] = (table.parent / row[column]).resolve()
        patients.append(Patient(row[id_column], scores, fold, stores))
    return patients


def patient_instances(
    patient: Patient,
    ct_rule: CtRule,
    slide_rule: SlideRule,
    *,
    liver_label: str,
    liver_predictions: Path | None,
) -> Iterator[tuple[str, np.ndarray, dict[str, Any]]]:
    """``(modality, instances, facts)`` for each modality the patient has a store of."""
    from medtk.io.store import Store

    if "ct" in patient.stores:
        store = Store.open(patient.stores["ct"])
        if store.spatial_axes != ("z", "y", "x"):
            raise BadInputError(f"CT store {str(store.path)!r} is not a volume (axes zyx)")
        if store.medtk.get("window"):
            raise BadInputError(
                f"CT store {str(store.path)!r} is already windowed; give the Hounsfield store"
            )
        hu = np.asarray(store.array(0)[...], dtype=np.float32).reshape(store.levels[0].shape[-3:])
        mask = liver_mask(store, liver_label, liver_predictions).reshape(hu.shape)
        slices, kept = liver_slices(hu, mask, ct_rule)
        yield "ct", slices, {"slices": int(hu.shape[0]), "kept": kept.tolist()}
    if "he" in patient.stores:
        store = Store.open(patient.stores["he"])
        patches, where = slide_patches(store, slide_rule)
        yield "he", patches, {"patches": len(patches), "xy": where.tolist()}


@dataclass(frozen=True)
class BagStore:
    """A bags store opened for reading: patients with scores and folds, and instances."""

    path: Path
    size: int
    patients: tuple[Patient, ...]
    counts: dict[str, dict[str, int]]

    @classmethod
    def open(cls, path: Path) -> BagStore:
        """Open ``path``; anything that is not a finished bags store is bad input."""
        import zarr

        path = Path(path)
        try:
            group = zarr.open_group(str(path), mode="r")
            info = dict(group.attrs)["medtk"]["nas_bags"]
        except (FileNotFoundError, KeyError, TypeError, ValueError, OSError):
            raise BadInputError(
                f"{str(path)!r} is not a bags store; make one with 'medtk preprocess nas-bags'"
            ) from None
        patients = tuple(
            Patient(p["id"], dict(p["scores"]), int(p["fold"]), {}) for p in info["patients"]
        )
        return cls(
            path, int(info["size"]), patients, {p["id"]: p["counts"] for p in info["patients"]}
        )

    @property
    def folds(self) -> int:
        return len({p.fold for p in self.patients})

    def instances(self, patient: str, modality: str) -> np.ndarray:
        """The patient's uint8 instances ``(n, c, S, S)`` of ``modality``."""
        import zarr

        return zarr.open_array(str(self.path / patient / modality), mode="r")[...]

    def items(self, modalities: tuple[str, ...]) -> Iterator[tuple[str, str, Any]]:
        """``(patient, modality, read)`` for the feature cache."""
        for patient in self.patients:
            for modality in modalities:
                yield patient.id, modality, _reader(self, patient.id, modality)


def _reader(bags: BagStore, patient: str, modality: str) -> Any:
    return lambda: bags.instances(patient, modality)
