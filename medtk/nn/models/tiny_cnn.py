"""A tiny convolutional classifier: enough to learn simple shapes in seconds on a CPU."""

from __future__ import annotations

import torch
from torch import nn


class TinyCNN(nn.Module):
    """Two conv–norm–ReLU–pool stages, global average pooling and a linear head.

    :param in_channels: image channels.
    :param classes: outputs; 1 gives a single logit for binary tasks.
    :param width: channels of the first stage (the second has twice as many).
    """

    def __init__(self, in_channels: int = 1, classes: int = 1, width: int = 8) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.BatchNorm2d(2 * width),
            nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(1),
        )
        self.head = nn.Linear(2 * width, classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        logits = self.head(self.features(images).flatten(1))
        return logits.squeeze(1) if logits.shape[1] == 1 else logits
