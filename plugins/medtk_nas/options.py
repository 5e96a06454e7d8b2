"""Options of the nas study's steps: bags, the fusion models, the baseline, the table."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from medtk.config import TaskConfig, argument, option
from medtk.engine.options import OptimizerName, TrainOptions
from medtk.evaluate.predictions import EvaluateOptions

Target = Literal["fibrosis", "steatosis", "lobular", "ballooning"]


class BagsOptions(TaskConfig):
    """Options of ``medtk preprocess nas-bags``."""

    cohort: Path = argument(..., "cohort table with scores, fold and store_ct / store_wsi columns")
    out: Path = option(..., "bags store to write (NAME.zarr)", short="-o")
    id_column: str = option("patient", "column with the patient id")
    size: int = option(224, "instance width and height in pixels (CT slices and patches)", ge=32)
    hu: tuple[float, float] = option((-200.0, 250.0), "CT window LOW HIGH in Hounsfield units")
    min_mean: float = option(5.0, "drop CT slices whose mean after liver masking is below", ge=0)
    liver_label: str = option("liver", "label image of the CT stores that masks the liver")
    liver_predictions: Path | None = option(
        None, "folder of 'medtk predict nas-liver' outputs (STEM.nas-liver.zarr) to mask with"
    )
    magnification: float = option(5.0, "objective magnification of the H&E patches", gt=0)
    patch: int = option(224, "H&E patch side at that magnification, in pixels", ge=8)
    background: float = option(220.0, "drop H&E patches whose mean intensity is above", ge=0)
    max_patches: int = option(0, "keep at most this many patches per slide, drawn at random", ge=0)
    seed: int = option(0, "seed of the patch draw")
    overwrite: bool = option(False, "replace an existing bags store")


class NasOptions(TrainOptions):
    """Options of ``medtk train nas``: the source's settings by default."""

    bags: Path = argument(..., "bags store from 'medtk preprocess nas-bags'")
    target: Target = option("fibrosis", "score to predict")
    fusion: Literal["ct", "he", "mid", "late"] = option(
        "mid", "ct or he alone; mid: instances of both in one bag; late: pooled features joined"
    )
    loss: Literal["single", "multi"] = option(
        "single", "single: joint head only; multi: joint + CT head + H&E head"
    )
    merge: str | None = option(
        None, "raw scores → classes, e.g. '0|1-2|3-4' (default: the source's for the target)"
    )
    pretrained: bool = option(False, "ImageNet weights from timm (needs the network)")
    weights: Path | None = option(None, "ImageNet ResNet-18 weights from a local file")
    bn_stats: Literal["auto", "cohort", "weights"] = option(
        "auto",
        "batch-norm statistics of the ResNet: the cohort's own instances per modality (AdaBN), "
        "or the weights' (auto: cohort for random weights, the weights' for ImageNet ones)",
    )
    train_blocks: int = option(1, "trainable ResNet stages from the end (1: layer4)", ge=0, le=4)
    cache: bool = option(True, "cache the frozen trunk's features in the bags store (fp16)")
    max_instances: int = option(
        0, "train on at most this many instances per patient and modality per step (0: all)", ge=0
    )
    feature_norm: bool = option(
        True, "batch-normalise instance features before the classifier (off: the source's)"
    )
    dropout: float = option(0.25, "dropout inside the instance classifier", ge=0, lt=1)
    epochs: int = option(30, "passes over the training patients", gt=0)
    batch_size: int = option(4, "patients per optimisation step", gt=0)
    lr: float = option(1e-4, "learning rate", gt=0)
    optimizer: OptimizerName = option(OptimizerName.adam, "optimiser")
    weight_decay: float = option(0.01, "weight decay", ge=0)
    folds: int = option(
        3, "patient-level cross-validation folds from the bags (0: one split)", ge=0
    )
    val_fraction: float = option(0.34, "without --folds: share of patients held out", gt=0, lt=1)
    monitor: str = option("val_auc", "metric that picks the best epoch")


class PatchBaselineOptions(NasOptions):
    """Options of ``medtk train nas-patch``: a patch classifier with patient labels."""

    fusion: Literal["he"] = option("he", "the baseline reads H&E patches only")
    batch_size: int = option(64, "patches per optimisation step", gt=0)


class StudyOptions(EvaluateOptions):
    """Options of ``medtk evaluate nas``: one cross-validated run or a study folder."""

    source: Path = argument(
        ...,
        "a nas run (cross-validation folder), or a study folder of runs named "
        "TARGET/VARIANT (e.g. fibrosis/mid-single, fibrosis/patch)",
    )
