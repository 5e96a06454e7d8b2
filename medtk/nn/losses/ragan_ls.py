"""Relativistic-average least-squares GAN loss: judge fakes relative to the average real."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from medtk.nn.losses.inputs import check_same_shape

#: Which player's objective :class:`RaLSGANLoss` computes.
Role = Literal["discriminator", "generator"]


class RaLSGANLoss(nn.Module):
    """Relativistic average least-squares GAN loss (RaLSGAN) of Jolicoeur-Martineau.

    With raw critic scores ``C_r = C(real)`` and ``C_f = C(fake)``, and ``mean`` over every
    element (the batch and, for a PatchGAN, the patch map)::

        discriminator = 1/2 * [mean((C_r - mean(C_f) - 1) ** 2) + mean((C_f - mean(C_r) + 1) ** 2)]
        generator     = 1/2 * [mean((C_f - mean(C_r) - 1) ** 2) + mean((C_r - mean(C_f) + 1) ** 2)]

    The discriminator estimates how much more realistic real data is than the average
    fake, and the generator's loss involves the real scores too, so it also learns from
    real images; the paper reports steadier training and better samples than LSGAN. The
    factor 1/2 follows the author's reference code. Call it with
    ``role="discriminator"`` on D(real) and D(fake.detach()), and with ``role="generator"``
    on D(real) and D(fake).

    Reference: Jolicoeur-Martineau, "The relativistic discriminator: a key element missing
    from standard GAN", ICLR 2019 (arXiv:1807.00734, 2018), RaLSGAN.
    """

    def forward(
        self, real_scores: torch.Tensor, fake_scores: torch.Tensor, *, role: Role
    ) -> torch.Tensor:
        """The ``role``'s objective from the critic's scores of real and fake images."""
        check_same_shape(real_scores, fake_scores, type(self).__name__, ("real", "fake"))
        if role == "discriminator":
            ahead, behind = real_scores, fake_scores
        elif role == "generator":
            ahead, behind = fake_scores, real_scores
        else:
            raise ValueError(f"role must be 'discriminator' or 'generator'; got {role!r}")
        relative_ahead = ahead - behind.mean()
        relative_behind = behind - ahead.mean()
        return 0.5 * ((relative_ahead - 1).square().mean() + (relative_behind + 1).square().mean())

    def discriminator(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        """The discriminator's objective (pass scores of ``fake.detach()``)."""
        return self(real_scores, fake_scores, role="discriminator")

    def generator(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        """The generator's objective."""
        return self(real_scores, fake_scores, role="generator")
