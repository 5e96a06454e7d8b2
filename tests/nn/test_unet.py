"""The U-Net: shapes in 2D and 3D, every option builds, clear errors, and it learns."""

from __future__ import annotations

import itertools

import pytest
import torch

from medtk.nn.models.unet import NORMS, UNet


@pytest.mark.parametrize(("dims", "depth", "norm"), list(itertools.product((2, 3), (1, 3), NORMS)))
def test_output_has_the_input_size_and_gradients_reach_every_weight(dims, depth, norm):
    torch.manual_seed(0)
    net = UNet(dims=dims, in_channels=2, classes=3, depth=depth, width=4, norm=norm, dropout=0.1)
    size = (8,) * dims
    x = torch.randn(2, 2, *size)
    y = net(x)
    assert y.shape == (2, 3, *size)
    y.square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())


def test_a_size_the_pooling_cannot_halve_is_refused_with_the_divisor():
    net = UNet(dims=2, depth=3, width=4)
    with pytest.raises(ValueError, match=r"not divisible by 4"):
        net(torch.zeros(1, 1, 12, 10))
    with pytest.raises(ValueError, match=r"4-dimensional input"):
        net(torch.zeros(1, 1, 8, 8, 8))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"dims": 1}, "dims must be 2 or 3"), ({"depth": 0}, "depth"), ({"norm": "layer"}, "layer")],
)
def test_bad_options_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        UNet(**kwargs)


def test_it_learns_to_segment_bright_discs():
    """A small U-Net separates noisy bright discs from background: Dice above 0.9."""
    generator = torch.Generator().manual_seed(0)
    yy, xx = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    masks = []
    for _ in range(16):
        cy, cx, r = torch.rand(3, generator=generator) * torch.tensor([16, 16, 5]) + torch.tensor(
            [8, 8, 4]
        )
        masks.append(((yy - cy) ** 2 + (xx - cx) ** 2 <= r**2).float())
    target = torch.stack(masks)[:, None]
    images = target + 0.4 * torch.randn(target.shape, generator=generator)
    torch.manual_seed(0)
    net = UNet(dims=2, classes=1, depth=2, width=8)
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(60):
        optimiser.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(net(images), target)
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        predicted = (net.eval()(images) > 0).float()
    dice = 2 * (predicted * target).sum() / (predicted.sum() + target.sum())
    assert dice > 0.9
