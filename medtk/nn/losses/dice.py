"""Soft Dice loss: segmentation scored by overlap, insensitive to how much background there is."""

from __future__ import annotations

import torch

from medtk.nn.losses.inputs import Weights
from medtk.nn.losses.overlap import OverlapLoss, soft_counts
from medtk.nn.losses.reduction import Reduction


class DiceLoss(OverlapLoss):
    """Soft Dice loss, one minus the Sørensen–Dice coefficient on probabilities.

    Per image and class, with probabilities ``p`` and one-hot target ``g`` summed over
    the pixels (and the batch with ``batch=True``)::

        loss = 1 - (2 * sum(p * g) + smooth_nr) / (sum(p) + sum(g) + smooth_dr)

    With ``squared=True`` the denominator is ``sum(p**2) + sum(g**2) + smooth_dr`` as in
    Milletari et al. The ratio ignores true negatives, so a small structure on a large
    background is not drowned out, which is why it suits class-imbalanced segmentation;
    pair it with cross-entropy when training is unstable. Options: see
    :class:`~medtk.nn.losses.overlap.OverlapLoss`. Matches ``monai.losses.DiceLoss``.

    References: Milletari, Navab & Ahmadi, "V-Net: fully convolutional neural networks for
    volumetric medical image segmentation", 3DV 2016, eq. 1; Sudre et al., "Generalised
    Dice overlap as a deep learning loss function for highly unbalanced segmentations",
    DLMIA 2017.

    :param squared: square the terms of the denominator (Milletari's form).
    """

    def __init__(
        self,
        *,
        squared: bool = False,
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
        self.squared = squared

    def score(
        self, probability: torch.Tensor, target: torch.Tensor, dims: list[int]
    ) -> torch.Tensor:
        """Soft Dice coefficient per image and class."""
        tp, fp, fn = soft_counts(probability, target, dims)
        if self.squared:
            denominator = probability.square().sum(dim=dims) + target.square().sum(dim=dims)
        else:
            denominator = 2 * tp + fp + fn  # = sum(p) + sum(g)
        return (2 * tp + self.smooth_nr) / (denominator + self.smooth_dr)
