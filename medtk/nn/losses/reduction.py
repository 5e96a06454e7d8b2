"""How a loss folds its per-element (or per-image) values into what it returns."""

from __future__ import annotations

from typing import Literal, get_args

import torch

#: ``"mean"`` and ``"sum"`` give a scalar; ``"none"`` keeps the unreduced values.
Reduction = Literal["mean", "sum", "none"]
REDUCTIONS: tuple[str, ...] = get_args(Reduction)


def check_reduction(reduction: str) -> Reduction:
    """Fail at construction, not at the first batch, on a misspelled reduction."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {', '.join(REDUCTIONS)}; got {reduction!r}")
    return reduction  # type: ignore[return-value]


def reduce(values: torch.Tensor, reduction: Reduction) -> torch.Tensor:
    """Mean, sum or nothing: the one place every loss reduces."""
    if reduction == "mean":
        return values.mean()
    if reduction == "sum":
        return values.sum()
    return values
