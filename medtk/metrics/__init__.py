"""Evaluation metrics in NumPy: ROC AUC with bootstrap intervals, classification scores,
F1 threshold sweeps, confusion matrices, Dice/Jaccard, and image errors (MAE, PSNR, SSIM).

One module per job:

- :mod:`~medtk.metrics.roc`: ROC AUC (binary, one-vs-rest) and ROC curves;
- :mod:`~medtk.metrics.mann_whitney`: the rank-based AUC kernel behind them;
- :mod:`~medtk.metrics.bootstrap`: percentile bootstrap confidence intervals;
- :mod:`~medtk.metrics.classification`: accuracy, precision, recall, specificity, F1;
- :mod:`~medtk.metrics.confusion`: the N×N confusion matrix;
- :mod:`~medtk.metrics.thresholds`: per-class F1 threshold sweeps;
- :mod:`~medtk.metrics.overlap`: Dice and Jaccard of masks and label maps;
- :mod:`~medtk.metrics.image`: MAE and PSNR; :mod:`~medtk.metrics.similarity`: SSIM;
- :mod:`~medtk.metrics.inputs`: input conversion and the errors metrics raise;
- :mod:`~medtk.metrics.catalog`: the registered names, importable without NumPy.

Every metric takes the reference first (``y_true``) and the prediction second, accepts
array-likes and PyTorch tensors, and raises a one-line ``ValueError``
(:class:`~medtk.metrics.inputs.MetricInputError`) on bad input. The functions below are
importable from this package; their modules load on first use, so importing
``medtk.metrics.catalog`` imports neither NumPy nor scikit-image.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from medtk.metrics.bootstrap import BootstrapResult, bootstrap_auc, bootstrap_ci
    from medtk.metrics.classification import (
        accuracy,
        f1,
        precision,
        recall,
        sensitivity,
        specificity,
    )
    from medtk.metrics.confusion import confusion_matrix
    from medtk.metrics.image import mae, psnr
    from medtk.metrics.inputs import MetricInputError, UndefinedMetricError
    from medtk.metrics.overlap import dice, dice_per_class, jaccard, jaccard_per_class
    from medtk.metrics.roc import RocCurve, roc_auc, roc_auc_ovr, roc_curve, roc_curves_ovr
    from medtk.metrics.similarity import ssim
    from medtk.metrics.thresholds import (
        ThresholdSweep,
        apply_thresholds,
        f1_at_thresholds,
        f1_threshold_sweep,
    )

_HOMES = {
    "BootstrapResult": "bootstrap",
    "bootstrap_auc": "bootstrap",
    "bootstrap_ci": "bootstrap",
    "accuracy": "classification",
    "f1": "classification",
    "precision": "classification",
    "recall": "classification",
    "sensitivity": "classification",
    "specificity": "classification",
    "confusion_matrix": "confusion",
    "mae": "image",
    "psnr": "image",
    "MetricInputError": "inputs",
    "UndefinedMetricError": "inputs",
    "dice": "overlap",
    "dice_per_class": "overlap",
    "jaccard": "overlap",
    "jaccard_per_class": "overlap",
    "RocCurve": "roc",
    "roc_auc": "roc",
    "roc_auc_ovr": "roc",
    "roc_curve": "roc",
    "roc_curves_ovr": "roc",
    "ssim": "similarity",
    "ThresholdSweep": "thresholds",
    "apply_thresholds": "thresholds",
    "f1_at_thresholds": "thresholds",
    "f1_threshold_sweep": "thresholds",
}

__all__ = [
    "BootstrapResult",
    "MetricInputError",
    "RocCurve",
    "ThresholdSweep",
    "UndefinedMetricError",
    "accuracy",
    "apply_thresholds",
    "bootstrap_auc",
    "bootstrap_ci",
    "confusion_matrix",
    "dice",
    "dice_per_class",
    "f1",
    "f1_at_thresholds",
    "f1_threshold_sweep",
    "jaccard",
    "jaccard_per_class",
    "mae",
    "precision",
    "psnr",
    "recall",
    "roc_auc",
    "roc_auc_ovr",
    "roc_curve",
    "roc_curves_ovr",
    "sensitivity",
    "specificity",
    "ssim",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})
