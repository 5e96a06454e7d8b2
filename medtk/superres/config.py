"""Typed options of ``medtk superres zssr`` and ``medtk evaluate superres``."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import field_validator

from medtk.config import TaskConfig, argument, option

#: The largest factor along one axis the CLI accepts (beyond it nothing is left to learn).
MAX_SCALE = 16.0


def check_scale(values: list[float]) -> list[float]:
    """At most two factors (one: every scaled axis), each in [1, 16], one above 1."""
    if len(values) > 2:
        raise ValueError("give one factor, or two (y x); e.g. --scale 2 or --scale 1 --scale 2.5")
    for value in values:
        if not 1.0 <= value <= MAX_SCALE:
            raise ValueError(f"each factor must lie between 1 and {MAX_SCALE:g}, got {value:g}")
    if values and max(values) <= 1.0:
        raise ValueError("at least one factor must be above 1")
    return values


class ZssrTraining(TaskConfig):
    """What ZSSR's run-time training and inference take, shared by both commands."""

    iterations: int = option(
        300, "training iterations at most (fewer when the learning rate bottoms out)", ge=1
    )
    crop: int = option(64, "side of the training crops taken from the image, pixels", ge=8)
    batch: int = option(4, "crops per training iteration", ge=1)
    layers: int = option(8, "convolutions in the network", ge=2, le=32)
    channels: int = option(
        32, "channels of the network's hidden layers (the paper: 64)", ge=4, le=256
    )
    kernel: Literal["bicubic", "bilinear", "box", "lanczos3", "gaussian"] = option(
        "bicubic", "downscaling kernel assumed to have made the image (makes the examples)"
    )
    sigma: float | None = option(
        None,
        "σ of the gaussian kernel in high-resolution pixels (default: that of "
        "scikit-image's anti-aliased rescale, 0.65 for ×2)",
        gt=0,
    )
    gradual: bool = option(
        False, "reach the scale in stages (×2: 1.5 then 2), each output training the next"
    )
    ensemble: bool = option(True, "median over the 8 rotations/flips at test time")
    back_projection: int = option(2, "rounds of back-projection onto the input", ge=0, le=50)
    device: str = option("auto", "auto, cpu, cuda, cuda:N or mps")
    threads: int = option(0, "CPU threads for torch (0: the cores this process may use)", ge=0)
    seed: int = option(0, "seed of the network's weights and of the training crops")


class _ZssrInputs(TaskConfig):
    """What ``medtk superres zssr`` reads and writes (listed before the training knobs)."""

    source: Path = argument(
        ..., "a PNG, JPEG or TIFF image, a TIFF stack, or a medtk store (2D or 3D)"
    )
    out: Path | None = option(
        None,
        "output file (.png, .tif) or store (default: beside the input, STEM.zssrS.EXT)",
        short="-o",
    )
    scale: list[float] = option(
        [],
        "factor (one, or y then x: --scale 1 --scale 2.5); default 2, or with --axes z "
        "the volume's z/xy spacing ratio",
    )
    axes: Literal["xy", "z"] = option(
        "xy",
        "volumes: 'xy' super-resolves each xy slice; 'z' upsamples along z "
        "(trained on xz/yz slices) towards isotropic voxels",
    )
    overwrite: bool = option(False, "replace an existing output")

    @field_validator("scale")
    @classmethod
    def _valid_scale(cls, value: list[float]) -> list[float]:
        return check_scale(value)


class _EvaluateInputs(TaskConfig):
    """What ``medtk evaluate superres`` reads and writes (listed before the training knobs)."""

    image: Path = argument(
        ..., "a high-resolution PNG, JPEG or TIFF image, or a medtk store (2D or 3D)"
    )
    scale: list[float] = option([2.0], "downscaling factor (one, or y then x)")
    size: int = option(0, "evaluate on the central SIZE × SIZE region (0: the whole image)", ge=0)
    slice: int | None = option(None, "volumes: the xy slice to evaluate (default: the middle)")
    out: Path | None = option(
        None,
        "output folder for metrics.json and comparison.png "
        "(default: beside the image, STEM.superres)",
        short="-o",
    )
    overwrite: bool = option(False, "replace an existing output folder")

    @field_validator("scale")
    @classmethod
    def _valid_scale(cls, value: list[float]) -> list[float]:
        return check_scale(value) or [2.0]


# pydantic lists the fields of the last base first: inputs and outputs, then training.
class ZssrOptions(ZssrTraining, _ZssrInputs):
    """Options of ``medtk superres zssr``."""


class SuperresEvaluateOptions(ZssrTraining, _EvaluateInputs):
    """Options of ``medtk evaluate superres``."""
