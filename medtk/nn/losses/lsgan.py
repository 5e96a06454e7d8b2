"""Least-squares GAN loss: adversarial training whose gradients do not vanish early on."""

from __future__ import annotations

import torch
from torch import nn

from medtk.nn.losses.adversarial import adversarial
from medtk.nn.losses.inputs import check_same_shape
from medtk.nn.losses.reduction import Reduction, check_reduction


class LSGANLoss(nn.Module):
    """Least-squares GAN loss of Mao et al., with the 0-1 coding ``a = 0``, ``b = c = 1``.

    ``forward(scores, target_is_real)`` is the building block, ``(D(x) - label) ** 2``
    with ``label = real_label`` or ``fake_label``. The two objectives of the paper (eq. 2)::

        discriminator = 1/2 * mean((D(x) - b) ** 2) + 1/2 * mean((D(G(z)) - a) ** 2)
        generator     = 1/2 * mean((D(G(z)) - c) ** 2)

    are :meth:`discriminator` and :meth:`generator`. A sigmoid-BCE discriminator stops
    teaching the generator once it is confident; the squared error keeps pulling fakes
    that are far on the right side of the boundary, which steadies training. The scores
    are raw discriminator outputs (no sigmoid), of any shape: one per image or a PatchGAN
    map. Pass ``fake.detach()`` through D for the discriminator step.

    Reference: Mao, Li, Xie, Lau, Wang & Smolley, "Least squares generative adversarial
    networks", ICCV 2017.

    :param real_label: ``b`` (and the generator's target ``c``).
    :param fake_label: ``a``.
    :param reduction: ``"mean"``, ``"sum"`` or ``"none"`` (element-wise values).
    """

    def __init__(
        self, *, real_label: float = 1.0, fake_label: float = 0.0, reduction: Reduction = "mean"
    ) -> None:
        super().__init__()
        self.real_label = real_label
        self.fake_label = fake_label
        self.reduction = check_reduction(reduction)

    def forward(self, scores: torch.Tensor, target_is_real: bool) -> torch.Tensor:
        """``(scores - label) ** 2``, reduced, for the real or the fake label."""
        label = self.real_label if target_is_real else self.fake_label
        return adversarial(scores, label, "lsgan", self.reduction)

    def discriminator(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        """The discriminator's objective on D(real) and D(fake.detach())."""
        check_same_shape(real_scores, fake_scores, type(self).__name__, ("real", "fake"))
        return 0.5 * (self(real_scores, True) + self(fake_scores, False))

    def generator(self, fake_scores: torch.Tensor) -> torch.Tensor:
        """The generator's objective on D(fake)."""
        return 0.5 * self(fake_scores, True)
