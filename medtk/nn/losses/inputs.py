"""Checks and conversions every loss applies to its inputs, so errors read the same.

Losses take channels-first batches, ``(N, C)`` or ``(N, C, [D,] H, W)``. Each check raises a
one-line ``ValueError`` naming the loss, because a silent broadcast (``(N, 1)`` against
``(N,)``) trains the wrong thing without a word.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F  # noqa: N812 (the name every PyTorch user reads)

#: Class or channel weights as a user passes them.
Weights = Sequence[float] | torch.Tensor | None

#: log() of a probability is clamped here, as torch's own BCE does.
LOG_FLOOR = -100.0


def shape_of(tensor: torch.Tensor) -> str:
    """``(2, 3, 8, 8)``: shapes in messages without the ``torch.Size`` noise."""
    return str(tuple(tensor.shape))


def check_batch(tensor: torch.Tensor, loss: str, *, spatial: bool = False) -> None:
    """Require ``(N, C, ...)`` (and at least one spatial axis when ``spatial``)."""
    least = 3 if spatial else 2
    if tensor.ndim < least:
        layout = "(N, C, [D,] H, W)" if spatial else "(N, C, ...)"
        raise ValueError(f"{loss}: expected a {layout} batch; got shape {shape_of(tensor)}")


def check_same_shape(
    prediction: torch.Tensor, target: torch.Tensor, loss: str, names: tuple[str, str] = ("", "")
) -> None:
    """Refuse the broadcasting PyTorch would otherwise do between prediction and target."""
    if prediction.shape != target.shape:
        first, second = names[0] or "prediction", names[1] or "target"
        raise ValueError(
            f"{loss}: {first} shape {shape_of(prediction)} and {second} shape "
            f"{shape_of(target)} differ"
        )


def as_weights(weight: Weights, what: str = "weight") -> torch.Tensor | None:
    """A 1D float tensor of non-negative per-class weights, or None."""
    if weight is None:
        return None
    tensor = torch.as_tensor(weight).detach().clone()
    if not tensor.is_floating_point():
        tensor = tensor.to(torch.get_default_dtype())
    if tensor.ndim != 1 or tensor.numel() == 0:
        raise ValueError(f"{what} must be a non-empty 1D sequence; got shape {shape_of(tensor)}")
    if bool((tensor < 0).any()):
        raise ValueError(f"{what} must be non-negative")
    return tensor


def channel_view(
    weight: torch.Tensor, like: torch.Tensor, loss: str, what: str = "weight"
) -> torch.Tensor:
    """Shape per-channel ``(C,)`` weights as ``(1, C, 1, …)`` to broadcast against ``like``."""
    channels = like.shape[1]
    if weight.numel() != channels:
        raise ValueError(f"{loss}: {what} has {weight.numel()} entries for {channels} channels")
    return weight.to(like).view(1, channels, *([1] * (like.ndim - 2)))


def promote(tensor: torch.Tensor) -> torch.Tensor:
    """Half precision in, float32 out: sums over a volume overflow float16."""
    if tensor.dtype in (torch.float16, torch.bfloat16):
        return tensor.float()
    return tensor


def safe_log(probability: torch.Tensor) -> torch.Tensor:
    """``log(p)`` floored at -100 like torch's BCE, without NaN gradients at ``p = 0``."""
    tiny = torch.finfo(probability.dtype).tiny
    return probability.clamp_min(tiny).log().clamp_min(LOG_FLOOR)


def check_multiclass(prediction: torch.Tensor, *, multiclass: bool, loss: str) -> None:
    """A softmax over one channel is constant 1: refuse it rather than return a zero loss."""
    if multiclass and prediction.shape[1] < 2:
        raise ValueError(
            f"{loss}: multiclass=True needs at least 2 channels; got {prediction.shape[1]} "
            "(pass multiclass=False for one sigmoid channel)"
        )


def probabilities(
    prediction: torch.Tensor, *, logits: bool, multiclass: bool, loss: str
) -> torch.Tensor:
    """Softmax over channels (one class per pixel) or sigmoid (each channel on its own).

    With ``logits=False`` the prediction already holds probabilities and is returned as is.
    """
    check_multiclass(prediction, multiclass=multiclass, loss=loss)
    if not logits:
        return prediction
    return prediction.softmax(dim=1) if multiclass else prediction.sigmoid()


def dense_target(
    target: torch.Tensor, prediction: torch.Tensor, *, multiclass: bool, loss: str
) -> torch.Tensor:
    """The target as a float tensor shaped like the prediction.

    A target already shaped like the prediction (one-hot, soft or multi-label) is kept.
    With ``multiclass``, a map of class indices ``(N, [D,] H, W)`` or ``(N, 1, [D,] H, W)``
    becomes one-hot. Without it, a single-channel prediction also accepts ``(N, [D,] H, W)``.
    """
    if target.shape == prediction.shape:
        return target.to(prediction.dtype)
    batch, channels, *spatial = prediction.shape
    indices = target
    if target.ndim == prediction.ndim and target.shape[1] == 1:
        indices = target.squeeze(1)
    if tuple(indices.shape) != (batch, *spatial):
        raise ValueError(
            f"{loss}: target shape {shape_of(target)} fits neither the prediction "
            f"{shape_of(prediction)} nor its class-index map {(batch, *spatial)}"
        )
    if not multiclass:
        if channels != 1:
            raise ValueError(
                f"{loss}: multiclass=False needs a target shaped like the prediction "
                f"{shape_of(prediction)}; got {shape_of(target)}"
            )
        return indices.unsqueeze(1).to(prediction.dtype)
    if indices.is_floating_point() and not bool((indices == indices.round()).all()):
        raise ValueError(f"{loss}: a class-index target must hold whole numbers")
    indices = indices.long()
    if indices.numel() and not (int(indices.min()) >= 0 and int(indices.max()) < channels):
        raise ValueError(f"{loss}: class indices must lie in [0, {channels - 1}]")
    one_hot = F.one_hot(indices, num_classes=channels)
    return one_hot.movedim(-1, 1).to(prediction.dtype)
