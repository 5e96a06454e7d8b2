"""Focal loss: cross-entropy that stops rewarding the many pixels already classified well."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from medtk.nn.losses.inputs import (
    Weights,
    as_weights,
    channel_view,
    check_batch,
    check_multiclass,
    dense_target,
    promote,
    safe_log,
)
from medtk.nn.losses.reduction import Reduction, check_reduction, reduce


class FocalLoss(nn.Module):
    """Focal loss of Lin et al., in its sigmoid (binary / multi-label) and softmax forms.

    With ``p_t`` the probability given to the true answer::

        FL(p_t) = -alpha_t * (1 - p_t) ** gamma * log(p_t)

    ``gamma > 0`` shrinks the loss of confident, correct pixels so that rare, hard ones
    dominate; ``gamma = 0`` and no ``alpha`` give plain cross-entropy.

    - ``multiclass=False`` (sigmoid): every element of ``(N, C, …)`` is its own binary
      problem, ``p_t = p*y + (1-p)*(1-y)`` and ``alpha_t = alpha*y + (1-alpha)*(1-y)``
      (``alpha`` a float in [0, 1]); the loss is BCE scaled by ``alpha_t * (1-p_t)**gamma``.
      ``"none"`` returns element-wise values ``(N, C, …)``.
    - ``multiclass=True`` (softmax): one class per pixel,
      ``loss = -sum_c alpha_c * y_c * (1 - p_c) ** gamma * log(p_c)``; a float ``alpha``
      weights class 0 (background) by ``1 - alpha`` and the others by ``alpha``, a sequence
      gives one ``alpha_c`` per class. ``"none"`` returns per-pixel values ``(N, …)``.

    ``weight`` scales each channel's term on top. ``"mean"`` averages over pixels (and, in
    the sigmoid form, channels), as Lin et al. normalise per anchor; MONAI's softmax form
    also averages over the class axis, so its mean is ours divided by ``C``.

    Reference: Lin, Goyal, Girshick, He & Dollár, "Focal loss for dense object detection",
    ICCV 2017, eq. 5.

    :param gamma: focusing parameter ``gamma >= 0`` (the paper's best: 2).
    :param alpha: class balance (see above); None for none.
    :param logits: the prediction holds raw scores (True) or probabilities (False).
    :param multiclass: softmax over channels (True) or a sigmoid per channel (False).
    :param weight: one non-negative weight per channel.
    :param reduction: ``"mean"``, ``"sum"`` or ``"none"``.
    """

    weight: torch.Tensor | None

    def __init__(
        self,
        gamma: float = 2.0,
        alpha: float | Sequence[float] | None = None,
        *,
        logits: bool = True,
        multiclass: bool = True,
        weight: Weights = None,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__()
        if gamma < 0:
            raise ValueError(f"gamma must be >= 0; got {gamma}")
        if isinstance(alpha, Sequence) and not multiclass:
            raise ValueError("a per-class alpha sequence needs multiclass=True; use weight")
        if isinstance(alpha, float | int) and not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must lie in [0, 1]; got {alpha}")
        self.gamma = gamma
        self.alpha = alpha
        self.logits = logits
        self.multiclass = multiclass
        self.register_buffer("weight", as_weights(weight))
        self.reduction = check_reduction(reduction)

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Loss of ``(N, C, …)`` scores against class indices or a same-shaped target."""
        name = type(self).__name__
        check_batch(prediction, name)
        check_multiclass(prediction, multiclass=self.multiclass, loss=name)
        prediction = promote(prediction)
        target = dense_target(target, prediction, multiclass=self.multiclass, loss=name)
        if self.multiclass:
            loss = self._softmax_form(prediction, target)
        else:
            loss = self._sigmoid_form(prediction, target)
        if self.weight is not None:
            loss = channel_view(self.weight, prediction, name) * loss
        if self.multiclass:
            loss = loss.sum(dim=1)
        return reduce(loss, self.reduction)

    def _sigmoid_form(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.logits:
            bce = F.binary_cross_entropy_with_logits(prediction, target, reduction="none")
            probability = prediction.sigmoid()
        else:
            probability = prediction
            bce = -(target * safe_log(prediction) + (1 - target) * safe_log(1 - prediction))
        p_t = probability * target + (1 - probability) * (1 - target)
        loss = (1 - p_t).pow(self.gamma) * bce
        if self.alpha is not None:
            alpha = float(self.alpha)  # type: ignore[arg-type]
            loss = (alpha * target + (1 - alpha) * (1 - target)) * loss
        return loss

    def _softmax_form(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        name = type(self).__name__
        log_p = prediction.log_softmax(dim=1) if self.logits else safe_log(prediction)
        loss = -target * (1 - log_p.exp()).pow(self.gamma) * log_p
        if self.alpha is not None:
            channels = prediction.shape[1]
            if isinstance(self.alpha, Sequence):
                alpha = torch.as_tensor(list(self.alpha), dtype=loss.dtype, device=loss.device)
            else:
                alpha = torch.full((channels,), float(self.alpha), dtype=loss.dtype)
                alpha[0] = 1.0 - float(self.alpha)
            loss = channel_view(alpha, loss, name, "alpha") * loss
        return loss
