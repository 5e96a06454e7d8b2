"""What Dice, Jaccard and Tversky share: soft counts of true/false positives per class."""

from __future__ import annotations

import torch
from torch import nn

from medtk.nn.losses.inputs import (
    Weights,
    as_weights,
    check_batch,
    dense_target,
    probabilities,
    promote,
)
from medtk.nn.losses.reduction import Reduction, check_reduction, reduce


def soft_counts(
    probability: torch.Tensor, target: torch.Tensor, dims: list[int]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Soft ``(TP, FP, FN)`` summed over ``dims``.

    ``TP = sum(p * g)``, ``FP = sum(p * (1 - g)) = sum(p) - TP``,
    ``FN = sum((1 - p) * g) = sum(g) - TP``: the counts of a confusion matrix with
    probabilities in place of hard decisions, so the scores built on them are differentiable.
    """
    tp = (probability * target).sum(dim=dims)
    fp = probability.sum(dim=dims) - tp
    fn = target.sum(dim=dims) - tp
    return tp, fp, fn


class OverlapLoss(nn.Module):
    """``1 - score`` per image and class, for an overlap ``score`` in [0, 1].

    Subclasses define :meth:`score`. This base turns the prediction into probabilities,
    the target into one-hot channels, drops the background if asked, sums over the spatial
    axes (and the batch, with ``batch=True``), weights classes and reduces.

    :param logits: the prediction holds raw scores (True) or probabilities (False).
    :param multiclass: softmax over channels and class-index targets (True), or a sigmoid per
        channel and same-shaped binary/multi-label targets (False).
    :param include_background: keep channel 0 in the score.
    :param smooth_nr: added to the numerator: an empty prediction of an empty class scores 1.
    :param smooth_dr: added to the denominator: no division by zero.
    :param batch: sum the counts over the whole batch before taking the ratio (one score per
        class, steadier when some images lack a class), rather than per image.
    :param weight: one non-negative weight per scored class; they scale each class's loss and
        are not renormalised (as in MONAI).
    :param reduction: ``"mean"``, ``"sum"`` or ``"none"`` (``(N, C)``, or ``(C,)`` with ``batch``).
    """

    weight: torch.Tensor | None

    def __init__(
        self,
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
        super().__init__()
        if smooth_nr < 0 or smooth_dr < 0:
            raise ValueError("smooth_nr and smooth_dr must be >= 0")
        self.logits = logits
        self.multiclass = multiclass
        self.include_background = include_background
        self.smooth_nr = smooth_nr
        self.smooth_dr = smooth_dr
        self.batch = batch
        self.register_buffer("weight", as_weights(weight))
        self.reduction = check_reduction(reduction)

    def score(
        self, probability: torch.Tensor, target: torch.Tensor, dims: list[int]
    ) -> torch.Tensor:
        """The overlap score per image and class (or per class with ``batch``)."""
        raise NotImplementedError

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Loss of ``(N, C, [D,] H, W)`` scores against class indices or a same-shaped target."""
        name = type(self).__name__
        check_batch(prediction, name, spatial=True)
        prediction = promote(prediction)
        probability = probabilities(
            prediction, logits=self.logits, multiclass=self.multiclass, loss=name
        )
        target = dense_target(target, prediction, multiclass=self.multiclass, loss=name)
        if not self.include_background:
            if prediction.shape[1] < 2:
                raise ValueError(f"{name}: include_background=False needs at least 2 channels")
            probability, target = probability[:, 1:], target[:, 1:]
        dims = ([0] if self.batch else []) + list(range(2, probability.ndim))
        loss = 1.0 - self.score(probability, target, dims)
        if self.weight is not None:
            classes = loss.shape[-1]  # loss is (N, C), or (C,) with batch=True
            if self.weight.numel() != classes:
                raise ValueError(
                    f"{name}: weight has {self.weight.numel()} entries for {classes} scored classes"
                )
            loss = loss * self.weight.to(loss)
        return reduce(loss, self.reduction)
