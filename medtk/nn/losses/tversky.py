"""Tversky loss: Dice with separate prices for false positives and false negatives."""

from __future__ import annotations

import torch

from medtk.nn.losses.inputs import Weights
from medtk.nn.losses.overlap import OverlapLoss, soft_counts
from medtk.nn.losses.reduction import Reduction


class TverskyLoss(OverlapLoss):
    """Tversky loss of Salehi et al., per image and class::

        TP = sum(p * g),  FP = sum(p * (1 - g)),  FN = sum((1 - p) * g)
        loss = 1 - (TP + smooth_nr) / (TP + alpha * FP + beta * FN + smooth_dr)

    ``alpha = beta = 0.5`` is the Dice loss and ``alpha = beta = 1`` the Jaccard loss.
    ``beta > alpha`` costs missed foreground more than false alarms, which trades precision
    for recall on small lesions; the defaults are the paper's best, 0.3 and 0.7 (MONAI's
    ``TverskyLoss`` defaults to 0.5 and 0.5). Options: see
    :class:`~medtk.nn.losses.overlap.OverlapLoss`.

    Reference: Salehi, Erdogmus & Gholipour, "Tversky loss function for image segmentation
    using 3D fully convolutional deep networks", MLMI 2017.

    :param alpha: weight of false positives.
    :param beta: weight of false negatives.
    """

    def __init__(
        self,
        alpha: float = 0.3,
        beta: float = 0.7,
        *,
        logits: bool = True,
        multiclass: bool = True,
        include_background: bool = True,
        smooth_nr: float = 1e-5,
        smooth_dr: float = 1e-5,
        batch: bool = False,
        weight: Weights = None,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__(
            logits=logits,
            multiclass=multiclass,
            include_background=include_background,
            smooth_nr=smooth_nr,
            smooth_dr=smooth_dr,
            batch=batch,
            weight=weight,
            reduction=reduction,
        )
        if alpha < 0 or beta < 0:
            raise ValueError(f"alpha and beta must be >= 0; got {alpha} and {beta}")
        self.alpha = alpha
        self.beta = beta

    def score(
        self, probability: torch.Tensor, target: torch.Tensor, dims: list[int]
    ) -> torch.Tensor:
        """Tversky index per image and class."""
        tp, fp, fn = soft_counts(probability, target, dims)
        return (tp + self.smooth_nr) / (tp + self.alpha * fp + self.beta * fn + self.smooth_dr)
