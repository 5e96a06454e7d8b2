"""Typed options of the ``medtk render`` renderers."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import field_validator

from medtk.config import TaskConfig, argument, option
from medtk.viz.render.region import DEFAULT_MAX_VOXELS


class RenderConfig(TaskConfig):
    """What every renderer takes: output, size, which voxels to read, ``--html``."""

    out: Path = option(..., "the PNG to write", short="-o")
    level: int | None = option(
        None,
        "pyramid level to read (default: the finest whose voxels in the region fit --max-voxels)",
        ge=0,
    )
    max_voxels: int = option(
        DEFAULT_MAX_VOXELS,
        "read at most this many voxels (default 256³); coarser levels or steps keep to it",
        gt=0,
    )
    roi: str | None = option(
        None, "region z0:z1,y0:y1,x0:x1 in level-0 voxels, end exclusive (empty: to the edge)"
    )
    size: tuple[int, int] = option((1024, 768), "picture WIDTH HEIGHT in pixels")
    html: bool = option(
        False, "also write OUT with .html: an interactive view that opens offline in a browser"
    )
    overwrite: bool = option(False, "replace existing outputs (once the new ones are complete)")

    @field_validator("size")
    @classmethod
    def _picture_size(cls, size: tuple[int, int]) -> tuple[int, int]:
        if not all(64 <= n <= 8192 for n in size):
            raise ValueError("width and height must each be 64 to 8192 pixels")
        return size


class SceneConfig(RenderConfig):
    """The 3D renderers' options: camera and engine."""

    view: Literal["oblique", "z", "y", "x"] = option(
        "oblique",
        "oblique (default), or looking along z (x right, y down), y or x (z up)",
    )
    azimuth: float = option(0.0, "turn the view right by this many degrees")
    elevation: float = option(0.0, "turn the view up by this many degrees")
    engine: Literal["auto", "vtk", "numpy"] = option(
        "auto", "VTK off-screen (auto: where OpenGL can run) or numpy ray casting"
    )
    legend: bool = option(True, "draw a legend of the colours")
    frames: int = option(24, "--html: pictures in the 3D turntable (0: none)", ge=0, le=120)


class VolumeConfig(SceneConfig):
    """Options of ``medtk render volume``."""

    store: Path = argument(..., "an intensity volume store (CT, MR, EM, microscopy)")
    channel: int = option(0, "channel to render, for stores with channels", ge=0)
    window: tuple[float, float] | None = option(
        None,
        "LOW HIGH: clear at LOW, most opaque and brightest at HIGH "
        "(default: the 50th and 99.5th percentiles of the voxels read)",
    )
    cmap: str = option("bone", "matplotlib colour map from LOW to HIGH (bone, gray, magma …)")
    opacity: float = option(
        0.5, "opacity at HIGH per 1/100 of the volume's diagonal", gt=0.0, le=1.0
    )


class LabelsConfig(SceneConfig):
    """Options of ``medtk render labels``."""

    store: Path = argument(..., "a store with label images (or a label store itself)")
    label: str | None = option(
        None, "label image under labels/ (default: the only one; the image if it is labels)"
    )


class CompareConfig(SceneConfig):
    """Options of ``medtk render compare``."""

    pred: Path = argument(..., "the prediction store (its labels, or its image if it is labels)")
    truth: Path = option(..., "the ground-truth store")
    class_id: int = option(..., "the class to compare: a label value ≥ 1")
    label: str | None = option(None, "label image of the prediction store (default as labels)")
    truth_label: str | None = option(
        None, "label image of the truth store (default: its only one, or its image)"
    )


class SlicesConfig(RenderConfig):
    """Options of ``medtk render slices``."""

    store: Path = argument(..., "a volume store")
    label: str | None = option(
        None, "label image to overlay (default: the store's only one, if it has one)"
    )
    point: str | None = option(
        None, "z,y,x in level-0 voxels the slices go through (default: the region's centre)"
    )
    channel: int = option(0, "channel to show, for stores with channels", ge=0)
    window: tuple[float, float] | None = option(
        None, "LOW HIGH grey window (default: the 0.5th and 99.5th percentiles)"
    )
    cmap: str = option("gray", "matplotlib colour map of the grey values")
    alpha: float = option(0.45, "opacity of the label colours", ge=0.0, le=1.0)
    legend: bool = option(True, "draw a legend of the label classes")


class MipConfig(RenderConfig):
    """Options of ``medtk render mip``."""

    store: Path = argument(..., "a volume store")
    channel: int = option(0, "channel to project, for stores with channels", ge=0)
    window: tuple[float, float] | None = option(
        None, "LOW HIGH grey window (default: the 0.5th and 99.9th percentiles of the projections)"
    )
    cmap: str = option("gray", "matplotlib colour map of the projections")
