"""The adversarial term the GAN losses share: push discriminator scores to a label."""

from __future__ import annotations

from typing import Literal, get_args

import torch
import torch.nn.functional as F  # noqa: N812

#: ``"vanilla"``: BCE on logits (Goodfellow 2014, pix2pix); ``"lsgan"``: squared error (Mao 2017).
GanMode = Literal["vanilla", "lsgan"]
GAN_MODES: tuple[str, ...] = get_args(GanMode)


def check_gan_mode(mode: str) -> GanMode:
    """Fail at construction on an unknown adversarial objective."""
    if mode not in GAN_MODES:
        raise ValueError(f"gan must be one of {', '.join(GAN_MODES)}; got {mode!r}")
    return mode  # type: ignore[return-value]


def adversarial(
    scores: torch.Tensor, label: float, mode: GanMode, reduction: str = "mean"
) -> torch.Tensor:
    """Distance of discriminator ``scores`` (any shape, e.g. a PatchGAN map) from ``label``.

    ``"vanilla"``: ``-(label * log(sigmoid(s)) + (1 - label) * log(1 - sigmoid(s)))``, the
    scores being logits; ``"lsgan"``: ``(s - label) ** 2``.
    """
    target = torch.full_like(scores, label)
    if mode == "vanilla":
        return F.binary_cross_entropy_with_logits(scores, target, reduction=reduction)
    return F.mse_loss(scores, target, reduction=reduction)
