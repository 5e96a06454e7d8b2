"""Mean absolute error: regression targets with outliers, or sharper images than MSE gives."""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from medtk.nn.losses.inputs import check_same_shape
from medtk.nn.losses.reduction import Reduction, check_reduction


class MAELoss(nn.Module):
    """Mean absolute error (L1), element-wise::

        loss = |prediction - target|

    It is the Laplace negative log-likelihood up to constants, so it regresses the median
    and is less swayed by outliers than MSE; unlike :class:`torch.nn.L1Loss` it refuses to
    broadcast mismatched shapes.

    Reference: Goodfellow, Bengio & Courville, *Deep Learning* (2016), §5.5.1; its use for
    image translation: Zhao et al., "Loss functions for image restoration with neural
    networks", IEEE TCI 3(1), 2017.

    :param reduction: ``"mean"``, ``"sum"`` or ``"none"`` (element-wise values).
    """

    def __init__(self, *, reduction: Reduction = "mean") -> None:
        super().__init__()
        self.reduction = check_reduction(reduction)

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Absolute error of any-shaped ``prediction`` against a same-shaped target."""
        check_same_shape(prediction, target, type(self).__name__)
        return F.l1_loss(prediction, target.to(prediction.dtype), reduction=self.reduction)
