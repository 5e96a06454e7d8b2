"""Binary cross-entropy: each channel a yes/no question (binary or multi-label targets)."""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from medtk.nn.losses.inputs import (
    Weights,
    as_weights,
    channel_view,
    check_batch,
    check_same_shape,
    safe_log,
)
from medtk.nn.losses.reduction import Reduction, check_reduction, reduce


class BinaryCrossEntropyLoss(nn.Module):
    """Binary cross-entropy, on logits by default (numerically stable).

    For a score ``x`` in channel ``c`` with target ``y`` in [0, 1] and ``p = sigmoid(x)``::

        loss = -w[c] * (pw[c] * y * log(p) + (1 - y) * log(1 - p))

    where ``w`` are channel weights and ``pw`` positive-class weights (``pw > 1`` favours
    recall on rare foreground). ``label_smoothing = s`` replaces ``y`` by
    ``y * (1 - s) + s / 2``. On logits this is
    :func:`torch.nn.functional.binary_cross_entropy_with_logits` (log-sum-exp form); on
    probabilities, ``log`` is clamped at -100 as in :class:`torch.nn.BCELoss`.

    Reference: Goodfellow, Bengio & Courville, *Deep Learning* (2016), §6.2.2.2.

    :param weight: one non-negative weight per channel.
    :param pos_weight: one weight per channel for the positive term.
    :param logits: the prediction holds raw scores (True) or probabilities (False).
    :param label_smoothing: ``s`` in [0, 1).
    :param reduction: ``"mean"``, ``"sum"`` or ``"none"`` (element-wise values).
    """

    weight: torch.Tensor | None
    pos_weight: torch.Tensor | None

    def __init__(
        self,
        weight: Weights = None,
        pos_weight: Weights = None,
        *,
        logits: bool = True,
        label_smoothing: float = 0.0,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__()
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must lie in [0, 1); got {label_smoothing}")
        self.register_buffer("weight", as_weights(weight))
        self.register_buffer("pos_weight", as_weights(pos_weight, "pos_weight"))
        self.logits = logits
        self.label_smoothing = label_smoothing
        self.reduction = check_reduction(reduction)

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Loss of scores (or probabilities) ``(N, C, …)`` against a same-shaped target."""
        name = type(self).__name__
        check_batch(prediction, name)
        check_same_shape(prediction, target, name)
        target = target.to(prediction.dtype)
        if self.label_smoothing:
            target = target * (1.0 - self.label_smoothing) + 0.5 * self.label_smoothing
        weight = pos_weight = None
        if self.weight is not None:
            weight = channel_view(self.weight, prediction, name)
        if self.pos_weight is not None:
            pos_weight = channel_view(self.pos_weight, prediction, name, "pos_weight")
        if self.logits:
            return F.binary_cross_entropy_with_logits(
                prediction, target, weight=weight, pos_weight=pos_weight, reduction=self.reduction
            )
        positive = target * safe_log(prediction)
        if pos_weight is not None:
            positive = pos_weight * positive
        loss = -(positive + (1.0 - target) * safe_log(1.0 - prediction))
        if weight is not None:
            loss = weight * loss
        return reduce(loss, self.reduction)
