"""ZSSR over what medtk reads: 2D pictures, xy slices of volumes, and z of anisotropic
volumes; reading the inputs (PNG/JPEG/TIFF files, medtk stores) and writing the outputs.

Strategies (after Shocher, Cohen & Irani, 2018, extended to volumes):

- **2D** (:func:`superres_2d`): the image is its own training set.
- **xy** (:func:`superres_xy`): one network per volume, trained on its xy slices (up to
  :data:`TRAINING_SLICES` of them, evenly spaced), then applied to every slice.
- **z** (:func:`superres_z`): a volume whose z spacing is coarser than its xy spacing.
  Its xz and yz slices are sharp along x (or y) and blurred along z. Turned so that
  the sharp axis comes first, they are fathers whose sons are downscaled along that
  axis only, by the z factor: the network learns to restore one axis from the volume's
  own fine axis. It is then applied to every xz slice, upsampling z.

Intensities are scaled to [0, 1] by the input's minimum and maximum for training and
scaled back after; integer outputs are rounded and clipped to their dtype.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np

from medtk.errors import BadInputError
from medtk.superres.kernels import scaled_shape
from medtk.superres.zssr import ZssrModel, ZssrSettings, fit, normalise

if TYPE_CHECKING:
    import torch

    from medtk.io.source import ImageSource

__all__ = [
    "InputImage",
    "Progress",
    "default_output",
    "load_image",
    "superres_2d",
    "superres_xy",
    "superres_z",
    "write_output",
]

#: Slices at most that a volume's network trains on (per orientation with ``--axes z``).
TRAINING_SLICES = 32
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
TIFF_SUFFIXES = (".tif", ".tiff")


class Progress(Protocol):
    """Where the strategies report progress: a new phase, then steps done in it."""

    def phase(self, description: str, total: int) -> None:
        """A phase of ``total`` steps begins (training iterations, slices)."""

    def step(self, done: int, status: str = "") -> None:
        """``done`` steps of the current phase are complete."""


class NoProgress:
    """Progress that goes nowhere."""

    def phase(self, description: str, total: int) -> None:
        """Ignore it."""

    def step(self, done: int, status: str = "") -> None:
        """Ignore it."""


# ---------------------------------------------------------------------------- inputs


@dataclass
class InputImage:
    """An input read whole: pixels channels-first, and what to keep about it."""

    path: Path
    #: ``(C, H, W)`` for 2D images, ``(C, Z, H, W)`` for volumes.
    data: np.ndarray
    #: The axes the file or store had, in NGFF order, without ``t``.
    axes: tuple[str, ...]
    #: Physical size per spatial axis (``z``, ``y``, ``x`` present), in ``unit``.
    spacing: tuple[float, ...]
    unit: str
    kind: Literal["store", "png", "tiff"]
    metadata: dict[str, Any] = field(default_factory=dict)
    #: Label images of a store: name → (array, its axes).
    labels: dict[str, tuple[np.ndarray, tuple[str, ...]]] = field(default_factory=dict)

    @property
    def is_volume(self) -> bool:
        """True for images with a z axis of more than one slice."""
        return self.data.ndim == 4

    @property
    def has_channels(self) -> bool:
        return "c" in self.axes


def load_image(path: Path) -> InputImage:
    """Read a PNG/JPEG picture, a TIFF image or stack, or a medtk store (level 0)."""
    path = Path(path)
    if not path.exists():
        raise BadInputError(f"{str(path)!r} does not exist")
    if path.is_dir():
        return _load_store(path)
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        from medtk.io.slices import SliceFolderReader

        return _load_source(SliceFolderReader(), path, "png")
    if suffix in TIFF_SUFFIXES:
        from medtk.io.tiff import TiffReader

        return _load_source(TiffReader(), path, "tiff")
    raise BadInputError(
        f"{str(path)!r} is not a PNG, JPEG or TIFF image or a medtk store (.zarr folder)"
    )


def _load_source(reader: Any, path: Path, kind: Literal["png", "tiff"]) -> InputImage:
    if not reader.sniff(path):
        raise BadInputError(f"{str(path)!r} is not a readable {kind.upper()} image")
    source: ImageSource = reader.open(path)
    try:
        data = source.read_all()
    finally:
        source.close()
    return _as_input(
        path,
        data,
        source.axes,
        source.spacing,
        unit=source.unit,
        kind=kind,
        metadata=dict(source.metadata),
    )


def _load_store(path: Path) -> InputImage:
    from medtk.io.store import Store

    store = Store.open(path)
    image = _as_input(
        path,
        np.asarray(store.array(0)[...]),
        store.axes,
        store.spacing,
        unit=store.unit,
        kind="store",
        metadata=dict(store.medtk),
    )
    for name in store.labels:
        label = store.label(name)
        image.labels[name] = _drop_t(np.asarray(label.array(0)[...]), label.axes)
    return image


def _drop_t(data: np.ndarray, axes: Sequence[str]) -> tuple[np.ndarray, tuple[str, ...]]:
    axes = tuple(axes)
    if "t" in axes:
        t = axes.index("t")
        if data.shape[t] != 1:
            raise BadInputError(
                f"the image has {data.shape[t]} time points; super-resolve one at a time"
            )
        data = np.take(data, 0, axis=t)
        axes = axes[:t] + axes[t + 1 :]
    return data, axes


def _as_input(
    path: Path,
    data: np.ndarray,
    axes: Sequence[str],
    spacing: Sequence[float],
    *,
    unit: str,
    kind: Literal["store", "png", "tiff"],
    metadata: dict[str, Any],
) -> InputImage:
    data, axes = _drop_t(np.asarray(data), axes)
    if data.dtype.kind not in "uif" and data.dtype != np.bool_:
        raise BadInputError(f"{str(path)!r} holds {data.dtype} pixels, not numbers")
    spatial = tuple(a for a in axes if a in ("z", "y", "x"))
    if spatial not in (("y", "x"), ("z", "y", "x")):
        raise BadInputError(
            f"{str(path)!r} has axes {''.join(axes)}; ZSSR takes 2D images (yx) and volumes (zyx)"
        )
    if "c" not in axes:
        data = data[None]
    if data.dtype == np.bool_:
        data = data.astype(np.uint8)
    if data.ndim == 4 and data.shape[1] == 1 and kind != "store":
        data = data[:, 0]  # a one-page stack is a picture
        axes = tuple(a for a in axes if a != "z")
        spacing = tuple(spacing)[1:]
    if min(data.shape[-2:]) < 4:
        raise BadInputError(
            f"{str(path)!r} is {data.shape[-2]} × {data.shape[-1]} pixels; "
            "ZSSR needs at least 4 × 4"
        )
    return InputImage(
        path=path,
        data=data,
        axes=tuple(axes),
        spacing=tuple(float(s) for s in spacing),
        unit=unit,
        kind=kind,
        metadata=metadata,
    )


# ---------------------------------------------------------------------------- strategies


def _fit_reporting(
    fathers: Sequence[np.ndarray],
    inputs: Sequence[np.ndarray],
    scale: tuple[float, float],
    *,
    settings: ZssrSettings,
    device: str | torch.device,
    progress: Progress,
) -> ZssrModel:
    progress.phase("training ZSSR", settings.iterations)
    return fit(
        fathers,
        inputs,
        scale,
        settings,
        device=device,
        on_step=lambda done, _total, status: progress.step(done, status),
    )


def superres_2d(
    image: np.ndarray,
    scale: Sequence[float],
    settings: ZssrSettings,
    *,
    device: str | torch.device = "cpu",
    progress: Progress | None = None,
    shape: Sequence[int] | None = None,
) -> tuple[np.ndarray, ZssrModel]:
    """One image ``(C, H, W)``, any dtype, super-resolved by ``scale`` (float32 result in
    the input's units) with the network trained on it; ``shape`` fixes the output size."""
    progress = progress or NoProgress()
    pair = _pair(scale)
    data, low, span = normalise(image)
    model = _fit_reporting(
        [data], [data], pair, settings=settings, device=device, progress=progress
    )
    progress.phase("upscaling", 1)
    out = model.upscale(data, pair, shape=shape)
    progress.step(1)
    return out * span + low, model


def superres_xy(
    volume: np.ndarray,
    scale: Sequence[float],
    settings: ZssrSettings,
    *,
    device: str | torch.device = "cpu",
    progress: Progress | None = None,
) -> tuple[np.ndarray, ZssrModel]:
    """Every xy slice of ``volume`` ``(C, Z, H, W)`` super-resolved by ``scale`` (y, x),
    with one network trained on (up to :data:`TRAINING_SLICES`) slices of the volume."""
    progress = progress or NoProgress()
    pair = _pair(scale)
    data, low, span = normalise(volume)
    picks = _training_indices(data, axis=1)
    fathers = [data[:, z] for z in picks]
    samples = fathers[:: max(1, len(fathers) // 4)][:4]  # gradual stages upscale a few
    model = _fit_reporting(
        fathers, samples, pair, settings=settings, device=device, progress=progress
    )
    shape = scaled_shape(data.shape[2:], pair)
    out = np.empty((data.shape[0], data.shape[1], *shape), dtype=np.float32)
    progress.phase("upscaling slices", data.shape[1])
    for z in range(data.shape[1]):
        out[:, z] = model.upscale(data[:, z], pair)
        progress.step(z + 1)
    return out * span + low, model


def superres_z(
    volume: np.ndarray,
    factor: float,
    settings: ZssrSettings,
    *,
    device: str | torch.device = "cpu",
    progress: Progress | None = None,
) -> tuple[np.ndarray, ZssrModel]:
    """``volume`` ``(C, Z, H, W)`` upsampled along z by ``factor``: trained on its xz and
    yz slices turned so that the fine axis comes first, applied to every xz slice."""
    progress = progress or NoProgress()
    if not factor > 1:
        raise BadInputError(f"the z factor must be above 1, got {factor:g}")
    if volume.shape[1] < 4:
        raise BadInputError(f"the volume has {volume.shape[1]} slices; z needs at least 4")
    data, low, span = normalise(volume)
    pair = (float(factor), 1.0)
    fathers = [np.swapaxes(data[:, :, y, :], 1, 2) for y in _training_indices(data, axis=2)]
    fathers += [np.swapaxes(data[:, :, :, x], 1, 2) for x in _training_indices(data, axis=3)]
    samples = [data[:, :, y, :] for y in _training_indices(data, axis=2, count=4)]
    model = _fit_reporting(
        fathers, samples, pair, settings=settings, device=device, progress=progress
    )
    depth = scaled_shape((data.shape[1],), (factor,))[0]
    out = np.empty((data.shape[0], depth, *data.shape[2:]), dtype=np.float32)
    progress.phase("upscaling xz slices", data.shape[2])
    for y in range(data.shape[2]):
        out[:, :, y, :] = model.upscale(data[:, :, y, :], pair)
        progress.step(y + 1)
    return out * span + low, model


def _pair(scale: Sequence[float]) -> tuple[float, float]:
    values = [float(s) for s in scale]
    if len(values) == 1:
        values *= 2
    if len(values) != 2:
        raise BadInputError(f"give one factor or two (y x), got {len(values)}")
    if min(values) < 1 or max(values) <= 1:
        raise BadInputError(
            f"scale {values} must be at least 1 along each axis and above 1 along one"
        )
    return values[0], values[1]


def _training_indices(data: np.ndarray, *, axis: int, count: int = TRAINING_SLICES) -> list[int]:
    """Up to ``count`` evenly spaced indices along ``axis`` whose slices are not flat."""
    n = data.shape[axis]
    candidates = np.unique(np.linspace(0, n - 1, min(n, 2 * count)).round().astype(int))
    varied = [int(i) for i in candidates if np.ptp(np.take(data, i, axis=axis)) > 0]
    chosen = varied or [int(i) for i in candidates]
    if len(chosen) > count:
        keep = np.linspace(0, len(chosen) - 1, count).round().astype(int)
        chosen = [chosen[k] for k in keep]
    return chosen


def z_factor(image: InputImage) -> float:
    """The z spacing over the mean of the y and x spacings: the factor to isotropy."""
    if not image.is_volume:
        raise BadInputError(f"{str(image.path)!r} is a 2D image; --axes z needs a volume")
    z, y, x = image.spacing
    factor = z / ((y + x) / 2)
    if factor <= 1.0001:
        raise BadInputError(
            f"{str(image.path)!r} has voxels of {z:g} × {y:g} × {x:g} {image.unit or 'units'}"
            " (z × y × x): z is not coarser than xy; give the factor with --scale"
        )
    return factor


# ---------------------------------------------------------------------------- outputs


def default_output(image: InputImage, scale: Sequence[float]) -> Path:
    """``STEM.zssr2.png`` (or ``.tif``, or ``.zarr``) beside the input."""
    label = "x".join(f"{s:g}" for s in dict.fromkeys(scale))  # 2, or 1x2.5
    path = image.path
    if image.kind == "store":
        stem = path.name.removesuffix(".zarr")
        return path.with_name(f"{stem}.zssr{label}.zarr")
    suffix = ".png" if image.kind == "png" else path.suffix.lower()
    name = path.name
    for ending in (".ome.tiff", ".ome.tif"):
        if name.lower().endswith(ending):
            name = name[: -len(ending)] + ending[:4]
    stem = Path(name).stem
    return path.with_name(f"{stem}.zssr{label}{suffix}")


def as_dtype(data: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Float pixels in ``dtype``: rounded and clipped to its range for integers."""
    dtype = np.dtype(dtype)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return np.clip(np.rint(data), info.min, info.max).astype(dtype)
    if dtype.kind == "f":
        return data.astype(dtype)
    return data.astype(np.float32)


def write_output(
    image: InputImage,
    result: np.ndarray,
    out: Path,
    *,
    spacing: tuple[float, ...],
    record: dict[str, Any],
    overwrite: bool,
    on_blocks: Callable[[str, int], Callable[[int], None]] | None = None,
) -> Path:
    """Write ``result`` (channels-first, float) as ``out``: a store for ``.zarr`` or a
    store input, else PNG or TIFF by ``out``'s suffix; return ``out``.

    :param spacing: the new physical size per spatial axis.
    :param record: what was done, kept in the store's metadata under ``superres``.
    :param on_blocks: for stores: ``on_blocks(description, total)`` → ``advance(n)``.
    """
    data = as_dtype(result, image.data.dtype)
    suffix = out.suffix.lower()
    if image.kind == "store" or suffix == ".zarr":
        return _write_store(
            image,
            data,
            out,
            spacing=spacing,
            record=record,
            overwrite=overwrite,
            on_blocks=on_blocks,
        )
    if suffix == ".png":
        return _write_png(data, out, overwrite)
    if suffix in TIFF_SUFFIXES:
        return _write_tiff(image, data, out, spacing, overwrite)
    raise BadInputError(
        f"output {str(out)!r}: name it .png, .tif or .tiff (or .zarr for a medtk store)"
    )


def _in_input_axes(image: InputImage, data: np.ndarray) -> np.ndarray:
    """Channels-first pixels back in the input's axes (no ``c`` when it had none)."""
    return data if image.has_channels else data[0]


def _write_png(data: np.ndarray, out: Path, overwrite: bool) -> Path:
    import imagecodecs

    from medtk.atomic import written_aside

    if data.ndim != 3:
        raise BadInputError(f"output {str(out)!r}: a volume cannot be a PNG; write .tif or .zarr")
    if data.dtype not in (np.uint8, np.uint16):
        raise BadInputError(
            f"output {str(out)!r}: PNG holds 8- or 16-bit integers, the image is {data.dtype};"
            " write .tif instead"
        )
    channels = data.shape[0]
    if channels not in (1, 3, 4):
        raise BadInputError(
            f"output {str(out)!r}: PNG holds 1, 3 or 4 channels, the image has {channels}"
        )
    pixels = data[0] if channels == 1 else np.moveaxis(data, 0, -1)
    encoded = imagecodecs.png_encode(np.ascontiguousarray(pixels))
    with written_aside(out, overwrite=overwrite) as target:
        Path(target).write_bytes(encoded)
    return out


def _write_tiff(
    image: InputImage, data: np.ndarray, out: Path, spacing: tuple[float, ...], overwrite: bool
) -> Path:
    import tifffile

    from medtk.atomic import written_aside

    options: dict[str, Any] = {}
    yx = spacing[-2:]
    if image.unit == "micrometer":
        options["resolution"] = (1e4 / yx[1], 1e4 / yx[0])
        options["resolutionunit"] = "CENTIMETER"
    with written_aside(out, overwrite=overwrite) as target:
        if data.ndim == 4:  # (C, Z, Y, X) → ImageJ's ZCYX hyperstack where it can
            stack = np.moveaxis(data, 0, 1)
            if image.has_channels is False:
                stack = stack[:, 0]
            if data.dtype in (np.uint8, np.uint16, np.float32):
                metadata: dict[str, Any] = {"axes": "ZCYX" if stack.ndim == 4 else "ZYX"}
                metadata["spacing"] = spacing[0]
                if image.unit == "micrometer":
                    metadata["unit"] = "um"
                tifffile.imwrite(target, stack, imagej=True, metadata=metadata, **options)
            else:
                axes = "ZCYX" if stack.ndim == 4 else "ZYX"
                tifffile.imwrite(target, stack, metadata={"axes": axes}, **options)
        elif data.shape[0] in (3, 4) and data.dtype in (np.uint8, np.uint16):
            tifffile.imwrite(target, np.moveaxis(data, 0, -1), photometric="rgb", **options)
        else:
            pixels = data[0] if data.shape[0] == 1 else data
            tifffile.imwrite(target, pixels, photometric="minisblack", **options)
    return out


def _write_store(
    image: InputImage,
    data: np.ndarray,
    out: Path,
    *,
    spacing: tuple[float, ...],
    record: dict[str, Any],
    overwrite: bool,
    on_blocks: Callable[[str, int], Callable[[int], None]] | None,
) -> Path:
    from medtk.io.ingest import IngestOptions, write_store
    from medtk.io.source import array_source
    from medtk.threads import default_workers

    pixels = _in_input_axes(image, data)
    metadata = _scaled_metadata(image, spacing)
    metadata["superres"] = record  # a store keeps it under "extra"
    if image.kind == "store":
        metadata["derived_from"] = {
            "store": str(image.path.resolve()),
            "source": image.metadata.get("source"),
            "step": "medtk superres zssr",
        }
    source = array_source(
        pixels,
        path=image.path,
        format="medtk-store" if image.kind == "store" else image.kind,
        axes=image.axes,
        spacing=spacing,
        unit=image.unit,
        metadata=metadata,
    )
    spatial_shape = pixels.shape[-len(spacing) :]
    labels = {
        name: array_source(
            nearest(label, spatial_shape),
            path=image.path / "labels" / name,
            format="medtk-store",
            axes=label_axes,
            spacing=spacing,
            unit=image.unit,
        )
        for name, (label, label_axes) in image.labels.items()
    }
    options = IngestOptions(workers=default_workers(), overwrite=overwrite)
    write_store(source, out, labels=labels, options=options, progress=_Blocks(on_blocks))
    return out


class _Blocks:
    """A store writer's progress callbacks, forwarded to ``on_blocks``."""

    def __init__(self, on_blocks: Callable[[str, int], Callable[[int], None]] | None) -> None:
        self.on_blocks = on_blocks
        self.advance_by: Callable[[int], None] | None = None

    def start(self, description: str, total: int) -> None:
        if self.on_blocks is not None:
            self.advance_by = self.on_blocks(f"writing {description}", total)

    def advance(self, blocks: int) -> None:
        if self.advance_by is not None:
            self.advance_by(blocks)


def _scaled_metadata(image: InputImage, spacing: tuple[float, ...]) -> dict[str, Any]:
    """The input's medtk metadata with µm per pixel and magnification made to fit the new
    pixel size."""
    metadata = dict(image.metadata)
    ratio_y, ratio_x = (
        old / new for old, new in zip(image.spacing[-2:], spacing[-2:], strict=True)
    )
    mpp = metadata.get("mpp")
    if isinstance(mpp, list | tuple) and len(mpp) == 2:
        metadata["mpp"] = [float(mpp[0]) / ratio_y, float(mpp[1]) / ratio_x]
    elif isinstance(mpp, int | float):
        metadata["mpp"] = float(mpp) / ratio_x
    magnification = metadata.get("magnification")
    if isinstance(magnification, int | float) and math.isclose(ratio_y, ratio_x):
        metadata["magnification"] = float(magnification) * ratio_x
    return metadata


def nearest(label: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """``label``'s last ``len(shape)`` axes resized to ``shape`` by nearest neighbour
    (pixel centres aligned), so label values stay labels."""
    out = label
    offset = label.ndim - len(shape)
    for k, n_out in enumerate(shape):
        axis = offset + k
        n_in = out.shape[axis]
        if n_in == n_out:
            continue
        index = np.floor((np.arange(n_out) + 0.5) * n_in / n_out).astype(int)
        out = np.take(out, np.clip(index, 0, n_in - 1), axis=axis)
    return out


def new_spacing(
    spacing: Sequence[float], before: Sequence[int], after: Sequence[int]
) -> tuple[float, ...]:
    """Spacing after resizing ``before`` to ``after`` (the spatial axes)."""
    return tuple(s * b / a for s, b, a in zip(spacing, before, after, strict=True))


def check_size(shape: Sequence[int], limit: int = 2**30) -> None:
    """Refuse an output of more than ``limit`` values: inputs and outputs are held in
    memory whole (as float32), which suits images and volumes, not whole slides."""
    if math.prod(shape) > limit:
        raise BadInputError(
            f"the output would have {math.prod(shape):,} values (more than {limit:,}); "
            "crop the input or use a smaller --scale"
        )
