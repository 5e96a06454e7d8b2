"""Cross-entropy: the default loss for one-label-per-sample (or per-pixel) classification."""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from medtk.nn.losses.inputs import Weights, as_weights, check_batch, shape_of
from medtk.nn.losses.reduction import Reduction, check_reduction


class CrossEntropyLoss(nn.Module):
    """Multi-class cross-entropy for classification and dense segmentation.

    For one sample (or pixel) with scores ``x`` over ``C`` classes and true class ``y``::

        loss = -w[y] * log(softmax(x)[y])

    With ``label_smoothing = s`` the one-hot target becomes ``(1 - s) * onehot + s / C``.
    ``reduction="mean"`` divides by the summed weights of the counted targets, as
    :func:`torch.nn.functional.cross_entropy` does (this class wraps it). The target is a map
    of class indices ``(N, [D,] H, W)`` (or ``(N, 1, …)``) or class probabilities shaped
    like the prediction. Targets equal to ``ignore_index`` do not count.

    Reference: Goodfellow, Bengio & Courville, *Deep Learning* (2016), §6.2.2.3.

    :param weight: one non-negative weight per class, for imbalanced classes.
    :param logits: the prediction holds raw scores (True) or probabilities (False).
    :param ignore_index: class index whose pixels are left out.
    :param label_smoothing: ``s`` in [0, 1), against over-confident outputs.
    :param reduction: ``"mean"``, ``"sum"`` or ``"none"`` (per sample/pixel values).
    """

    weight: torch.Tensor | None

    def __init__(
        self,
        weight: Weights = None,
        *,
        logits: bool = True,
        ignore_index: int = -100,
        label_smoothing: float = 0.0,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__()
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must lie in [0, 1); got {label_smoothing}")
        self.register_buffer("weight", as_weights(weight))
        self.logits = logits
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing
        self.reduction = check_reduction(reduction)

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Loss of scores (or probabilities) ``(N, C, …)`` against ``target``."""
        name = type(self).__name__
        check_batch(prediction, name)
        channels = prediction.shape[1]
        if self.weight is not None and self.weight.numel() != channels:
            raise ValueError(
                f"{name}: weight has {self.weight.numel()} entries for {channels} classes"
            )
        if target.shape == prediction.shape and target.is_floating_point():
            pass  # class probabilities
        else:
            if target.ndim == prediction.ndim and target.shape[1] == 1:
                target = target.squeeze(1)
            expected = (prediction.shape[0], *prediction.shape[2:])
            if tuple(target.shape) != expected:
                raise ValueError(
                    f"{name}: target shape {shape_of(target)} fits neither the prediction "
                    f"{shape_of(prediction)} nor its class-index map {expected}"
                )
            target = target.long()
        scores = prediction
        if not self.logits:
            # log_softmax(log p) == log p when p sums to 1, so torch's code path serves both
            scores = prediction.clamp_min(torch.finfo(prediction.dtype).tiny).log()
        weight = None if self.weight is None else self.weight.to(scores)
        return F.cross_entropy(
            scores,
            target,
            weight=weight,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
            label_smoothing=self.label_smoothing,
        )
