"""Mean squared error: regression targets where large errors should cost the most."""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from medtk.nn.losses.inputs import check_same_shape
from medtk.nn.losses.reduction import Reduction, check_reduction


class MSELoss(nn.Module):
    """Mean squared error (L2), element-wise::

        loss = (prediction - target) ** 2

    It is the Gaussian negative log-likelihood up to constants, so it regresses the mean;
    unlike :class:`torch.nn.MSELoss` it refuses to broadcast mismatched shapes.

    Reference: Goodfellow, Bengio & Courville, *Deep Learning* (2016), §5.5.1.

    :param reduction: ``"mean"``, ``"sum"`` or ``"none"`` (element-wise values).
    """

    def __init__(self, *, reduction: Reduction = "mean") -> None:
        super().__init__()
        self.reduction = check_reduction(reduction)

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Squared error of any-shaped ``prediction`` against a same-shaped target."""
        check_same_shape(prediction, target, type(self).__name__)
        return F.mse_loss(prediction, target.to(prediction.dtype), reduction=self.reduction)
