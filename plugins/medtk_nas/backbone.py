"""ResNet-18 (timm) split into the frozen trunk and the trainable last blocks.

The source trains only the last residual block of an ImageNet ResNet-18. Everything
before it never changes, so its output per instance can be computed once and cached
(``cache.py``); the model trains on those features through the trainable blocks.
``train_blocks`` counts trainable stages from the end: 1 (the source) trains ``layer4``,
0 freezes everything and caches the pooled 512-d features (fast demos).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

import torch
from torch import nn

from medtk.errors import BadInputError

STAGES: tuple[str, ...] = ("layer1", "layer2", "layer3", "layer4")
FEATURES = 512
#: ImageNet statistics the timm ResNet-18 weights were trained with.
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def resnet18(*, pretrained: bool = False, weights: Path | None = None, seed: int = 0) -> nn.Module:
    """timm's ResNet-18 without its classifier: ImageNet weights from timm's hub
    (``pretrained``), from a local file (``weights``: safetensors, or a state-dict ``.pth``
    read with ``weights_only=True``), or a seeded random initialisation."""
    import timm

    torch.manual_seed(seed)
    if pretrained and weights is None:
        try:
            return timm.create_model("resnet18", pretrained=True, num_classes=0)
        except Exception as exc:  # hub errors come as many types; each means "no weights"
            raise BadInputError(
                "cannot fetch ImageNet weights for resnet18 (offline?): "
                f"{type(exc).__name__}; pass --weights FILE with a local copy"
            ) from None
    model = timm.create_model("resnet18", pretrained=False, num_classes=0)
    if weights is not None:
        load_state(model, weights)
    return model


def load_state(model: nn.Module, path: Path) -> None:
    """Fill ``model`` from ``path``, ignoring a classifier (``fc.*``) the file may hold."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"weights file {str(path)!r} does not exist")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
            state = state.get("state_dict", state) if isinstance(state, dict) else state
    except Exception as exc:
        raise BadInputError(f"cannot read weights {str(path)!r}: {exc}") from None
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise BadInputError(
            f"weights {str(path)!r} are not a ResNet-18's "
            f"(missing {sorted(missing)[:3]}, unexpected {sorted(unexpected)[:3]})"
        )


class Normalise(nn.Module):
    """uint8-range images → ImageNet-normalised floats; grey images become three channels."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1) * 255)
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1) * 255)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float()
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        return (x - self.mean) / self.std


def split(model: nn.Module, train_blocks: int) -> tuple[nn.Module, nn.Module]:
    """``(frozen trunk, trainable head)`` of a timm ResNet: the head is the last
    ``train_blocks`` stages plus global average pooling, so ``head(trunk(x))`` is the
    512-d feature of each instance."""
    if not 0 <= train_blocks <= len(STAGES):
        raise BadInputError(f"--train-blocks must be 0 to {len(STAGES)}, not {train_blocks}")
    stem = [Normalise(), model.conv1, model.bn1, model.act1, model.maxpool]
    stages = [getattr(model, name) for name in STAGES]
    cut = len(STAGES) - train_blocks
    pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1))
    if train_blocks == 0:
        return nn.Sequential(*stem, *stages, pool), nn.Identity()
    return nn.Sequential(*stem, *stages[:cut]), nn.Sequential(*stages[cut:], pool)


def fingerprint(trunk: nn.Module, size: int) -> str:
    """A short hash of the trunk's weights and the instance size: the cache's key."""
    digest = hashlib.sha256(str(size).encode())
    for name, tensor in trunk.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def adapt_batchnorm(model: nn.Module, batches: Iterable[torch.Tensor]) -> None:
    """Set every batch norm's running statistics to those of ``batches`` (AdaBN: Li et al.,
    "Revisiting batch normalization for practical domain adaptation", 2016).

    A randomly initialised ResNet's batch norms hold mean 0 and variance 1, so its frozen
    activations drift in scale from stage to stage and its pooled features barely tell
    instances apart. Statistics measured on the cohort's own instances (no labels) make
    every stage see normalised inputs, as in a trained network. The weights are untouched.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a cumulative average over all batches
    was_training = model.training
    model.train()
    with torch.no_grad():
        for batch in batches:
            model(batch)
    for norm, momentum in zip(norms, momenta, strict=True):
        norm.momentum = momentum
    model.train(was_training)


def batchnorm_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The running statistics of ``model``'s batch norms (what ``adapt_batchnorm`` sets)."""
    return {
        name: tensor
        for name, tensor in model.state_dict().items()
        if name.endswith(("running_mean", "running_var", "num_batches_tracked"))
    }
