"""Median-normalised MAE: an absolute error comparable across images of different brightness."""

from __future__ import annotations

import torch
from torch import nn

from medtk.nn.losses.inputs import check_batch, check_same_shape, promote
from medtk.nn.losses.reduction import Reduction, check_reduction, reduce


def median(values: torch.Tensor) -> torch.Tensor:
    """Median over the last axis, the mean of the two middle values when their count is even.

    ``torch.median`` returns the lower of the two and ``torch.quantile`` refuses more than
    2**24 values; ``kthvalue`` has neither limit and gives NumPy's convention.
    """
    count = values.shape[-1]
    lower = values.kthvalue((count + 1) // 2, dim=-1).values
    upper = values.kthvalue(count // 2 + 1, dim=-1).values
    return (lower + upper) / 2


class MedianMAELoss(nn.Module):
    """Mean absolute error divided by the median of the target, per image::

        loss[n, c] = mean_i |prediction[n,c,i] - target[n,c,i]| / max(median_i target[n,c,i], eps)

    Fluorescence intensity varies from well to well and stain to stain; dividing by the
    image's median makes an error a fraction of its typical signal, so dim images are not
    ignored. An "image" is one channel of one sample (``per_channel=True``) or all channels
    of one sample. The median is the mean of the two middle values when their count is even
    (NumPy's convention) and carries no gradient (it comes from the target).

    Reference: Wieslander, Gupta, Bergman, Hallström & Harrison, "Learning to see colours:
    biologically relevant virtual staining for adipocyte cell images", PLOS ONE 16(10),
    e0258546, 2021 (Team HASTE's ``median_MAE_w_mask.py``, which takes one median over the
    whole batch; this takes one per image so a batch's mix does not change an image's loss).

    :param per_channel: one median per channel of each sample (True) or per sample (False).
    :param eps: lower bound of the median, against division by zero on empty images.
    :param reduction: ``"mean"``, ``"sum"`` or ``"none"`` over the images: ``"none"`` gives
        ``(N, C)`` (or ``(N,)`` when not ``per_channel``).
    """

    def __init__(
        self, *, per_channel: bool = True, eps: float = 1e-6, reduction: Reduction = "mean"
    ) -> None:
        super().__init__()
        if eps <= 0:
            raise ValueError(f"eps must be > 0; got {eps}")
        self.per_channel = per_channel
        self.eps = eps
        self.reduction = check_reduction(reduction)

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Loss of ``(N, C, [D,] H, W)`` intensities against a same-shaped target."""
        name = type(self).__name__
        check_batch(prediction, name, spatial=True)
        check_same_shape(prediction, target, name)
        prediction = promote(prediction)
        target = target.to(prediction.dtype)
        keep = 2 if self.per_channel else 1
        error = (prediction - target).abs().flatten(keep).mean(dim=-1)
        scale = median(target.detach().flatten(keep)).clamp_min(self.eps)
        return reduce(error / scale, self.reduction)
