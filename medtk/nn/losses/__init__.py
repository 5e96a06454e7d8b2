"""Losses shared by every task family, one module per loss; see ``docs/losses.md``.

Importing this package imports no torch: the classes load on first access
(``from medtk.nn.losses import DiceLoss``), and :data:`catalog.LOSSES` names them for the
plugin registry.
"""

from __future__ import annotations

import importlib
from typing import Any

from medtk.nn.losses.catalog import LOSSES

#: Class name → the module that defines it, from the catalog.
_HOMES: dict[str, str] = {
    target.partition(":")[2]: target.partition(":")[0] for target, _ in LOSSES.values()
}

__all__ = [  # a test keeps this equal to the catalog's classes
    "BinaryCrossEntropyLoss",
    "CrossEntropyLoss",
    "CycleGANLoss",
    "DiceLoss",
    "FocalLoss",
    "GradientLoss",
    "JaccardLoss",
    "LSGANLoss",
    "LogSquaredLoss",
    "MAELoss",
    "MSELoss",
    "MedianMAELoss",
    "MultiLabelSoftMarginLoss",
    "Pix2PixLoss",
    "RaLSGANLoss",
    "TverskyLoss",
]


def __getattr__(name: str) -> Any:
    """Import a loss class the first time it is asked for (PEP 562)."""
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
