"""U-Net in 2D and 3D: the encoder–decoder with skip connections every dense task shares.

Ronneberger, Fischer & Brox, "U-Net: Convolutional Networks for Biomedical Image
Segmentation", MICCAI 2015; the 3D form is Çiçek et al., "3D U-Net", MICCAI 2016. Each
level is two 3×3(×3) convolutions with normalisation and ReLU; the encoder halves the
size with max pooling and doubles the channels, the decoder upsamples with a transposed
convolution and concatenates the encoder's features of the same level. Padding keeps the
output the size of the input (any size divisible by ``2 ** (depth - 1)``), which is what
tiled inference needs.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

Norm = Literal["batch", "instance", "group", "none"]
NORMS: tuple[str, ...] = ("batch", "instance", "group", "none")


def _norm(kind: str, channels: int, dims: int) -> nn.Module:
    if kind == "batch":
        return (nn.BatchNorm2d if dims == 2 else nn.BatchNorm3d)(channels)
    if kind == "instance":
        return (nn.InstanceNorm2d if dims == 2 else nn.InstanceNorm3d)(channels, affine=True)
    if kind == "group":
        return nn.GroupNorm(min(8, channels), channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown normalisation {kind!r}; choose from {', '.join(NORMS)}")


class ConvBlock(nn.Sequential):
    """Two convolution–normalisation–ReLU layers (optionally with dropout between)."""

    def __init__(
        self, dims: int, in_channels: int, out_channels: int, norm: str, dropout: float
    ) -> None:
        conv = nn.Conv2d if dims == 2 else nn.Conv3d
        bias = norm == "none"  # a normalisation's shift makes the conv bias redundant
        layers: list[nn.Module] = [
            conv(in_channels, out_channels, 3, padding=1, bias=bias),
            _norm(norm, out_channels, dims),
            nn.ReLU(inplace=True),
        ]
        if dropout:
            layers.append((nn.Dropout2d if dims == 2 else nn.Dropout3d)(dropout))
        layers += [
            conv(out_channels, out_channels, 3, padding=1, bias=bias),
            _norm(norm, out_channels, dims),
            nn.ReLU(inplace=True),
        ]
        super().__init__(*layers)


class UNet(nn.Module):
    """A 2D or 3D U-Net returning logits of the input's spatial size.

    :param dims: 2 for images ``(N, C, H, W)``, 3 for volumes ``(N, C, D, H, W)``.
    :param in_channels: input channels.
    :param classes: output channels (logits); one per class, or 1 for a binary mask.
    :param depth: levels, counting the bottleneck; the input's spatial size must be
        divisible by ``2 ** (depth - 1)``.
    :param width: channels of the first level; each level below doubles them.
    :param norm: ``batch``, ``instance``, ``group`` or ``none``.
    :param dropout: dropout probability inside the two deepest levels' blocks.
    """

    def __init__(
        self,
        dims: int = 2,
        *,
        in_channels: int = 1,
        classes: int = 2,
        depth: int = 4,
        width: int = 32,
        norm: Norm = "batch",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if dims not in (2, 3):
            raise ValueError(f"dims must be 2 or 3, not {dims}")
        if depth < 1:
            raise ValueError(f"depth must be at least 1, not {depth}")
        if norm not in NORMS:
            raise ValueError(f"unknown normalisation {norm!r}; choose from {', '.join(NORMS)}")
        self.dims = dims
        self.depth = depth
        channels = [width * 2**level for level in range(depth)]
        self.encoder = nn.ModuleList()
        previous = in_channels
        for level, out in enumerate(channels):
            deep = level >= depth - 2 and depth > 1
            self.encoder.append(ConvBlock(dims, previous, out, norm, dropout if deep else 0.0))
            previous = out
        pool = nn.MaxPool2d if dims == 2 else nn.MaxPool3d
        self.pool = pool(2)
        up = nn.ConvTranspose2d if dims == 2 else nn.ConvTranspose3d
        self.upsample = nn.ModuleList()
        self.decoder = nn.ModuleList()
        for level in reversed(range(depth - 1)):
            self.upsample.append(up(channels[level + 1], channels[level], 2, stride=2))
            self.decoder.append(
                ConvBlock(dims, 2 * channels[level], channels[level], norm, dropout=0.0)
            )
        conv = nn.Conv2d if dims == 2 else nn.Conv3d
        self.head = conv(channels[0], classes, 1)

    @property
    def divisor(self) -> int:
        """What every spatial size of the input must be a multiple of."""
        return 2 ** (self.depth - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != self.dims + 2:
            raise ValueError(
                f"a {self.dims}D U-Net takes {self.dims + 2}-dimensional input, "
                f"not shape {tuple(x.shape)}"
            )
        bad = [s for s in x.shape[2:] if s % self.divisor]
        if bad:
            raise ValueError(
                f"spatial size {tuple(x.shape[2:])} is not divisible by {self.divisor} "
                f"(2 ** (depth - 1)); pad the input or choose another tile"
            )
        skips = []
        for level, block in enumerate(self.encoder):
            x = block(x)
            if level < self.depth - 1:
                skips.append(x)
                x = self.pool(x)
        for up, block in zip(self.upsample, self.decoder, strict=True):
            x = block(torch.cat([skips.pop(), up(x)], dim=1))
        return self.head(x)


def unet2d(**options: object) -> UNet:
    """A 2D U-Net (``UNet(dims=2, …)``)."""
    return UNet(dims=2, **options)  # type: ignore[arg-type]


def unet3d(**options: object) -> UNet:
    """A 3D U-Net (``UNet(dims=3, …)``)."""
    return UNet(dims=3, **options)  # type: ignore[arg-type]
