"""Jaccard (soft IoU) loss: overlap over union, the segmentation score many benchmarks report."""

from __future__ import annotations

import torch

from medtk.nn.losses.overlap import OverlapLoss, soft_counts


class JaccardLoss(OverlapLoss):
    """Soft Jaccard loss, one minus intersection over union on probabilities.

    Per image and class, with probabilities ``p`` and one-hot target ``g``::

        I = sum(p * g),  U = sum(p) + sum(g) - I
        loss = 1 - (I + smooth_nr) / (U + smooth_dr)

    IoU punishes a partial overlap more than Dice does (``IoU = Dice / (2 - Dice)``), so
    optimising it directly helps when IoU is the metric that will be reported. Options: see
    :class:`~medtk.nn.losses.overlap.OverlapLoss`. MONAI's ``DiceLoss(jaccard=True)`` computes
    ``(2I + s) / (2U + s)``, which is this with both smoothing terms equal to ``s / 2``.

    References: Rahman & Wang, "Optimizing intersection-over-union in deep neural networks
    for image segmentation", ISVC 2016; Berman, Triki & Blaschko, "The Lovász-softmax
    loss", CVPR 2018 (on why IoU surrogates help).
    """

    def score(
        self, probability: torch.Tensor, target: torch.Tensor, dims: list[int]
    ) -> torch.Tensor:
        """Soft intersection over union per image and class."""
        tp, fp, fn = soft_counts(probability, target, dims)
        return (tp + self.smooth_nr) / (tp + fp + fn + self.smooth_dr)
