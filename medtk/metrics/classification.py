"""Accuracy, precision, recall (sensitivity), specificity and F1 from predicted labels.

Each class ``c`` is scored one-vs-rest from its confusion counts: TP (class c predicted
as c), FP (another class predicted as c), FN (class c predicted as another) and TN (the
rest).

- precision   = TP / (TP + FP)
- recall      = TP / (TP + FN)  (also called sensitivity, true-positive rate)
- specificity = TN / (TN + FP)  (true-negative rate)
- F1          = 2·TP / (2·TP + FP + FN), the harmonic mean of precision and recall

``average`` says how classes combine, as in scikit-learn:

- ``"binary"`` (default): only ``pos_label`` is scored; at most two classes may occur.
- ``None``: one value per class, in the order of ``labels``.
- ``"macro"``: the unweighted mean of the per-class values.
- ``"weighted"``: the per-class values weighted by support (TP + FN).
- ``"micro"``: the counts summed over classes first, then one ratio.

``labels`` chooses the classes scored and averaged (default: every class in either
input). A class left out still counts where it occurs: samples predicted as it are false
negatives of their true class, so leaving out a "normal" class gives the macro average
over the findings only, as scikit-learn does.

A ratio whose denominator is zero (e.g. precision of a class never predicted) is
``zero_division`` (0.0 unless told otherwise), without a warning.

Reference: Sokolova, M. and Lapalme, G. (2009). A systematic analysis of performance
measures for classification tasks. *Information Processing & Management* 45(4), 427–437.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from medtk.metrics.confusion import confusion_matrix, label_pair
from medtk.metrics.inputs import MetricInputError

__all__ = [
    "Average",
    "accuracy",
    "f1",
    "precision",
    "recall",
    "sensitivity",
    "specificity",
]

#: How per-class values combine (see the module docstring).
Average = Literal["binary", "micro", "macro", "weighted"] | None

_AVERAGES = ("binary", "micro", "macro", "weighted", None)

Labels = npt.ArrayLike | Sequence[int] | None


def accuracy(y_true: Any, y_pred: Any) -> float:
    """The fraction of samples whose predicted label equals the true one.

    accuracy = #{i : y_pred_i = y_true_i} / n

    :param y_true: true class labels, shape (n,).
    :param y_pred: predicted class labels, shape (n,).
    """
    truth, pred, _ = label_pair(y_true, y_pred, None)
    return float(np.mean(truth == pred))


def _counts(
    y_true: Any, y_pred: Any, average: Average, pos_label: int, labels: Labels
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-class TP, FP, FN, TN (``float64``); only ``pos_label``'s for ``"binary"``."""
    if average not in _AVERAGES:
        raise MetricInputError(
            f"average must be 'binary', 'micro', 'macro', 'weighted' or None, got {average!r}"
        )
    truth, pred, chosen = label_pair(y_true, y_pred, labels)
    if average == "binary":
        present = np.union1d(truth, pred)
        if len(present) > 2:
            raise MetricInputError(
                f"average='binary' needs at most two classes, found {len(present)} "
                f"({', '.join(map(str, present[:5]))}); use average='macro' or None"
            )
        if len(present) == 2 and pos_label not in present:
            raise MetricInputError(
                f"pos_label={pos_label} is not one of the classes present "
                f"({', '.join(map(str, present))})"
            )
        is_true, is_pred = truth == pos_label, pred == pos_label
        tp = np.count_nonzero(is_true & is_pred)
        fp = np.count_nonzero(~is_true & is_pred)
        fn = np.count_nonzero(is_true & ~is_pred)
        tn = len(truth) - tp - fp - fn
        one = np.array([[tp], [fp], [fn], [tn]], dtype=np.float64)
        return one[0], one[1], one[2], one[3]
    # count over every class that occurs, then keep the chosen ones: a class left out of
    # `labels` still makes errors for the others (as in scikit-learn)
    every = np.union1d(np.union1d(truth, pred), chosen)
    matrix = confusion_matrix(truth, pred, labels=every).astype(np.float64)
    keep = np.searchsorted(every, chosen)
    tp = np.diag(matrix)[keep]
    fp = matrix.sum(axis=0)[keep] - tp
    fn = matrix.sum(axis=1)[keep] - tp
    tn = matrix.sum() - tp - fp - fn
    return tp, fp, fn, tn


def _ratio(
    numerator: np.ndarray,
    denominator: np.ndarray,
    support: np.ndarray,
    average: Average,
    zero_division: float,
) -> float | np.ndarray:
    """numerator / denominator per class, then combined as ``average`` says."""
    if average == "micro":
        numerator, denominator = numerator.sum(keepdims=True), denominator.sum(keepdims=True)
    values = np.full(numerator.shape, float(zero_division))
    np.divide(numerator, denominator, out=values, where=denominator > 0)
    if average is None:
        return values
    # "binary" holds one class, so its mean is that class's value
    if average == "weighted":
        total = support.sum()
        return float(values @ support / total) if total > 0 else float(zero_division)
    return float(values.mean())


def precision(
    y_true: Any,
    y_pred: Any,
    *,
    average: Average = "binary",
    pos_label: int = 1,
    labels: Labels = None,
    zero_division: float = 0.0,
) -> float | np.ndarray:
    """Precision (positive predictive value): TP / (TP + FP).

    :param y_true: true class labels, shape (n,).
    :param y_pred: predicted class labels, shape (n,).
    :param average: ``"binary"``, ``"micro"``, ``"macro"``, ``"weighted"`` or ``None``.
    :param pos_label: the positive class when ``average="binary"``.
    :param labels: the classes scored; default: the sorted union of both inputs.
    :param zero_division: the value when TP + FP = 0.
    :returns: a float, or one value per class when ``average`` is ``None``.
    """
    tp, fp, fn, _ = _counts(y_true, y_pred, average, pos_label, labels)
    return _ratio(tp, tp + fp, tp + fn, average, zero_division)


def recall(
    y_true: Any,
    y_pred: Any,
    *,
    average: Average = "binary",
    pos_label: int = 1,
    labels: Labels = None,
    zero_division: float = 0.0,
) -> float | np.ndarray:
    """Recall (sensitivity, true-positive rate): TP / (TP + FN).

    :param y_true: true class labels, shape (n,).
    :param y_pred: predicted class labels, shape (n,).
    :param average: ``"binary"``, ``"micro"``, ``"macro"``, ``"weighted"`` or ``None``.
    :param pos_label: the positive class when ``average="binary"``.
    :param labels: the classes scored; default: the sorted union of both inputs.
    :param zero_division: the value when TP + FN = 0 (the class never occurs).
    :returns: a float, or one value per class when ``average`` is ``None``.
    """
    tp, _, fn, _ = _counts(y_true, y_pred, average, pos_label, labels)
    return _ratio(tp, tp + fn, tp + fn, average, zero_division)


def sensitivity(
    y_true: Any,
    y_pred: Any,
    *,
    average: Average = "binary",
    pos_label: int = 1,
    labels: Labels = None,
    zero_division: float = 0.0,
) -> float | np.ndarray:
    """Sensitivity, the clinical name of recall: TP / (TP + FN). See :func:`recall`."""
    return recall(
        y_true,
        y_pred,
        average=average,
        pos_label=pos_label,
        labels=labels,
        zero_division=zero_division,
    )


def specificity(
    y_true: Any,
    y_pred: Any,
    *,
    average: Average = "binary",
    pos_label: int = 1,
    labels: Labels = None,
    zero_division: float = 0.0,
) -> float | np.ndarray:
    """Specificity (true-negative rate): TN / (TN + FP).

    For two classes it equals the recall of the negative class. ``"weighted"`` weights
    each class's specificity by that class's support (TP + FN), as the other metrics do.

    :param y_true: true class labels, shape (n,).
    :param y_pred: predicted class labels, shape (n,).
    :param average: ``"binary"``, ``"micro"``, ``"macro"``, ``"weighted"`` or ``None``.
    :param pos_label: the positive class when ``average="binary"``.
    :param labels: the classes scored; default: the sorted union of both inputs.
    :param zero_division: the value when TN + FP = 0 (no sample outside the class).
    :returns: a float, or one value per class when ``average`` is ``None``.
    """
    tp, fp, fn, tn = _counts(y_true, y_pred, average, pos_label, labels)
    return _ratio(tn, tn + fp, tp + fn, average, zero_division)


def f1(
    y_true: Any,
    y_pred: Any,
    *,
    average: Average = "binary",
    pos_label: int = 1,
    labels: Labels = None,
    zero_division: float = 0.0,
) -> float | np.ndarray:
    """F1 score, the harmonic mean of precision and recall: 2·TP / (2·TP + FP + FN).

    Reference: van Rijsbergen, C. J. (1979). *Information Retrieval*, 2nd ed., ch. 7.

    :param y_true: true class labels, shape (n,).
    :param y_pred: predicted class labels, shape (n,).
    :param average: ``"binary"``, ``"micro"``, ``"macro"``, ``"weighted"`` or ``None``.
    :param pos_label: the positive class when ``average="binary"``.
    :param labels: the classes scored; default: the sorted union of both inputs.
    :param zero_division: the value when TP + FP + FN = 0.
    :returns: a float, or one value per class when ``average`` is ``None``.
    """
    tp, fp, fn, _ = _counts(y_true, y_pred, average, pos_label, labels)
    return _ratio(2 * tp, 2 * tp + fp + fn, tp + fn, average, zero_division)
