"""Losses: hand-computed values, MONAI and PyTorch as references, gradients, a model that learns."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F  # noqa: N812
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from conftest import REPO_ROOT
from medtk.nn import losses
from medtk.nn.losses import (
    BinaryCrossEntropyLoss,
    CrossEntropyLoss,
    CycleGANLoss,
    DiceLoss,
    FocalLoss,
    GradientLoss,
    JaccardLoss,
    LogSquaredLoss,
    LSGANLoss,
    MAELoss,
    MedianMAELoss,
    MSELoss,
    MultiLabelSoftMarginLoss,
    Pix2PixLoss,
    RaLSGANLoss,
    TverskyLoss,
)
from medtk.nn.losses.catalog import LOSSES

FEW = settings(max_examples=25, deadline=None)


def t(values) -> torch.Tensor:
    """A float64 tensor, so hand-computed numbers compare tightly."""
    return torch.tensor(values, dtype=torch.float64)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=float)))


def softmax(x, axis=1):
    e = np.exp(np.asarray(x, dtype=float))
    return e / e.sum(axis=axis, keepdims=True)


def close(actual: torch.Tensor, expected, tol: float = 1e-10) -> None:
    np.testing.assert_allclose(actual.detach().numpy(), expected, rtol=tol, atol=tol)


def random_case(seed: int, shape: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits of ``shape`` ``(N, C, …)`` and a class-index map ``(N, 1, …)``."""
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(shape, generator=generator, dtype=torch.float64) * 2
    labels = torch.randint(0, shape[1], (shape[0], 1, *shape[2:]), generator=generator)
    return logits, labels


# 1 to 3 images, 2 to 4 classes, 2D or 3D of 2 to 5 pixels a side
image_shapes = st.tuples(
    st.integers(1, 3),
    st.integers(2, 4),
    st.lists(st.integers(2, 5), min_size=2, max_size=3),
).map(lambda s: (s[0], s[1], *s[2]))


# ------------------------------------------------------------------ hand-computed values


def test_cross_entropy_by_hand():
    x = np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])
    y = np.array([1, 2])
    log_p = np.log(softmax(x))
    nll = -log_p[np.arange(2), y]
    close(CrossEntropyLoss()(t(x), torch.tensor(y)), nll.mean())
    w = np.array([1.0, 2.0, 3.0])
    weighted = (w[y] * nll).sum() / w[y].sum()  # torch's weighted mean
    close(CrossEntropyLoss(weight=w.tolist())(t(x), torch.tensor(y)), weighted)
    s = 0.1
    q = (1 - s) * np.eye(3)[y] + s / 3
    close(CrossEntropyLoss(label_smoothing=s)(t(x), torch.tensor(y)), (-q * log_p).sum(1).mean())
    p = np.array([[0.2, 0.5, 0.3]])
    close(CrossEntropyLoss(logits=False)(t(p), torch.tensor([1])), -np.log(0.5))


def test_cross_entropy_dense_2d_takes_index_maps_with_or_without_the_channel_axis():
    x = np.array([[[[2.0, -1.0]], [[0.0, 1.0]]]])  # (1, 2, 1, 2)
    y = np.array([[[0, 1]]])  # (1, 1, 2)
    p = softmax(x)
    expected = -(np.log(p[0, 0, 0, 0]) + np.log(p[0, 1, 0, 1])) / 2
    close(CrossEntropyLoss()(t(x), torch.tensor(y)), expected)
    close(CrossEntropyLoss()(t(x), torch.tensor(y)[:, None]), expected)
    assert CrossEntropyLoss(reduction="none")(t(x), torch.tensor(y)).shape == (1, 1, 2)


def test_bce_by_hand():
    x = np.array([[0.0, 2.0], [-1.0, 3.0]])
    y = np.array([[1.0, 0.0], [0.0, 1.0]])
    p = sigmoid(x)
    terms = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    close(BinaryCrossEntropyLoss()(t(x), t(y)), terms.mean())
    w, pw = np.array([1.0, 0.5]), np.array([2.0, 1.0])
    weighted = -w * (pw * y * np.log(p) + (1 - y) * np.log(1 - p))
    close(BinaryCrossEntropyLoss(weight=w, pos_weight=pw)(t(x), t(y)), weighted.mean())
    close(BinaryCrossEntropyLoss(logits=False)(t(p), t(y)), terms.mean())
    s = 0.2
    ys = y * (1 - s) + s / 2
    smoothed = -(ys * np.log(p) + (1 - ys) * np.log(1 - p))
    close(BinaryCrossEntropyLoss(label_smoothing=s, reduction="sum")(t(x), t(y)), smoothed.sum())


def test_mse_and_mae_by_hand():
    prediction, target = t([1.0, 2.0, 3.0]), t([1.0, 0.0, 5.0])
    close(MSELoss()(prediction, target), 8 / 3)
    close(MAELoss()(prediction, target), 4 / 3)
    close(MSELoss(reduction="sum")(prediction, target), 8.0)
    close(MAELoss(reduction="none")(prediction, target), [0.0, 2.0, 2.0])


def test_sigmoid_focal_by_hand():
    x = np.array([[0.0, 2.0, -1.0]])
    y = np.array([[1.0, 0.0, 0.0]])
    p = sigmoid(x)
    p_t = np.where(y == 1, p, 1 - p)
    gamma, alpha = 2.0, 0.25
    alpha_t = np.where(y == 1, alpha, 1 - alpha)
    expected = (-alpha_t * (1 - p_t) ** gamma * np.log(p_t)).mean()
    focal = FocalLoss(gamma, alpha, multiclass=False)
    close(focal(t(x), t(y)), expected)
    close(FocalLoss(gamma, alpha, multiclass=False, logits=False)(t(p), t(y)), expected)


def test_softmax_focal_by_hand_and_gamma_zero_is_cross_entropy():
    x = np.array([[[[1.0, 0.0]], [[0.0, 2.0]], [[-1.0, 0.5]]]])  # (1, 3, 1, 2)
    y = np.array([[[2, 1]]])  # (1, 1, 2)
    p = softmax(x)
    p_y = np.array([p[0, 2, 0, 0], p[0, 1, 0, 1]])
    alpha = np.array([0.25, 0.75, 0.75])[[2, 1]]  # a float alpha: 1 - alpha for class 0
    expected = (-alpha * (1 - p_y) ** 2 * np.log(p_y)).mean()
    close(FocalLoss(2.0, 0.75)(t(x), torch.tensor(y)), expected)
    per_class = [0.1, 0.2, 0.7]
    expected = (-np.array([0.7, 0.2]) * (1 - p_y) ** 2 * np.log(p_y)).mean()
    close(FocalLoss(2.0, per_class)(t(x), torch.tensor(y)), expected)
    ce = CrossEntropyLoss()(t(x), torch.tensor(y))
    close(FocalLoss(gamma=0.0)(t(x), torch.tensor(y)), ce.item())


# one sigmoid channel: p against g over a 2 × 2 image
P = np.array([0.9, 0.2, 0.7, 0.1])
G = np.array([1.0, 0.0, 1.0, 0.0])


def as_image(values: np.ndarray) -> torch.Tensor:
    return t(values).view(1, 1, 2, 2)


def overlap_loss(cls, **options):
    """An overlap loss on probabilities of one binary channel, without smoothing."""
    options = {"logits": False, "multiclass": False, "smooth_nr": 0.0, "smooth_dr": 0.0} | options
    return cls(**options)


def test_dice_by_hand():
    intersection = (P * G).sum()
    close(overlap_loss(DiceLoss)(as_image(P), as_image(G)), 1 - 2 * intersection / (P + G).sum())
    squared = 1 - 2 * intersection / ((P**2).sum() + (G**2).sum())
    close(overlap_loss(DiceLoss, squared=True)(as_image(P), as_image(G)), squared)
    s = 1e-5
    smoothed = 1 - (2 * intersection + s) / (P.sum() + G.sum() + s)
    close(DiceLoss(logits=False, multiclass=False)(as_image(P), as_image(G)), smoothed)


def test_jaccard_by_hand():
    intersection = (P * G).sum()
    union = P.sum() + G.sum() - intersection
    close(overlap_loss(JaccardLoss)(as_image(P), as_image(G)), 1 - intersection / union)


def test_tversky_by_hand_and_its_special_cases():
    tp, fp, fn = (P * G).sum(), (P * (1 - G)).sum(), ((1 - P) * G).sum()
    expected = 1 - tp / (tp + 0.3 * fp + 0.7 * fn)
    close(overlap_loss(TverskyLoss)(as_image(P), as_image(G)), expected)
    dice = overlap_loss(DiceLoss)(as_image(P), as_image(G))
    close(overlap_loss(TverskyLoss, alpha=0.5, beta=0.5)(as_image(P), as_image(G)), dice.item())
    jaccard = overlap_loss(JaccardLoss)(as_image(P), as_image(G))
    close(overlap_loss(TverskyLoss, alpha=1, beta=1)(as_image(P), as_image(G)), jaccard.item())


def test_dice_multiclass_from_indices_without_background_over_the_batch():
    x = np.array([[[[2.0, 0.0]], [[0.0, 1.0]], [[-1.0, 3.0]]]] * 2)  # (2, 3, 1, 2)
    y = np.array([[[0, 2]], [[1, 2]]])  # (2, 1, 2)
    p = softmax(x)[:, 1:]  # drop the background
    g = np.eye(3)[y].transpose(0, 3, 1, 2)[:, 1:]
    dims = (0, 2, 3)
    dice = 2 * (p * g).sum(dims) / (p.sum(dims) + g.sum(dims))
    loss = overlap_loss(
        DiceLoss, logits=True, multiclass=True, include_background=False, batch=True
    )
    close(loss(t(x), torch.tensor(y)), (1 - dice).mean())
    weighted = overlap_loss(
        DiceLoss,
        multiclass=True,
        logits=True,
        include_background=False,
        batch=True,
        weight=[2.0, 0.5],
        reduction="none",
    )
    close(weighted(t(x), torch.tensor(y)), (1 - dice) * [2.0, 0.5])


def test_multilabel_soft_margin_by_hand():
    x = np.array([[0.5, -2.0, 1.0]])
    y = np.array([[1.0, 0.0, 0.0]])
    per_class = -(y * np.log(sigmoid(x)) + (1 - y) * np.log(sigmoid(-x)))
    close(MultiLabelSoftMarginLoss()(t(x), t(y)), per_class.mean())
    w = np.array([1.0, 2.0, 0.5])
    close(MultiLabelSoftMarginLoss(weight=w)(t(x), t(y)), (w * per_class).mean())


def test_log_squared_by_hand():
    prediction, target = np.array([0.5, 1.0, 0.3]), np.array([1.0, 0.25, 0.3])
    expected = (np.log(target / prediction) ** 2).mean()  # (ln 2)², (ln 4)², 0
    close(LogSquaredLoss()(t(prediction), t(target)), expected, tol=1e-7)
    close(LogSquaredLoss(eps=1.0)(t([0.0]), t([1.0])), np.log(2.0) ** 2)


def test_median_mae_by_hand():
    target = np.array([[[[1.0, 2.0], [3.0, 10.0]]]])  # median 2.5 (even count: mean of 2 and 3)
    prediction = np.array([[[[2.0, 2.0], [3.0, 6.0]]]])
    close(MedianMAELoss()(t(prediction), t(target)), (1 + 0 + 0 + 4) / 4 / 2.5)
    # two channels: one median each, or one for the whole sample
    target2 = np.concatenate([target, target * 4], axis=1)
    prediction2 = np.concatenate([prediction, target * 4 + 1], axis=1)
    per_image = MedianMAELoss(reduction="none")(t(prediction2), t(target2))
    close(per_image, [[1.25 / 2.5, 1.0 / 10.0]])
    whole = MedianMAELoss(per_channel=False, reduction="none")(t(prediction2), t(target2))
    close(whole, [np.abs(prediction2 - target2).mean() / np.median(target2)])


def test_gradient_loss_by_hand_2d_and_3d():
    rng = np.random.default_rng(0)
    for shape in [(2, 1, 3, 4), (1, 2, 3, 2, 4)]:
        prediction, target = rng.random(shape), rng.random(shape)
        axes = range(2, len(shape))
        magnitude = np.mean(
            [
                np.abs(np.abs(np.diff(prediction, axis=a)) - np.abs(np.diff(target, axis=a))).mean()
                for a in axes
            ]
        )
        signed = np.mean(
            [((np.diff(prediction, axis=a) - np.diff(target, axis=a)) ** 2).mean() for a in axes]
        )
        close(GradientLoss()(t(prediction), t(target)), magnitude)
        close(GradientLoss(magnitude=False, exponent=2)(t(prediction), t(target)), signed)
    ramp = t(np.arange(4.0)).view(1, 1, 1, 4).expand(1, 1, 2, 4)
    close(GradientLoss()(ramp, ramp + 5), 0.0)  # blind to offsets, by design


def test_lsgan_by_hand():
    loss = LSGANLoss()
    real, fake = np.array([0.9, 0.7]), np.array([0.2, 0.1])
    close(loss(t(fake), True), ((fake - 1) ** 2).mean())
    close(loss(t(fake), False), (fake**2).mean())
    close(
        loss.discriminator(t(real), t(fake)),
        0.5 * ((real - 1) ** 2).mean() + 0.5 * (fake**2).mean(),
    )
    close(loss.generator(t(fake)), 0.5 * ((fake - 1) ** 2).mean())


def test_ragan_ls_by_hand():
    real, fake = np.array([[1.0, 0.0], [0.5, 2.0]]), np.array([[-1.0, 0.0], [0.3, -0.2]])
    d = 0.5 * (((real - fake.mean() - 1) ** 2).mean() + ((fake - real.mean() + 1) ** 2).mean())
    g = 0.5 * (((fake - real.mean() - 1) ** 2).mean() + ((real - fake.mean() + 1) ** 2).mean())
    loss = RaLSGANLoss()
    close(loss.discriminator(t(real), t(fake)), d)
    close(loss(t(real), t(fake), role="generator"), g)


def test_pix2pix_by_hand():
    scores, real_scores = np.array([0.0, 1.0]), np.array([2.0, -0.5])
    fake, target = np.array([0.2, 0.4, 0.6]), np.array([0.0, 0.5, 0.6])
    bce_real = lambda s: np.log1p(np.exp(-s)).mean()  # noqa: E731
    bce_fake = lambda s: np.log1p(np.exp(s)).mean()  # noqa: E731
    l1 = np.abs(fake - target).mean()
    close(Pix2PixLoss()(t(scores), t(fake), t(target)), bce_real(scores) + 100 * l1)
    close(Pix2PixLoss(lambda_l1=10)(t(scores), t(fake), t(target)), bce_real(scores) + 10 * l1)
    expected = ((scores - 1) ** 2).mean() + 100 * l1
    close(Pix2PixLoss(gan="lsgan")(t(scores), t(fake), t(target)), expected)
    d = 0.5 * (bce_real(real_scores) + bce_fake(scores))
    close(Pix2PixLoss().discriminator(t(real_scores), t(scores)), d)


def test_cycle_gan_by_hand():
    rng = np.random.default_rng(1)
    sy, sx = rng.normal(size=(2, 1, 3, 3)), rng.normal(size=(2, 1, 3, 3))
    x, fgx, y, gfy, fx, gy = (rng.random((2, 3, 4, 4)) for _ in range(6))
    adv = ((sy - 1) ** 2).mean() + ((sx - 1) ** 2).mean()
    cycle = np.abs(fgx - x).mean() + np.abs(gfy - y).mean()
    identity = np.abs(fx - x).mean() + np.abs(gy - y).mean()
    images = {"real_x": x, "cycled_x": fgx, "real_y": y, "cycled_y": gfy}
    images = {k: t(v) for k, v in images.items()}
    close(CycleGANLoss()(t(sy), t(sx), **images), adv + 10 * cycle)
    with_identity = CycleGANLoss(lambda_identity=0.5)(
        t(sy), t(sx), **images, same_x=t(fx), same_y=t(gy)
    )
    close(with_identity, adv + 10 * cycle + 10 * 0.5 * identity)
    real = rng.normal(size=(2, 1, 3, 3))
    d = 0.5 * (((real - 1) ** 2).mean() + (sy**2).mean())
    close(CycleGANLoss().discriminator(t(real), t(sy)), d)


# ------------------------------------------------------------------ PyTorch as reference


@FEW
@given(shape=image_shapes, seed=st.integers(0, 2**16))
def test_cross_entropy_matches_torch(shape, seed):
    logits, labels = random_case(seed, shape)
    labels = labels.squeeze(1)
    weight = torch.rand(
        shape[1], generator=torch.Generator().manual_seed(seed), dtype=torch.float64
    )
    reference = nn.CrossEntropyLoss(weight=weight, label_smoothing=0.05)(logits, labels)
    ours = CrossEntropyLoss(weight=weight, label_smoothing=0.05)
    close(ours(logits, labels), reference.item(), tol=1e-9)
    close(
        ours.__class__(weight=weight, label_smoothing=0.05, logits=False)(
            logits.softmax(1), labels
        ),
        reference.item(),
        tol=1e-9,
    )


@FEW
@given(shape=image_shapes, seed=st.integers(0, 2**16))
def test_bce_and_multilabel_soft_margin_match_torch(shape, seed):
    logits, _ = random_case(seed, shape)
    target = (torch.rand(shape, generator=torch.Generator().manual_seed(seed)) > 0.5).double()
    close(
        BinaryCrossEntropyLoss()(logits, target),
        F.binary_cross_entropy_with_logits(logits, target).item(),
    )
    close(
        BinaryCrossEntropyLoss(logits=False)(logits.sigmoid(), target),
        nn.BCELoss()(logits.sigmoid(), target).item(),
        tol=1e-9,
    )
    # torch takes classes on the last axis: move ours there and flatten the pixels
    channels = shape[1]
    flat_logits = logits.movedim(1, -1).reshape(-1, channels)
    flat_target = target.movedim(1, -1).reshape(-1, channels)
    weight = torch.linspace(0.5, 2.0, channels, dtype=torch.float64)
    reference = nn.MultiLabelSoftMarginLoss(weight=weight)(flat_logits, flat_target)
    close(MultiLabelSoftMarginLoss(weight=weight)(logits, target), reference.item(), tol=1e-9)


@FEW
@given(shape=image_shapes, seed=st.integers(0, 2**16))
def test_mse_and_mae_match_torch(shape, seed):
    prediction, _ = random_case(seed, shape)
    target, _ = random_case(seed + 1, shape)
    close(MSELoss()(prediction, target), F.mse_loss(prediction, target).item())
    close(MAELoss()(prediction, target), F.l1_loss(prediction, target).item())


# ------------------------------------------------------------------ MONAI as reference


# MONAI computes partly in float32: FocalLoss casts its input, one_hot makes float32 targets
MONAI_TOL = 1e-6


@pytest.fixture(scope="module")
def monai_losses():
    return pytest.importorskip("monai.losses")


@FEW
@given(
    shape=image_shapes,
    seed=st.integers(0, 2**16),
    include_background=st.booleans(),
    batch=st.booleans(),
    squared=st.booleans(),
)
def test_dice_matches_monai(monai_losses, shape, seed, include_background, batch, squared):
    logits, labels = random_case(seed, shape)
    options = {"include_background": include_background, "batch": batch, "reduction": "none"}
    reference = monai_losses.DiceLoss(
        softmax=True, to_onehot_y=True, squared_pred=squared, **options
    )(logits, labels)
    ours = DiceLoss(squared=squared, **options)(logits, labels)
    close(ours, reference.reshape(ours.shape).numpy(), tol=MONAI_TOL)
    # sigmoid per channel, multi-label target shaped like the prediction
    target = (logits + torch.randn_like(logits) > 0).double()
    reference = monai_losses.DiceLoss(sigmoid=True, batch=batch)(logits, target)
    close(DiceLoss(multiclass=False, batch=batch)(logits, target), reference.item(), tol=MONAI_TOL)


@FEW
@given(shape=image_shapes, seed=st.integers(0, 2**16), batch=st.booleans())
def test_jaccard_matches_monai(monai_losses, shape, seed, batch):
    logits, labels = random_case(seed, shape)
    s = 1e-3
    reference = monai_losses.DiceLoss(
        softmax=True, to_onehot_y=True, jaccard=True, smooth_nr=s, smooth_dr=s, batch=batch
    )(logits, labels)
    ours = JaccardLoss(smooth_nr=s / 2, smooth_dr=s / 2, batch=batch)(logits, labels)
    close(ours, reference.item(), tol=MONAI_TOL)


@FEW
@given(
    shape=image_shapes,
    seed=st.integers(0, 2**16),
    alpha=st.floats(0.0, 1.0),
    include_background=st.booleans(),
)
def test_tversky_matches_monai(monai_losses, shape, seed, alpha, include_background):
    logits, labels = random_case(seed, shape)
    options = {"alpha": alpha, "beta": 1 - alpha, "include_background": include_background}
    reference = monai_losses.TverskyLoss(
        softmax=True, to_onehot_y=True, reduction="none", **options
    )(logits, labels)
    ours = TverskyLoss(reduction="none", **options)(logits, labels)
    close(ours, reference.reshape(ours.shape).numpy(), tol=MONAI_TOL)


@FEW
@given(
    shape=image_shapes,
    seed=st.integers(0, 2**16),
    gamma=st.sampled_from([0.0, 0.5, 2.0, 3.0]),
    alpha=st.one_of(st.none(), st.floats(0.05, 0.95)),
)
def test_focal_matches_monai(monai_losses, shape, seed, gamma, alpha):
    logits, labels = random_case(seed, shape)
    target = (logits + torch.randn_like(logits) > 0).double()
    reference = monai_losses.FocalLoss(gamma=gamma, alpha=alpha, use_softmax=False)
    ours = FocalLoss(gamma, alpha, multiclass=False)
    close(ours(logits, target), reference(logits, target).item(), tol=MONAI_TOL)
    # softmax form: MONAI keeps a class axis (zero but for the true class); ours sums it
    reference = monai_losses.FocalLoss(
        gamma=gamma, alpha=alpha, use_softmax=True, to_onehot_y=True, reduction="none"
    )
    ours = FocalLoss(gamma, alpha, reduction="none")
    close(ours(logits, labels), reference(logits, labels).sum(1).numpy(), tol=MONAI_TOL)


# ------------------------------------------------------------------ every registered loss


def registered(name: str) -> type[nn.Module]:
    module, _, attr = LOSSES[name][0].partition(":")
    return getattr(importlib.import_module(module), attr)


def call(name: str, loss: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """One forward pass of the loss registered as ``name`` on a leaf ``x`` shaped (N, C, …)."""
    generator = torch.Generator().manual_seed(0)
    labels = torch.randint(0, x.shape[1], (x.shape[0], *x.shape[2:]), generator=generator)
    binary = (torch.rand(x.shape, generator=generator) > 0.5).float()
    image = torch.rand(x.shape, generator=generator) + 0.1
    scores = x.mean(dim=1, keepdim=True)  # a PatchGAN-like map that depends on x
    if name in {"cross-entropy", "focal", "dice", "jaccard", "tversky"}:
        return loss(x, labels)
    if name in {"bce", "multilabel-soft-margin"}:
        return loss(x, binary)
    if name in {"mse", "mae", "gradient"}:
        return loss(x, image)
    if name in {"log-squared", "median-mae"}:
        return loss(x.sigmoid(), image)
    if name == "lsgan":
        return loss.generator(scores) + loss.discriminator(scores.detach() + 1, scores)
    if name == "ragan-ls":
        return loss(scores.detach() + 1, scores, role="generator") + loss.discriminator(
            scores + 1, scores.detach()
        )
    if name == "cgan-l1":
        return loss(scores, x.tanh(), image) + loss.discriminator(scores + 1, scores)
    if name == "cycle-gan":
        return loss(scores, -scores, real_x=image, cycled_x=x, real_y=image, cycled_y=x * 2)
    raise AssertionError(f"no test call for the registered loss {name!r}: add one")


@pytest.mark.parametrize("spatial", [(4, 5), (3, 4, 5)], ids=["2d", "3d"])
@pytest.mark.parametrize("name", sorted(LOSSES))
def test_every_registered_loss_backpropagates_finite_gradients(name, spatial):
    torch.manual_seed(0)
    x = torch.randn(2, 3, *spatial, requires_grad=True)
    value = call(name, registered(name)(), x)
    assert value.ndim == 0
    assert torch.isfinite(value)
    value.backward()
    assert x.grad is not None
    assert torch.isfinite(x.grad).all()
    assert x.grad.abs().sum() > 0


def test_a_tiny_network_learns_to_segment_a_blob_with_dice_loss():
    torch.manual_seed(0)
    size, count = 16, 8
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    centres = torch.randint(4, size - 4, (count, 2))
    masks = torch.stack(
        [((yy - cy) ** 2 + (xx - cx) ** 2 <= 9).long() for cy, cx in centres.tolist()]
    )
    images = masks[:, None].float() + 0.3 * torch.randn(count, 1, size, size)
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 2, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    loss_fn = DiceLoss(include_background=False)
    history = []
    for _ in range(40):
        optimizer.zero_grad()
        loss = loss_fn(model(images), masks)
        loss.backward()
        optimizer.step()
        history.append(loss.item())
    assert history[0] > 0.5  # untrained: far from the blob
    assert history[-1] < min(0.15, history[0] / 4)
    predicted = model(images).argmax(1)
    dice = 2 * (predicted * masks).sum() / (predicted.sum() + masks.sum())
    assert dice > 0.9


def test_probabilities_of_exactly_0_and_1_give_finite_values_and_gradients():
    p = torch.tensor([[0.0, 1.0, 0.5]], requires_grad=True)
    mask, label = torch.tensor([[1.0, 0.0, 1.0]]), torch.tensor([0])
    for loss, target in [
        (BinaryCrossEntropyLoss(logits=False), mask),
        (FocalLoss(multiclass=False, logits=False), mask),
        (FocalLoss(logits=False), label),
        (CrossEntropyLoss(logits=False), label),
    ]:
        p.grad = None
        value = loss(p, target)
        value.backward()
        assert torch.isfinite(value)
        assert p.grad is not None
        assert torch.isfinite(p.grad).all()


def test_half_precision_inputs_are_reduced_in_float32():
    x = torch.randn(2, 3, 8, 8, dtype=torch.bfloat16, requires_grad=True)
    labels = torch.randint(0, 3, (2, 8, 8))
    for loss in (DiceLoss(), JaccardLoss(), TverskyLoss(), FocalLoss()):
        value = loss(x, labels)
        assert value.dtype == torch.float32
        value.backward()
    assert x.grad is not None
    assert x.grad.dtype == torch.bfloat16


def test_one_sigmoid_channel_accepts_a_mask_without_its_channel_axis():
    x = torch.randn(2, 1, 4, 4, dtype=torch.float64)
    mask = (torch.rand(2, 4, 4) > 0.5).long()
    with_axis = DiceLoss(multiclass=False)(x, mask[:, None])
    close(DiceLoss(multiclass=False)(x, mask), with_axis.item())


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("make", "args"),
    [
        (CrossEntropyLoss, (torch.zeros(2, 3, 4, 4), torch.zeros(2, 4, 5, dtype=torch.long))),
        (BinaryCrossEntropyLoss, (torch.zeros(2, 1, 4), torch.zeros(2, 4))),
        (MSELoss, (torch.zeros(2, 1), torch.zeros(2))),
        (MAELoss, (torch.zeros(2, 3), torch.zeros(3, 2))),
        (FocalLoss, (torch.zeros(2, 3, 4, 4), torch.zeros(2, 3, 4, 5))),
        (DiceLoss, (torch.zeros(2, 3, 4, 4), torch.zeros(2, 4, 4, 4))),
        (JaccardLoss, (torch.zeros(2, 3, 4, 4), torch.zeros(2, 2, 4, 4))),
        (TverskyLoss, (torch.zeros(2, 3, 4, 4, 4), torch.zeros(2, 1, 4, 4))),
        (MultiLabelSoftMarginLoss, (torch.zeros(2, 3), torch.zeros(2, 4))),
        (LogSquaredLoss, (torch.ones(2, 1, 4, 4), torch.ones(2, 1, 4))),
        (MedianMAELoss, (torch.ones(2, 1, 4, 4), torch.ones(1, 1, 4, 4))),
        (GradientLoss, (torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 3))),
        (lambda: LSGANLoss().discriminator, (torch.zeros(2, 1), torch.zeros(3, 1))),
        (lambda: RaLSGANLoss().generator, (torch.zeros(4), torch.zeros(5))),
        (Pix2PixLoss, (torch.zeros(2, 1), torch.zeros(2, 3, 4, 4), torch.zeros(2, 1, 4, 4))),
        (lambda: CycleGANLoss().discriminator, (torch.zeros(2, 1, 3, 3), torch.zeros(2, 1, 3))),
    ],
)
def test_shape_mismatches_raise_one_line_value_errors(make, args):
    with pytest.raises(ValueError, match=r"shape") as error:
        make()(*args)
    assert "\n" not in str(error.value)


def test_cycle_gan_image_mismatch_and_missing_identity_images_raise():
    scores = torch.zeros(1, 1, 2, 2)
    images = {"real_x": torch.zeros(1, 3, 4, 4), "cycled_x": torch.zeros(1, 3, 4, 4)}
    with pytest.raises(ValueError, match="shape"):
        CycleGANLoss()(
            scores, scores, **images, real_y=torch.zeros(1, 3, 4, 4), cycled_y=torch.zeros(1, 4, 4)
        )
    images |= {"real_y": torch.zeros(1, 3, 4, 4), "cycled_y": torch.zeros(1, 3, 4, 4)}
    with pytest.raises(ValueError, match="same_x"):
        CycleGANLoss(lambda_identity=0.5)(scores, scores, **images)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: MSELoss(reduction="average"), "reduction"),
        (lambda: DiceLoss(weight=[1.0, -1.0]), "non-negative"),
        (lambda: FocalLoss(gamma=-1), "gamma"),
        (lambda: FocalLoss(alpha=[0.5, 0.5], multiclass=False), "alpha"),
        (lambda: TverskyLoss(alpha=-0.1), "alpha"),
        (lambda: GradientLoss(exponent=0.5), "exponent"),
        (lambda: Pix2PixLoss(gan="wgan"), "gan"),
        (lambda: CrossEntropyLoss(label_smoothing=1.0), "label_smoothing"),
    ],
)
def test_bad_options_fail_at_construction(build, message):
    with pytest.raises(ValueError, match=message):
        build()


@pytest.mark.parametrize(
    ("loss", "prediction", "target", "message"),
    [
        (DiceLoss(), torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 4), "multiclass=False"),
        (FocalLoss(), torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 4), "multiclass=False"),
        (DiceLoss(), torch.zeros(1, 3, 2, 2), torch.full((1, 2, 2), 3), r"\[0, 2\]"),
        (DiceLoss(), torch.zeros(1, 3, 2, 2), torch.full((1, 2, 2), 0.5), "whole numbers"),
        (FocalLoss(weight=[1.0, 2.0]), torch.zeros(1, 3, 2, 2), torch.zeros(1, 2, 2), "weight"),
        (CrossEntropyLoss(weight=[1.0]), torch.zeros(1, 3), torch.zeros(1), "weight"),
        (
            TverskyLoss(weight=[1.0, 1.0, 1.0], include_background=False),
            torch.zeros(1, 3, 2, 2),
            torch.zeros(1, 2, 2),
            "weight",
        ),
        (GradientLoss(), torch.zeros(1, 1, 1, 4), torch.zeros(1, 1, 1, 4), "2\\+ pixels"),
        (DiceLoss(), torch.zeros(3, 4), torch.zeros(3, 4), r"\(N, C, \[D,\] H, W\)"),
    ],
)
def test_bad_inputs_raise_one_line_value_errors(loss, prediction, target, message):
    with pytest.raises(ValueError, match=message) as error:
        loss(prediction, target)
    assert "\n" not in str(error.value)


def test_weights_follow_the_module_to_another_dtype():
    loss = CrossEntropyLoss(weight=[1.0, 2.0]).to(torch.float64)
    assert loss.weight is not None
    assert loss.weight.dtype == torch.float64
    assert "weight" in loss.state_dict()


# ------------------------------------------------------------------ the catalog


def test_catalog_names_are_kebab_case_with_one_line_descriptions():
    assert len(LOSSES) == 16
    for name, (target, description) in LOSSES.items():
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", name), name
        assert re.fullmatch(r"medtk\.nn\.losses\.[a-z0-9_]+:[A-Za-z0-9]+", target), target
        assert description and "\n" not in description and len(description) < 100


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_catalog_targets_import_as_modules_with_formula_and_reference(name):
    cls = registered(name)
    assert issubclass(cls, nn.Module)
    assert isinstance(cls(), nn.Module)  # every default is usable as is
    doc = cls.__doc__ or ""
    assert "::" in doc, f"{cls.__name__} shows no formula"
    assert "Reference" in doc, f"{cls.__name__} cites no reference"


def test_package_exports_exactly_the_catalog_classes():
    assert sorted(losses.__all__) == sorted(t.partition(":")[2] for t, _ in LOSSES.values())
    with pytest.raises(AttributeError):
        _ = losses.NoSuchLoss


def test_every_registered_loss_has_a_row_in_the_docs():
    page = (REPO_ROOT / "docs" / "losses.md").read_text()
    for name, (target, _) in LOSSES.items():
        assert f"| `{name}` | `{target.partition(':')[2]}` |" in page, name


def test_the_catalog_imports_no_torch():
    code = (
        "import sys, medtk.nn.losses.catalog, medtk.nn.losses; "
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
