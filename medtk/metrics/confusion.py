"""The N×N confusion matrix of class labels, as counts or normalised.

Entry ``C[i, j]`` counts the samples whose true class is ``labels[i]`` and whose
predicted class is ``labels[j]``: rows are the truth, columns the prediction, as in
scikit-learn (``sklearn.metrics.confusion_matrix``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from medtk.metrics.inputs import (
    MetricInputError,
    check_labels,
    class_labels,
    label_index,
    same_length,
)

__all__ = ["Normalize", "confusion_matrix", "label_pair"]

#: How :func:`confusion_matrix` normalises: over rows (``"true"``), columns (``"pred"``),
#: the whole matrix (``"all"``), or not at all (``None``, counts).
Normalize = Literal["true", "pred", "all"] | None


def label_pair(
    y_true: Any, y_pred: Any, labels: npt.ArrayLike | Sequence[int] | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Checked true and predicted labels of equal length, and the labels to report.

    ``labels`` defaults to the sorted union of the values in ``y_true`` and ``y_pred``;
    given labels must be distinct integers.
    """
    truth = class_labels(y_true, "y_true")
    pred = class_labels(y_pred, "y_pred")
    same_length(truth, pred, ("y_true", "y_pred"))
    chosen = np.union1d(truth, pred) if labels is None else check_labels(labels)
    return truth, pred, chosen


def confusion_matrix(
    y_true: Any,
    y_pred: Any,
    *,
    labels: npt.ArrayLike | Sequence[int] | None = None,
    normalize: Normalize = None,
) -> np.ndarray:
    """The N×N confusion matrix: ``C[i, j]`` = #{samples of class i predicted as j}.

    Normalised forms divide by the row sums (``"true"``: each row holds the fraction of
    class i predicted as each class, its diagonal is the per-class recall), the column
    sums (``"pred"``: the diagonal is the per-class precision) or the total (``"all"``).
    A row or column without samples normalises to zeros, as in scikit-learn. A label in
    y_true or y_pred outside ``labels`` is an error (scikit-learn drops the sample).

    Reference: Fawcett, T. (2006). An introduction to ROC analysis. *Pattern Recognition
    Letters* 27(8), 861–874.

    :param y_true: true class labels, shape (n,).
    :param y_pred: predicted class labels, shape (n,).
    :param labels: the classes, in row/column order; default: the sorted union of both.
    :param normalize: ``None`` (counts, ``int64``), ``"true"``, ``"pred"`` or ``"all"``.
    :returns: an (N, N) array, counts as ``int64`` or fractions as ``float64``.
    """
    truth, pred, chosen = label_pair(y_true, y_pred, labels)
    size = len(chosen)
    rows = label_index(truth, chosen, "y_true")
    cols = label_index(pred, chosen, "y_pred")
    counts = np.bincount(rows * size + cols, minlength=size * size).reshape(size, size)
    if normalize is None:
        return counts
    if normalize == "true":
        total = counts.sum(axis=1, keepdims=True)
    elif normalize == "pred":
        total = counts.sum(axis=0, keepdims=True)
    elif normalize == "all":
        total = np.asarray(counts.sum())
    else:
        raise MetricInputError(
            f"normalize must be 'true', 'pred', 'all' or None, got {normalize!r}"
        )
    out = np.zeros(counts.shape, dtype=np.float64)
    np.divide(counts, total, out=out, where=total > 0)
    return out
