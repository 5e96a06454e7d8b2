"""Typed options of the ``em`` family's commands."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import field_validator

from medtk.config import TaskConfig, argument, option
from medtk.engine.options import TrainOptions


class EmPhantomConfig(TaskConfig):
    """Options of ``medtk preprocess em-phantom``."""

    out: Path = option(..., "output store (OME-Zarr), e.g. phantom.zarr", short="-o")
    shape: tuple[int, int, int] = option(
        (64, 256, 256), "volume size Z Y X in voxels (z: the milling axis); 16 to 4096 each"
    )
    seed: int = option(0, "seed of the structures and noise: the same seed gives the same voxels")
    voxel_nm: float = option(
        8.0, "isotropic voxel size in nm (FIB-SEM: 5-8); structures keep their size", ge=1, le=50
    )
    noise: float = option(
        1.0,
        "strength of the acquisition artefacts: shot/read noise, curtaining, drift "
        "(0: a clean, blurred image)",
        ge=0,
        le=5,
    )
    overwrite: bool = option(False, "replace an existing store (only once the new one is complete)")

    @field_validator("shape")
    @classmethod
    def _shape_fits(cls, shape: tuple[int, int, int]) -> tuple[int, int, int]:
        from medtk_em.phantom import shape_problem

        problem = shape_problem(shape)
        if problem:
            raise ValueError(problem)
        return shape


# --------------------------------------------------------------------------------------
# Training, prediction and evaluation of the em task (medtk_em.task)

EmMode = Literal["multiclass", "binary"]
EmLoss = Literal["multilabel-soft-margin", "cross-entropy", "dice"]
EmNorm = Literal["batch", "instance", "group", "none"]
EmNormalise = Literal["auto", "range", "minmax", "percentile", "zscore", "none"]


class EmTrainOptions(TrainOptions):
    """Options of ``medtk train em``: the engine's, plus the data, the U-Net and the loss."""

    store: Path = argument(
        ..., "image store with a label image (e.g. from 'medtk preprocess em-phantom')"
    )
    labels: str = option("classes", "label image of the store to learn (labels/NAME)")
    mode: EmMode = option(
        "multiclass",
        "multiclass: one network for every class; binary: one-vs-rest, a network per class "
        "in RUN/class-NAME",
    )
    loss: EmLoss = option(
        "multilabel-soft-margin",
        "multilabel-soft-margin (one-hot targets, sigmoid), cross-entropy or dice (softmax); "
        "binary networks use binary cross-entropy or sigmoid dice",
    )
    classes: int = option(0, "classes (label values 0…N-1); 0: from the label metadata", ge=0)
    binary_class: int | None = option(
        None, "binary mode: train only the network of this class value, into RUN itself", ge=0
    )
    level: int = option(0, "pyramid level the patches are cut from", ge=0)
    patch: tuple[int, int, int] = option(
        (32, 64, 64), "patch size z y x (z of 1: a 2D U-Net on slices)"
    )
    samples_per_epoch: int = option(64, "random training patches per epoch", gt=0)
    balanced: bool = option(
        False, "class-balanced sampling: a class uniformly, then a patch centred on one of it"
    )
    val_fraction: float = option(
        0.2, "the last fraction of the volume along z, held out for validation", gt=0, lt=1
    )
    val_patches: int = option(32, "most validation patches (a grid over the held-out slab)", gt=0)
    normalise: EmNormalise = option(
        "auto",
        "intensity normalisation: auto (uint8 → [0, 1]), range, minmax, percentile, zscore, none",
    )
    augment: bool = option(True, "random flips, 90° rotations and intensity jitter")
    depth: int = option(3, "U-Net levels; the patch must be divisible by 2^(depth-1)", ge=1, le=6)
    width: int = option(16, "channels of the first U-Net level", gt=0)
    norm: EmNorm = option("instance", "normalisation layers: instance, batch, group or none")
    dropout: float = option(0.0, "dropout in the two deepest U-Net levels", ge=0, lt=1)
    epochs: int = option(20, "passes over the training data", gt=0)
    batch_size: int = option(4, "patches per optimisation step (before accumulation)", gt=0)
    monitor: str = option("val_f1", "metric that picks the best epoch and stops early")


class EmEvaluateOptions(TaskConfig):
    """Options of ``medtk evaluate em``: prediction store(s) scored against true labels."""

    prediction: Path = argument(..., "prediction store from 'medtk predict em' (probabilities)")
    truth: Path = option(..., "store holding the true label image")
    labels: str = option("classes", "label image of --truth (labels/NAME)")
    compare: Path | None = option(
        None, "a second prediction store (e.g. of the other mode), scored alongside"
    )
    out: Path | None = option(
        None, "output folder (default: STEM.evaluation beside the prediction)", short="-o"
    )
    val_fraction: float = option(
        0.2,
        "the last fraction of the volume along z, where thresholds are chosen; the rest is scored",
        gt=0,
        lt=1,
    )
    thresholds: int = option(101, "thresholds swept, evenly spaced in [0, 1] (0.5 always)", ge=3)
    workers: int = option(0, "threads scoring blocks (0: two per core, at most 8)", ge=0)
    overwrite: bool = option(False, "replace an existing output folder")
