"""Plots of results, written as PNG: ROC curves, training curves, confusion matrices,
threshold–F1 curves, image grids and AUC forest plots.

Each plot is one function that takes the output path first, checks its input (a bad
one raises :class:`~medtk.viz.checks.PlotInputError`, a ``ValueError``, before anything
is drawn), draws on its own matplotlib figure with the Agg canvas (no pyplot, no global
state: headless and safe in threads), writes the PNG aside and renames it into place, and
returns the path. matplotlib is imported when a plot is drawn, not when this package is.
"""

from medtk.viz.checks import PlotInputError
from medtk.viz.confusion import confusion_matrix
from medtk.viz.epochs import metric_per_epoch
from medtk.viz.forest import auc_forest
from medtk.viz.images import image_grid
from medtk.viz.roc import RocCurve, roc_curve_with_band, roc_curves
from medtk.viz.thresholds import threshold_f1

__all__ = [
    "PlotInputError",
    "RocCurve",
    "auc_forest",
    "confusion_matrix",
    "image_grid",
    "metric_per_epoch",
    "roc_curve_with_band",
    "roc_curves",
    "threshold_f1",
]
