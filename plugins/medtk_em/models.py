"""The em family's networks: a 2D/3D U-Net per run, and the stack of one-vs-rest networks.

Training builds :func:`build_network` from the run's config; prediction rebuilds the same
network from the saved config, loads the run's weights, and for a binary (one-vs-rest)
run stacks the networks of every class into :class:`BinaryStack`, so the tiled inference
runs once and writes one probability channel per class.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import nn

from medtk.nn.models.unet import UNet

if TYPE_CHECKING:
    from medtk_em.config import EmTrainOptions


def outputs(config: EmTrainOptions) -> int:
    """Output channels: one per class, or one for a binary (one-class) network."""
    return 1 if config.binary_class is not None else config.classes


def build_network(config: EmTrainOptions) -> UNet:
    """The run's U-Net: 3D, or 2D when the patch is one slice deep."""
    dims = 2 if config.patch[0] == 1 else 3
    return UNet(
        dims=dims,
        in_channels=1,
        classes=outputs(config),
        depth=config.depth,
        width=config.width,
        norm=config.norm,
        dropout=config.dropout,
    )


class BinaryStack(nn.Module):
    """One-vs-rest networks run side by side: their one-channel outputs concatenated.

    :param nets: one network per class, in the order of the output channels.
    """

    def __init__(self, nets: Sequence[nn.Module]) -> None:
        super().__init__()
        if not nets:
            raise ValueError("BinaryStack needs at least one network")
        self.nets = nn.ModuleList(nets)
        self.dims = getattr(nets[0], "dims", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([net(x) for net in self.nets], dim=1)
