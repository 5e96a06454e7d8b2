"""Adversarial + cycle-consistency loss (CycleGAN): translation learned from unpaired images."""

from __future__ import annotations

import torch
from torch import nn

from medtk.nn.losses.adversarial import GanMode, adversarial, check_gan_mode
from medtk.nn.losses.inputs import check_same_shape


def _l1(guess: torch.Tensor, truth: torch.Tensor, name: str, what: str) -> torch.Tensor:
    check_same_shape(guess, truth, name, (what, "its original"))
    return (guess - truth.to(guess.dtype)).abs().mean()


class CycleGANLoss(nn.Module):
    """The CycleGAN objective for the two generators ``G: X → Y`` and ``F: Y → X``.

    With discriminators ``D_Y`` (judges ``G(x)``) and ``D_X`` (judges ``F(y)``)::

        generators = adv(D_Y(G(x)), real) + adv(D_X(F(y)), real)
                     + lambda_cycle * (mean|F(G(x)) - x| + mean|G(F(y)) - y|)
                     + lambda_cycle * lambda_identity * (mean|F(x) - x| + mean|G(y) - y|)
        discriminator (each of D_X, D_Y) = 1/2 * [ adv(D(real), real) + adv(D(fake), fake) ]

    ``adv`` is squared error (``gan="lsgan"``, what the paper trains with) or sigmoid BCE
    (``gan="vanilla"``). Without paired images nothing ties a translation to its input;
    requiring ``x → y → x`` to come back to ``x`` does, and the optional identity term
    (the paper's photo-painting experiments, weight 0.5) keeps colours when an image is
    already in the target domain. ``forward`` is the generators' objective (the identity
    images are needed only when ``lambda_identity > 0``); :meth:`discriminator` is one
    discriminator's objective (pass scores of ``fake.detach()``).

    Reference: Zhu, Park, Isola & Efros, "Unpaired image-to-image translation using
    cycle-consistent adversarial networks", ICCV 2017, eq. 3 (the full objective).

    :param lambda_cycle: weight of the cycle-consistency term (the paper's 10).
    :param lambda_identity: weight of the identity term, relative to ``lambda_cycle``.
    :param gan: ``"lsgan"`` or ``"vanilla"``.
    """

    def __init__(
        self, lambda_cycle: float = 10.0, lambda_identity: float = 0.0, *, gan: GanMode = "lsgan"
    ) -> None:
        super().__init__()
        if lambda_cycle < 0 or lambda_identity < 0:
            raise ValueError("lambda_cycle and lambda_identity must be >= 0")
        self.lambda_cycle = lambda_cycle
        self.lambda_identity = lambda_identity
        self.gan = check_gan_mode(gan)

    def forward(
        self,
        fake_y_scores: torch.Tensor,
        fake_x_scores: torch.Tensor,
        *,
        real_x: torch.Tensor,
        cycled_x: torch.Tensor,
        real_y: torch.Tensor,
        cycled_y: torch.Tensor,
        same_x: torch.Tensor | None = None,
        same_y: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The generators' objective; the images are keyword-only, being easy to swap.

        :param fake_y_scores: ``D_Y(G(x))``.
        :param fake_x_scores: ``D_X(F(y))``.
        :param real_x: ``x``.
        :param cycled_x: ``F(G(x))``.
        :param real_y: ``y``.
        :param cycled_y: ``G(F(y))``.
        :param same_x: ``F(x)``, for the identity term.
        :param same_y: ``G(y)``, for the identity term.
        """
        name = type(self).__name__
        loss = adversarial(fake_y_scores, 1.0, self.gan) + adversarial(fake_x_scores, 1.0, self.gan)
        cycle = _l1(cycled_x, real_x, name, "cycled_x") + _l1(cycled_y, real_y, name, "cycled_y")
        loss = loss + self.lambda_cycle * cycle
        if self.lambda_identity > 0:
            if same_x is None or same_y is None:
                raise ValueError(
                    f"{name}: lambda_identity > 0 needs same_x = F(x) and same_y = G(y)"
                )
            identity = _l1(same_x, real_x, name, "same_x") + _l1(same_y, real_y, name, "same_y")
            loss = loss + self.lambda_cycle * self.lambda_identity * identity
        return loss

    def discriminator(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        """One discriminator's objective from its scores of real and (detached) fake images."""
        check_same_shape(real_scores, fake_scores, type(self).__name__, ("real", "fake"))
        real = adversarial(real_scores, 1.0, self.gan)
        return 0.5 * (real + adversarial(fake_scores, 0.0, self.gan))
