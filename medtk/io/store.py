"""The medtk store: an OME-Zarr (NGFF 0.5, zarr v3) image with medtk's metadata beside it.

Layout of ``NAME.zarr``::

    zarr.json            group; attributes {"ome": {"version": "0.5", "multiscales": …},
                         "medtk": {modality, subject, source, rescale, mpp, stats, …}}
    0/ 1/ 2/ …           the pyramid, level 0 at full resolution
    labels/              {"ome": {"labels": [names]}}
    labels/NAME/0 …      a label image with its own pyramid ("image-label" metadata)

Any OME-Zarr viewer (napari with napari-ome-zarr, ``ome-zarr``'s reader) opens it; medtk
reads OME-Zarr images written by other tools too (NGFF 0.4 on zarr v2, or 0.5).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medtk.errors import BadInputError
from medtk.io.pyramid import PyramidPlan

if TYPE_CHECKING:
    import dask.array as da
    import numpy as np
    import zarr

    from medtk.io.source import ImageSource

NGFF_VERSION = "0.5"
STORE_VERSION = 1
AXIS_TYPES = {"t": "time", "c": "channel", "z": "space", "y": "space", "x": "space"}
#: Chunk size along each axis when the user does not choose one.
DEFAULT_CHUNKS_2D = {"t": 1, "y": 1024, "x": 1024}
DEFAULT_CHUNKS_3D = {"t": 1, "z": 32, "y": 256, "x": 256}
RGB_COLOURS = ("FF0000", "00FF00", "0000FF")


def default_chunks(
    axes: Sequence[str], shape: Sequence[int], *, xy: int | None = None, z: int | None = None
) -> tuple[int, ...]:
    """Chunks for a new store: 1024² tiles in 2D, 32 × 256² bricks in 3D, channels whole."""
    table = dict(DEFAULT_CHUNKS_3D if "z" in axes else DEFAULT_CHUNKS_2D)
    if xy is not None:
        table["y"] = table["x"] = xy
    if z is not None:
        table["z"] = z
    chunks = []
    for axis, n in zip(axes, shape, strict=True):
        if axis == "c":
            chunks.append(n if n <= 4 else 1)
        else:
            chunks.append(min(table[axis], n))
    return tuple(chunks)


def compressor() -> Any:
    """Zstandard at level 1: on slide tiles as small as Blosc-zstd at level 1 and faster, and
    1.7 times as fast as level 3 for 8% more bytes (figures in docs/benchmarks.md)."""
    from zarr.codecs import ZstdCodec

    return ZstdCodec(level=1)


def create_levels(
    group: zarr.Group,
    plan: PyramidPlan,
    dtype: np.dtype,
    *,
    resume: bool,
    skip_empty: bool = True,
) -> list[zarr.Array]:
    """The level arrays ``0``, ``1`` … of ``group``; reopened when resuming a partial write.

    ``skip_empty``: leave chunks that hold only the fill value unwritten (label images,
    mostly background). Intensity images rarely have such chunks (slide background is
    white, not 0), and checking every chunk costs about as much as the statistics.
    """
    config = {"write_empty_chunks": not skip_empty}
    arrays = []
    for level, (shape, chunks) in enumerate(zip(plan.shapes, plan.chunks, strict=True)):
        name = str(level)
        if resume and name in group:
            array = group[name]
            if tuple(array.shape) == shape and tuple(array.chunks) == chunks:
                arrays.append(array.with_config(config))
                continue
        arrays.append(
            group.create_array(
                name,
                shape=shape,
                chunks=chunks,
                dtype=dtype,
                compressors=compressor(),
                fill_value=0,
                dimension_names=plan.axes,
                overwrite=True,
                config=config,
            )
        )
    return arrays


def multiscales(plan: PyramidPlan, unit: str, name: str, method: str) -> list[dict[str, Any]]:
    """The NGFF ``multiscales`` entry describing ``plan``'s levels."""
    axes = []
    for axis in plan.axes:
        record = {"name": axis, "type": AXIS_TYPES[axis]}
        if AXIS_TYPES[axis] == "space" and unit:
            record["unit"] = unit
        axes.append(record)
    datasets = [
        {
            "path": str(level),
            "coordinateTransformations": [{"type": "scale", "scale": list(scale)}],
        }
        for level, scale in enumerate(plan.scales)
    ]
    return [
        {
            "name": name,
            "axes": axes,
            "datasets": datasets,
            "type": "local mean" if method == "mean" else "nearest",
            "metadata": {"method": "medtk.io.pyramid.downsample", "mode": method},
        }
    ]


def omero_channels(plan: PyramidPlan, stats: Mapping[str, Sequence[float]]) -> dict[str, Any]:
    """Display hints (colour and window per channel) that napari and OMERO use."""
    channels = plan.shapes[0][plan.axes.index("c")] if "c" in plan.axes else 1
    colours = RGB_COLOURS if channels == 3 else ("FFFFFF",) * channels
    lows = stats.get("min", [0.0] * channels)
    highs = stats.get("max", [1.0] * channels)
    return {
        "channels": [
            {
                "label": "RGB"[i] if channels == 3 else f"channel {i}",
                "color": colours[i],
                "active": True,
                "window": {"min": lows[i], "max": highs[i], "start": lows[i], "end": highs[i]},
            }
            for i in range(channels)
        ],
        "rdefs": {"model": "color" if channels > 1 else "greyscale"},
    }


def write_image_attributes(
    group: zarr.Group,
    plan: PyramidPlan,
    unit: str,
    name: str,
    medtk: Mapping[str, Any],
) -> None:
    """Write the NGFF and medtk attributes of an image group (the last step of a write)."""
    ome = {
        "version": NGFF_VERSION,
        "multiscales": multiscales(plan, unit, name, "mean"),
        "omero": omero_channels(plan, medtk.get("stats", {})),
    }
    group.attrs.update({"ome": ome, "medtk": json.loads(json.dumps(dict(medtk)))})


def write_label_attributes(
    labels_group: zarr.Group,
    *,
    label_group: zarr.Group,
    names: Sequence[str],
    plan: PyramidPlan,
    unit: str,
    name: str,
    values: Sequence[int],
) -> None:
    """Write the ``labels/`` index and one label image's ``image-label`` metadata."""
    labels_group.attrs.update({"ome": {"version": NGFF_VERSION, "labels": list(names)}})
    colours = [
        {"label-value": int(v), "rgba": list(_label_colour(int(v)))} for v in values if v != 0
    ]
    label_group.attrs.update(
        {
            "ome": {
                "version": NGFF_VERSION,
                "multiscales": multiscales(plan, unit, name, "nearest"),
                "image-label": {
                    "version": NGFF_VERSION,
                    "colors": colours,
                    "source": {"image": "../../"},
                },
            }
        }
    )


def _label_colour(value: int) -> tuple[int, int, int, int]:
    """A stable, distinct colour per label value (golden-angle hues)."""
    import colorsys

    hue = (value * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.75, 0.95)
    return round(r * 255), round(g * 255), round(b * 255), 255


@dataclass(frozen=True)
class Level:
    """One pyramid level as stored."""

    path: str
    shape: tuple[int, ...]
    chunks: tuple[int, ...]
    dtype: str
    scale: tuple[float, ...]


class Store:
    """An OME-Zarr image opened for reading: levels, labels and medtk metadata."""

    def __init__(self, path: Path, group: zarr.Group, ome: Mapping[str, Any]) -> None:
        self.path = path
        self.group = group
        self.ome = ome
        first = ome["multiscales"][0]
        self.axes: tuple[str, ...] = tuple(a["name"] for a in first["axes"])
        self.unit: str = next((a.get("unit", "") for a in first["axes"] if "unit" in a), "")
        self.medtk: dict[str, Any] = dict(group.attrs.get("medtk", {}))
        self.levels: list[Level] = []
        for dataset in first["datasets"]:
            array = group[dataset["path"]]
            scale = next(
                (
                    t["scale"]
                    for t in dataset.get("coordinateTransformations", [])
                    if t["type"] == "scale"
                ),
                [1.0] * len(self.axes),
            )
            self.levels.append(
                Level(
                    path=dataset["path"],
                    shape=tuple(array.shape),
                    chunks=tuple(array.chunks),
                    dtype=str(array.dtype),
                    scale=tuple(float(s) for s in scale),
                )
            )

    @classmethod
    def open(cls, path: Path | str) -> Store:
        """Open a store; a missing path or a folder that is not an OME-Zarr image is one line."""
        import zarr

        path = Path(path)
        if not path.exists():
            raise BadInputError(f"store {str(path)!r} does not exist")
        try:
            group = zarr.open_group(str(path), mode="r")
        except Exception:  # zarr raises several types for "not a group here"
            raise BadInputError(f"{str(path)!r} is not a zarr store") from None
        attrs = dict(group.attrs)
        ome = attrs.get("ome", attrs)  # NGFF 0.5 nests under "ome"; 0.4 keeps it top level
        if not ome.get("multiscales"):
            hint = ""
            if path.name.startswith(".") and ".partial" in path.name:
                hint = "; it is an unfinished write — re-run the command that made it"
            raise BadInputError(
                f"{str(path)!r} is not an OME-Zarr image (no multiscales metadata){hint}"
            )
        try:
            return cls(path, group, ome)
        except (KeyError, IndexError, TypeError) as exc:
            raise BadInputError(f"{str(path)!r} has broken OME-Zarr metadata: {exc}") from None

    @property
    def spatial_axes(self) -> tuple[str, ...]:
        """The spatial axes present, in order."""
        return tuple(a for a in self.axes if AXIS_TYPES.get(a) == "space")

    @property
    def spacing(self) -> tuple[float, ...]:
        """Physical pixel size of level 0 along the spatial axes."""
        scale = self.levels[0].scale
        return tuple(s for a, s in zip(self.axes, scale, strict=True) if a in self.spatial_axes)

    def downsample(self, level: int) -> tuple[float, ...]:
        """How much smaller level ``level`` is than level 0, per axis."""
        return tuple(
            n0 / n for n0, n in zip(self.levels[0].shape, self.levels[level].shape, strict=True)
        )

    def array(self, level: int = 0) -> zarr.Array:
        """The zarr array of one level."""
        return self.group[self.levels[level].path]

    def dask(self, level: int = 0) -> da.Array:
        """One level as a lazy dask array chunked like the store."""
        import dask.array as da

        return da.from_zarr(self.array(level))

    def source(self, level: int = 0, array: Any = None) -> ImageSource:
        """A level (or ``array``, an op applied to it) as input for writing a new store."""
        from medtk.io.source import array_source

        scale = self.levels[level].scale
        spacing = tuple(s for a, s in zip(self.axes, scale, strict=True) if a in self.spatial_axes)
        return array_source(
            self.dask(level) if array is None else array,
            path=self.path,
            format="medtk-store",
            axes=self.axes,
            spacing=spacing,
            unit=self.unit,
            metadata=dict(self.medtk),
        )

    @property
    def labels(self) -> list[str]:
        """Names of the label images under ``labels/``."""
        if "labels" not in self.group:
            return []
        attrs = dict(self.group["labels"].attrs)
        return list(attrs.get("ome", attrs).get("labels", []))

    def label(self, name: str) -> Store:
        """A label image, opened as a store of its own."""
        if name not in self.labels:
            known = ", ".join(self.labels) or "none"
            raise BadInputError(f"store {str(self.path)!r} has no label {name!r} (labels: {known})")
        return Store.open(self.path / "labels" / name)

    def describe(self) -> dict[str, Any]:
        """A JSON-ready description: axes, unit, levels, labels and medtk metadata."""
        return {
            "path": str(self.path),
            "axes": list(self.axes),
            "unit": self.unit,
            "levels": [
                {
                    "path": level.path,
                    "shape": list(level.shape),
                    "chunks": list(level.chunks),
                    "dtype": level.dtype,
                    "scale": list(level.scale),
                }
                for level in self.levels
            ],
            "labels": {name: self.label(name).describe() for name in self.labels},
            "medtk": self.medtk,
        }
