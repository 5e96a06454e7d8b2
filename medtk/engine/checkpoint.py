"""Saving and restoring a run's training state without unpickling arbitrary objects.

Weights go to safetensors files. The rest (optimiser and schedule state, epoch, best
score, random-number generator states) is tensors, numbers, strings, lists and dicts,
written with ``torch.save`` and read back with ``torch.load(weights_only=True)``, which
refuses anything else.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medtk.errors import BadInputError

if TYPE_CHECKING:
    import torch

STATE_DIR = "state"
LAST_WEIGHTS = "last.safetensors"
TRAINING_STATE = "training.pt"


def save_weights(model: torch.nn.Module, path: Path) -> None:
    """The model's parameters and buffers as safetensors (shared tensors stored once each)."""
    from safetensors.torch import save_model

    save_model(model, str(path))


def load_weights(model: torch.nn.Module, path: Path) -> None:
    """Fill ``model`` from a safetensors file; a file of another model is bad input."""
    from safetensors.torch import load_model

    try:
        missing, unexpected = load_model(model, str(path), strict=False)
    except (OSError, RuntimeError, ValueError) as exc:
        raise BadInputError(f"cannot load weights from {str(path)!r}: {exc}") from None
    if missing or unexpected:
        detail = (
            f"missing {sorted(missing)[:3]}" if missing else f"unexpected {sorted(unexpected)[:3]}"
        )
        raise BadInputError(f"weights in {str(path)!r} do not fit this model ({detail})")


def rng_state() -> dict[str, Any]:
    """Python's, numpy's and torch's generator states, in types ``weights_only`` accepts."""
    import numpy as np
    import torch

    version, internal, gauss = random.getstate()
    name, keys, position, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": [version, list(internal), gauss],
        "numpy": [
            name,
            torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            position,
            has_gauss,
            cached,
        ],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` captured."""
    import numpy as np
    import torch

    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, position, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), position, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_state(folder: Path, model: torch.nn.Module, state: dict[str, Any]) -> None:
    """Write ``state/last.safetensors`` and ``state/training.pt`` (each aside, then renamed)."""
    import torch

    target = folder / STATE_DIR
    target.mkdir(exist_ok=True)
    weights, training = target / f".{LAST_WEIGHTS}.tmp", target / f".{TRAINING_STATE}.tmp"
    save_weights(model, weights)
    torch.save(state, training)
    weights.replace(target / LAST_WEIGHTS)
    training.replace(target / TRAINING_STATE)


def load_state(folder: Path, model: torch.nn.Module) -> dict[str, Any]:
    """Restore the last epoch's weights into ``model`` and return the training state."""
    import torch

    target = folder / STATE_DIR
    if not (target / TRAINING_STATE).is_file() or not (target / LAST_WEIGHTS).is_file():
        raise BadInputError(
            f"{str(folder)!r} holds no training state to resume (no {STATE_DIR}/{TRAINING_STATE})"
        )
    load_weights(model, target / LAST_WEIGHTS)
    try:
        return torch.load(target / TRAINING_STATE, weights_only=True, map_location="cpu")
    except Exception as exc:  # pickle refusals, truncation: all mean an unusable file
        raise BadInputError(f"cannot read the training state in {str(folder)!r}: {exc}") from None
