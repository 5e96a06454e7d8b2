"""The data side of ``nas-liver``: CT stores as axial slices, Hounsfield windowing, and the
per-slice wrapper that lets the engine's tiled inference run a 2D U-Net over a volume.

Every slice goes through one pipeline, in training and in prediction alike:

1. **Window.** Hounsfield units are clipped to ``[LOW, HIGH]`` (default ``[-200, 250]``,
   the NAFLD liver window) and mapped to 0–255, rounded, exactly as
   :func:`medtk.ops.intensity.window` and ``medtk preprocess window`` do; the network
   sees that value / 255. A store that ``medtk preprocess window`` already windowed holds
   0–255 (its ``medtk.window`` metadata says over which HU); it is not windowed twice: with
   the same window its values are used as they are, with another they are turned back
   into HU first.
2. **Resample.** The slice is resized to the training size (``--size``, bilinear,
   antialiased when shrinking) and rounded to 0–255 again. The factor is the training
   size over the store's in-plane size, so the whole field of view always maps onto
   ``--size`` pixels: the scale the network learned.

Slices of training volumes are kept in memory as uint8 (``--size``² bytes each).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from medtk.errors import BadInputError

if TYPE_CHECKING:
    from medtk.io.store import Store

__all__ = [
    "Augment",
    "HuWindow",
    "LiverSliceNet",
    "LiverSlices",
    "Volume",
    "check_ct_store",
    "read_volume",
    "resize",
]

#: The NAFLD pipeline's liver window in Hounsfield units.
LIVER_WINDOW = (-200.0, 250.0)
#: Slices read, windowed and resized at a time when loading a volume.
READ_SLICES = 32


@dataclass(frozen=True)
class HuWindow:
    """Raw store values → the network's input in [0, 1], in steps of 1/255.

    :ivar low: lower edge of the window in HU, mapped to 0.
    :ivar high: upper edge, mapped to 1.
    :ivar stored: the window a windowed store (0–255) was made with, or ``None`` when the
        store holds Hounsfield units.
    """

    low: float = LIVER_WINDOW[0]
    high: float = LIVER_WINDOW[1]
    stored: tuple[float, float] | None = None

    def levels(self, x: torch.Tensor) -> torch.Tensor:
        """The window's 0–255 levels of raw values ``x`` (float64, float32 on MPS).

        The same operations in the same precision as :func:`medtk.ops.intensity.window`,
        so a value lands on the same level; NaN becomes 0.
        """
        dtype = torch.float32 if x.device.type == "mps" else torch.float64
        x = x.to(dtype)
        if self.stored is not None:
            if self.stored == (self.low, self.high):
                return torch.nan_to_num(x.round().clamp(0.0, 255.0), nan=0.0)
            low, high = self.stored
            x = low + x / 255.0 * (high - low)  # back to HU, then the wanted window
        scaled = (x.clamp(self.low, self.high) - self.low) / (self.high - self.low)
        return torch.nan_to_num((scaled * 255.0).round(), nan=0.0)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` windowed to float32 in [0, 1]."""
        return (self.levels(x) / 255.0).to(torch.float32)


def quantise(x: torch.Tensor) -> torch.Tensor:
    """Values in [0, 1] rounded to the nearest of the 256 levels of an 8-bit image."""
    return (x.clamp(0.0, 1.0) * 255.0).round() / 255.0


def resize(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """``(N, C, H, W)`` resized to ``size`` (bilinear; antialiased along shrinking axes)."""
    size = (int(size[0]), int(size[1]))
    if tuple(x.shape[-2:]) == size:
        return x
    shrink = size[0] < x.shape[-2] or size[1] < x.shape[-1]
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=shrink)


# --------------------------------------------------------------------------------------
# Stores


def store_window(store: Store, hu: Sequence[float]) -> HuWindow:
    """How ``store``'s values become the window ``hu``: from HU, or from an earlier window.

    :raises BadInputError: the store holds another modality or unit than CT in HU.
    """
    low, high = float(hu[0]), float(hu[1])
    if not low < high:
        raise BadInputError(f"--hu {low:g} {high:g}: LOW must be below HIGH")
    done = store.medtk.get("window")
    if done:
        return HuWindow(low, high, (float(done["low"]), float(done["high"])))
    modality = store.medtk.get("modality")
    unit = store.medtk.get("rescale", {}).get("unit", "HU")
    if modality not in (None, "CT") or unit not in ("HU", ""):
        raise BadInputError(
            f"{str(store.path)!r} holds {modality or 'unknown'} data, not CT in Hounsfield "
            "units; nas-liver segments CT"
        )
    return HuWindow(low, high)


def check_ct_store(path: Path, label: str | None = "liver") -> Store:
    """Open a CT volume store (axes ``zyx``) and check it has the label image ``label``.

    :raises BadInputError: no store, not a volume, channels, or the label is missing or
        shaped unlike the image.
    """
    from medtk.io.store import Store

    store = Store.open(path)
    if tuple(store.axes) != ("z", "y", "x"):
        kind = "2D" if "z" not in store.axes else "not a single CT volume"
        raise BadInputError(
            f"{str(path)!r} is {kind} (axes {''.join(store.axes)}); nas-liver needs a CT "
            "volume with axes zyx"
        )
    if label is not None:
        mask = store.label(label)
        if mask.levels[0].shape != store.levels[0].shape:
            raise BadInputError(
                f"label {label!r} of {str(path)!r} has shape {mask.levels[0].shape}, the "
                f"image {store.levels[0].shape}"
            )
    return store


@dataclass
class Volume:
    """One CT volume's slices at the training size.

    :ivar images: uint8 ``(Z, S, S)``: windowed levels 0–255.
    :ivar masks: uint8 ``(Z, S, S)``: 1 where the liver is.
    :ivar shape: the store's shape ``(Z, H, W)``.
    """

    path: Path
    subject: str
    images: np.ndarray
    masks: np.ndarray
    shape: tuple[int, int, int]

    @property
    def liver_slices(self) -> np.ndarray:
        """Indices of the slices that hold liver."""
        return np.flatnonzero(self.masks.reshape(len(self.masks), -1).any(axis=1))


def liver_mask(values: np.ndarray, value: int | None) -> np.ndarray:
    """The liver in a label image: ``value``, or every non-zero value."""
    return values != 0 if value is None else values == value


def read_volume(
    path: Path,
    *,
    label: str,
    hu: Sequence[float],
    size: int,
    label_value: int | None = None,
) -> Volume:
    """Read a CT store's slices and liver mask, windowed and resized to ``size``²."""
    store = check_ct_store(path, label)
    window = store_window(store, hu)
    image, mask = store.array(0), store.label(label).array(0)
    depth = image.shape[0]
    images = np.empty((depth, size, size), dtype=np.uint8)
    masks = np.empty((depth, size, size), dtype=np.uint8)
    for start in range(0, depth, READ_SLICES):
        part = slice(start, min(start + READ_SLICES, depth))
        x = window(torch.from_numpy(np.asarray(image[part]))[:, None])
        images[part] = (quantise(resize(x, (size, size)))[:, 0] * 255).round().byte().numpy()
        m = torch.from_numpy(liver_mask(np.asarray(mask[part]), label_value)[:, None]).float()
        masks[part] = (resize(m, (size, size))[:, 0] >= 0.5).byte().numpy()
    subject = str(store.medtk.get("subject") or Path(path).name.removesuffix(".zarr"))
    return Volume(Path(path), subject, images, masks, tuple(image.shape))


# --------------------------------------------------------------------------------------
# Training data


@dataclass(frozen=True)
class Augment:
    """Light augmentation of a slice and its mask (all off: zeros).

    :ivar flip: probability of a left–right flip (off by default: which side the liver is
        on is what tells it from the spleen, whose attenuation is close).
    :ivar rotate: largest rotation in degrees, either way.
    :ivar zoom: largest relative change of scale, either way.
    :ivar jitter: largest relative change of contrast, and half of it as brightness.
    """

    flip: float = 0.0
    rotate: float = 10.0
    zoom: float = 0.1
    jitter: float = 0.1

    @property
    def off(self) -> bool:
        return not (self.flip or self.rotate or self.zoom or self.jitter)

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Augment ``(1, S, S)`` image and mask with draws from torch's global generator."""
        draws = torch.rand(5).tolist()
        if draws[0] < self.flip:
            x, y = x.flip(-1), y.flip(-1)
        angle = math.radians((2 * draws[1] - 1) * self.rotate)
        scale = 1.0 + (2 * draws[2] - 1) * self.zoom
        if angle or scale != 1.0:
            cos, sin = math.cos(angle) / scale, math.sin(angle) / scale
            theta = torch.tensor([[[cos, -sin, 0.0], [sin, cos, 0.0]]], dtype=torch.float32)
            grid = F.affine_grid(theta, [1, 1, *x.shape[-2:]], align_corners=False)
            both = torch.stack([x, y])  # (2, 1, S, S)
            moved = F.grid_sample(
                both, grid.expand(2, -1, -1, -1), mode="bilinear", align_corners=False
            )
            x, y = moved[0], (moved[1] >= 0.5).float()
        if self.jitter:
            contrast = 1.0 + (2 * draws[3] - 1) * self.jitter
            brightness = (2 * draws[4] - 1) * self.jitter / 2
            x = (x * contrast + brightness).clamp(0.0, 1.0)
        return x, y


class LiverSlices:
    """Axial slices of volumes for training: ``(image (1, S, S), mask (1, S, S))``, float32.

    :param volumes: the volumes.
    :param slices: per volume, the indices of the slices it may give.
    :param per_volume: slices drawn per volume and epoch (0: every slice once).
    :param liver_fraction: with ``per_volume``, the share of draws from slices with liver
        (the rest from all of the volume's slices).
    :param augment: augmentation, or ``None``.
    """

    def __init__(
        self,
        volumes: Sequence[Volume],
        slices: Sequence[np.ndarray],
        *,
        per_volume: int = 0,
        liver_fraction: float = 0.5,
        augment: Augment | None = None,
    ) -> None:
        pairs = [(v, s) for v, s in zip(volumes, slices, strict=True) if len(s)]
        self.volumes = [v for v, _ in pairs]
        self.slices = [np.asarray(s) for _, s in pairs]
        self.liver = [
            np.intersect1d(s, v.liver_slices)
            for v, s in zip(self.volumes, self.slices, strict=True)
        ]
        self.per_volume = per_volume
        self.liver_fraction = liver_fraction
        self.augment = None if augment is None or augment.off else augment
        self.items = [(v, int(z)) for v, s in enumerate(self.slices) for z in s]
        if not self.items:
            raise BadInputError("no slices left to train on")

    def __len__(self) -> int:
        return len(self.volumes) * self.per_volume if self.per_volume else len(self.items)

    def pick(self, index: int) -> tuple[int, int]:
        """``(volume, slice)`` of item ``index``; a random slice when drawing per volume."""
        if not self.per_volume:
            return self.items[index]
        volume = index // self.per_volume
        liver = self.liver[volume]
        draws = torch.rand(2).tolist()
        pool = liver if len(liver) and draws[0] < self.liver_fraction else self.slices[volume]
        return volume, int(pool[min(int(draws[1] * len(pool)), len(pool) - 1)])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        v, z = self.pick(index)
        volume = self.volumes[v]
        x = torch.from_numpy(volume.images[z][None].astype(np.float32) / 255.0)
        y = torch.from_numpy(volume.masks[z][None].astype(np.float32))
        if self.augment is not None:
            x, y = self.augment(x, y)
        return x, y


# --------------------------------------------------------------------------------------
# Prediction


class LiverSliceNet(nn.Module):
    """A 2D network run slice by slice on tiles of a 3D store, raw values in.

    Maps ``(N, C, D, H, W)`` store values (HU, or 0–255 of a windowed store) to
    ``(N, K, D, H, W)`` logits: each of the ``D`` axial slices is windowed, resized by
    ``zoom`` (to the training scale, in multiples of the U-Net's divisor), run through
    ``net``, and its logits resized back to ``H × W``.

    :param net: the 2D network ``(B, C, h, w) → (B, K, h, w)``.
    :param window: raw values → [0, 1].
    :param zoom: training size over the store's in-plane size, per axis ``(y, x)``.
    :param divisor: what the network's input sizes must be multiples of.
    """

    def __init__(
        self,
        net: torch.nn.Module,
        window: HuWindow,
        zoom: tuple[float, float] = (1.0, 1.0),
        divisor: int = 1,
    ) -> None:
        super().__init__()
        self.net = net
        self.window = window
        self.zoom = (float(zoom[0]), float(zoom[1]))
        self.divisor = int(divisor)

    def to(self, *args: Any, **kwargs: Any) -> LiverSliceNet:
        """As ``Module.to``; the 3D channels-last format that tiled inference asks for a
        volume's network means the 2D one for the slices' network inside."""
        if kwargs.get("memory_format") is torch.channels_last_3d:
            kwargs["memory_format"] = torch.channels_last
        return super().to(*args, **kwargs)

    def working_size(self, height: int, width: int) -> tuple[int, int]:
        """The size a ``height × width`` slice is resized to before the network."""
        d = self.divisor
        return (
            max(d, round(height * self.zoom[0] / d) * d),
            max(d, round(width * self.zoom[1] / d) * d),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 5:
            raise ValueError(f"LiverSliceNet takes (N, C, D, H, W) tiles, not {tuple(x.shape)}")
        n, c, d, h, w = x.shape
        slices = self.window(x.transpose(1, 2).reshape(n * d, c, h, w))
        size = self.working_size(h, w)
        if size != (h, w):
            slices = quantise(resize(slices, size))
        weight = next(self.net.parameters(), None)
        if weight is not None and weight.is_contiguous(memory_format=torch.channels_last):
            slices = slices.contiguous(memory_format=torch.channels_last)
        y = resize(self.net(slices), (h, w))
        return y.reshape(n, d, -1, h, w).transpose(1, 2)


def predicted_liver(logits: torch.Tensor) -> torch.Tensor:
    """The liver mask of logits ``(B, K, …)``: sigmoid ≥ 0.5 for one channel, else argmax
    (as tiled inference labels them)."""
    if logits.shape[1] == 1:
        return logits[:, 0] >= 0
    return logits.argmax(dim=1) == 1


def liver_probability(logits: torch.Tensor) -> torch.Tensor:
    """The liver's probability ``(B, …)`` from logits ``(B, K, …)``."""
    if logits.shape[1] == 1:
        return logits[:, 0].sigmoid()
    return logits.softmax(dim=1)[:, 1]
