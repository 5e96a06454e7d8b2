"""Conditional GAN + L1 (pix2pix): paired image-to-image translation, sharp and on target."""

from __future__ import annotations

import torch
from torch import nn

from medtk.nn.losses.adversarial import GanMode, adversarial, check_gan_mode
from medtk.nn.losses.inputs import check_same_shape


class Pix2PixLoss(nn.Module):
    """The pix2pix objective: a conditional adversarial term plus ``lambda_l1`` times L1.

    With a conditional discriminator ``D(x, y)`` scoring an input ``x`` with an output
    ``y`` (scores are logits; a PatchGAN map or one per image)::

        generator     = adv(D(x, G(x)), real) + lambda_l1 * mean|G(x) - y|
        discriminator = 1/2 * [ adv(D(x, y), real) + adv(D(x, G(x)), fake) ]

    where ``adv`` is sigmoid BCE (``gan="vanilla"``, the paper's choice) or squared error
    (``gan="lsgan"``). The L1 term pins the output to the target's low frequencies and the
    adversarial term supplies the sharp detail L1 alone blurs away; the discriminator's
    objective is halved, as in the paper, to slow it relative to the generator.
    ``forward`` is the generator's objective, :meth:`discriminator` the other one (pass
    scores of ``G(x).detach()``).

    Reference: Isola, Zhu, Zhou & Efros, "Image-to-image translation with conditional
    adversarial networks", CVPR 2017, eq. 4.

    :param lambda_l1: weight of the L1 term (the paper's 100).
    :param gan: ``"vanilla"`` or ``"lsgan"``.
    """

    def __init__(self, lambda_l1: float = 100.0, *, gan: GanMode = "vanilla") -> None:
        super().__init__()
        if lambda_l1 < 0:
            raise ValueError(f"lambda_l1 must be >= 0; got {lambda_l1}")
        self.lambda_l1 = lambda_l1
        self.gan = check_gan_mode(gan)

    def forward(
        self, fake_scores: torch.Tensor, fake: torch.Tensor, target: torch.Tensor
    ) -> torch.Tensor:
        """The generator's objective from D's scores of ``(x, G(x))``, ``G(x)`` and ``y``."""
        check_same_shape(fake, target, type(self).__name__, ("fake", "target"))
        l1 = (fake - target.to(fake.dtype)).abs().mean()
        return adversarial(fake_scores, 1.0, self.gan) + self.lambda_l1 * l1

    def discriminator(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        """The discriminator's objective from its scores of ``(x, y)`` and ``(x, G(x))``."""
        check_same_shape(real_scores, fake_scores, type(self).__name__, ("real", "fake"))
        real = adversarial(real_scores, 1.0, self.gan)
        return 0.5 * (real + adversarial(fake_scores, 0.0, self.gan))
