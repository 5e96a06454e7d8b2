"""Choosing the device and the arithmetic a run trains in."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING

from medtk.errors import BadInputError

if TYPE_CHECKING:
    import torch


def resolve_device(name: str) -> torch.device:
    """``auto`` → CUDA if present, else Apple's MPS, else CPU; an absent device is bad input."""
    import torch

    name = name.strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise BadInputError(
            f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps"
        ) from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise BadInputError(f"device {name!r} asked for, but no CUDA device is available")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise BadInputError(
                f"device {name!r} asked for, but there are {torch.cuda.device_count()} CUDA devices"
            )
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise BadInputError(f"device {name!r} asked for, but MPS is not available")
    if device.type not in ("cpu", "cuda", "mps"):
        raise BadInputError(f"device {name!r} is not supported; use cpu, cuda or mps")
    return device


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``precision`` on ``device``; ``None`` trains in 32-bit.

    ``auto`` uses float16 on CUDA (with loss scaling) and 32-bit elsewhere: CPU autocast
    is slower than float32 for the small convolutions medtk's tests and demos run.
    """
    import torch

    if precision == "32":
        return None
    if precision == "auto":
        return torch.float16 if device.type == "cuda" else None
    if precision == "16":
        if device.type == "cpu":
            raise BadInputError("--precision 16 needs a GPU; on the CPU use bf16 or 32")
        return torch.float16
    return torch.bfloat16


def autocast(device: torch.device, dtype: torch.dtype | None) -> AbstractContextManager[object]:
    """Mixed precision for the forward pass, or nothing in 32-bit."""
    import torch

    if dtype is None:
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)
