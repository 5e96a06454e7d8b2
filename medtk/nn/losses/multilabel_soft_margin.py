"""Multi-label soft-margin loss: independent yes/no per class, averaged over the classes."""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from medtk.nn.losses.inputs import Weights, as_weights, channel_view, check_batch, check_same_shape
from medtk.nn.losses.reduction import Reduction, check_reduction, reduce


class MultiLabelSoftMarginLoss(nn.Module):
    """Multi-label soft-margin loss on scores, per sample or per voxel.

    For scores ``x`` and 0/1 targets ``y`` over ``C`` classes (axis 1)::

        loss = -(1 / C) * sum_c w[c] * (y[c] * log(sigmoid(x[c]))
                                         + (1 - y[c]) * log(sigmoid(-x[c])))

    It is one-vs-rest logistic regression averaged over the classes, which lets one network
    answer several overlapping questions (an EM voxel may be membrane and mitochondrion).
    :class:`torch.nn.MultiLabelSoftMarginLoss` computes the same for ``(N, C)`` but treats
    the *last* axis as the classes; this one keeps the classes on axis 1 so dense
    ``(N, C, [D,] H, W)`` maps work, and ``"none"`` returns ``(N, [D,] H, W)``.

    Reference: PyTorch documentation, ``torch.nn.MultiLabelSoftMarginLoss``; Bishop,
    *Pattern Recognition and Machine Learning* (2006), §4.3.2 (logistic regression).

    :param weight: one non-negative weight per class.
    :param reduction: ``"mean"``, ``"sum"`` or ``"none"``.
    """

    weight: torch.Tensor | None

    def __init__(self, weight: Weights = None, *, reduction: Reduction = "mean") -> None:
        super().__init__()
        self.register_buffer("weight", as_weights(weight))
        self.reduction = check_reduction(reduction)

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Loss of ``(N, C, …)`` scores against same-shaped 0/1 targets."""
        name = type(self).__name__
        check_batch(prediction, name)
        check_same_shape(prediction, target, name)
        target = target.to(prediction.dtype)
        loss = -(target * F.logsigmoid(prediction) + (1 - target) * F.logsigmoid(-prediction))
        if self.weight is not None:
            loss = channel_view(self.weight, prediction, name) * loss
        return reduce(loss.mean(dim=1), self.reduction)
