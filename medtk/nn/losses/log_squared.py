"""Log-squared loss: squared error between logarithms, so dim and bright signal count alike."""

from __future__ import annotations

import torch
from torch import nn

from medtk.nn.losses.inputs import check_same_shape, promote
from medtk.nn.losses.reduction import Reduction, check_reduction, reduce


class LogSquaredLoss(nn.Module):
    """Log-squared loss ("LsL"): the squared log ratio of target to prediction, element-wise::

        loss = (log(target + eps) - log(prediction + eps)) ** 2
             = log((target + eps) / (prediction + eps)) ** 2

    An error is priced relative to the intensity, so a faint fluorescent structure weighs
    as much as a bright one; the virtual-staining work below pre-trains its generator with
    it before adversarial training. Both inputs must be non-negative intensities (e.g.
    min–max scaled, a sigmoid or scaled-tanh output mapped to [0, 1]); a prediction at or
    below ``-eps`` gives NaN, so bound the generator's output.

    Reference: Wieslander, Gupta, Bergman, Hallström & Harrison, "Learning to see colours:
    biologically relevant virtual staining for adipocyte cell images", PLOS ONE 16(10),
    e0258546, 2021 (Team HASTE, AI Sweden / AstraZeneca Adipocyte Cell Imaging Challenge:
    ``LogSquaredLoss`` in ``ai_haste/loss/log_squared_loss.py``, ``eps = 1e-8``).

    :param eps: keeps the logarithm finite at zero intensity.
    :param reduction: ``"mean"``, ``"sum"`` or ``"none"`` (element-wise values).
    """

    def __init__(self, *, eps: float = 1e-8, reduction: Reduction = "mean") -> None:
        super().__init__()
        if eps <= 0:
            raise ValueError(f"eps must be > 0; got {eps}")
        self.eps = eps
        self.reduction = check_reduction(reduction)

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Loss of non-negative ``prediction`` against a same-shaped non-negative target."""
        check_same_shape(prediction, target, type(self).__name__)
        prediction = promote(prediction)
        target = target.to(prediction.dtype)
        log_ratio = torch.log(target + self.eps) - torch.log(prediction + self.eps)
        return reduce(log_ratio.square(), self.reduction)
