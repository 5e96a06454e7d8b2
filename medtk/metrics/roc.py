"""ROC AUC and ROC curves: binary, and multi-class one-vs-rest.

The ROC curve plots the true-positive rate TPR(t) = TP(t) / P against the false-positive
rate FPR(t) = FP(t) / N as the threshold t sweeps the scores (a sample is called positive
when its score is ≥ t). Its area, the AUC, is computed exactly, ties included, as the
Mann–Whitney U statistic (see :mod:`medtk.metrics.mann_whitney`); it equals
``sklearn.metrics.roc_auc_score``.

Multi-class scores (one column per class) are scored one-vs-rest: class c against all
others, with column c as its score. The macro average is the unweighted mean over
classes (scikit-learn's ``multi_class="ovr"``); ``"weighted"`` weights each class by its
prevalence in y_true (Provost & Domingos).

AUC is undefined when y_true lacks positives or negatives: the binary functions then
raise :class:`~medtk.metrics.inputs.UndefinedMetricError`; per-class results hold NaN.

References: Fawcett, T. (2006). An introduction to ROC analysis. *Pattern Recognition
Letters* 27(8), 861–874. Provost, F. and Domingos, P. (2000). Well-trained PETs:
improving probability estimation trees (one-vs-rest AUC), CeDER working paper IS-00-04.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, NamedTuple

import numpy as np
import numpy.typing as npt

from medtk.metrics.inputs import (
    MetricInputError,
    UndefinedMetricError,
    check_labels,
    class_labels,
    label_index,
    same_length,
    scores,
)
from medtk.metrics.mann_whitney import auc_from_counts, group_counts, tie_groups

__all__ = [
    "RocCurve",
    "binary_target",
    "ovr_targets",
    "roc_auc",
    "roc_auc_ovr",
    "roc_curve",
    "roc_curves_ovr",
]

#: How one-vs-rest AUCs combine: unweighted mean, prevalence-weighted mean, or per class.
OvrAverage = Literal["macro", "weighted"] | None


class RocCurve(NamedTuple):
    """Points of a ROC curve, by decreasing threshold; unpacks like scikit-learn's tuple.

    ``thresholds[0]`` is ``inf`` (nothing called positive), so the curve starts at (0, 0).
    """

    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray


def binary_target(y_true: Any, pos_label: int, n_scores: int) -> np.ndarray:
    """Whether each sample is positive, after checking y_true holds at most two classes.

    :param y_true: class labels, shape (n,).
    :param pos_label: the positive class.
    :param n_scores: the number of scores, which must equal n.
    """
    truth = class_labels(y_true, "y_true")
    if len(truth) != n_scores:
        raise MetricInputError(f"y_true has {len(truth)} samples but y_score has {n_scores}")
    present = np.unique(truth)
    if len(present) > 2:
        raise MetricInputError(
            f"y_true holds {len(present)} classes ({', '.join(map(str, present[:5]))}) "
            "but binary scores were given; use roc_auc_ovr with one score column per class"
        )
    if len(present) == 2 and pos_label not in present:
        raise MetricInputError(
            f"pos_label={pos_label} is not one of the classes in y_true "
            f"({', '.join(map(str, present))})"
        )
    return truth == pos_label


def ovr_targets(
    y_true: Any, y_score: np.ndarray, labels: npt.ArrayLike | Sequence[int] | None
) -> tuple[np.ndarray, np.ndarray]:
    """One-vs-rest targets: ``positive[:, c]`` says whether a sample is of class ``c``.

    :param y_true: class labels, shape (n,), each one of ``labels``.
    :param y_score: scores, shape (n, K) with K ≥ 2.
    :param labels: the class of each score column; default ``0..K-1``.
    :returns: ``(positive, labels)``, shapes (n, K) and (K,).
    """
    n_classes = y_score.shape[1]
    if n_classes < 2:
        raise MetricInputError(
            f"y_score must have one column per class (at least 2), got shape {y_score.shape}"
        )
    chosen = np.arange(n_classes) if labels is None else check_labels(labels)
    if len(chosen) != n_classes:
        raise MetricInputError(
            f"labels names {len(chosen)} classes but y_score has {n_classes} columns"
        )
    truth = class_labels(y_true, "y_true")
    same_length(truth, y_score, ("y_true", "y_score"))
    index = label_index(truth, chosen, "y_true")
    return index[:, None] == np.arange(n_classes)[None, :], chosen


def _auc(y_score: np.ndarray, positive: np.ndarray) -> float:
    group, n_groups = tie_groups(y_score)
    auc, _ = auc_from_counts(group_counts(group, positive, n_groups))
    return float(auc[0])


def roc_auc(y_true: Any, y_score: Any, *, pos_label: int = 1) -> float:
    """Binary ROC AUC: P(score of a positive > score of a negative), ties counting ½.

    AUC = U / (n₊ · n₋), U the Mann–Whitney statistic of the positives' scores.

    :param y_true: class labels, shape (n,), at most two distinct values.
    :param y_score: scores, shape (n,); higher means more likely ``pos_label``.
    :param pos_label: the positive class.
    :raises UndefinedMetricError: if y_true holds only one class.
    """
    score = scores(y_score, "y_score", ndim=1)
    positive = binary_target(y_true, pos_label, len(score))
    if positive.all() or not positive.any():
        raise UndefinedMetricError(
            f"ROC AUC is undefined: y_true holds only one class ({len(score)} samples, "
            f"{int(positive.sum())} positive)"
        )
    return _auc(score, positive)


def roc_auc_ovr(
    y_true: Any,
    y_score: Any,
    *,
    average: OvrAverage = "macro",
    labels: npt.ArrayLike | Sequence[int] | None = None,
) -> float | np.ndarray:
    """Multi-class ROC AUC, one-vs-rest: each class's AUC against all others, averaged.

    AUC_c = roc_auc(y_true == labels[c], y_score[:, c]);
    macro = mean_c AUC_c; weighted = Σ_c p_c · AUC_c with p_c the prevalence of class c.
    Scores need not sum to one.

    :param y_true: class labels, shape (n,).
    :param y_score: scores, shape (n, K), column c for class ``labels[c]``.
    :param average: ``"macro"``, ``"weighted"`` or ``None`` (one AUC per class, NaN for a
        class absent from y_true or present in every sample).
    :param labels: the class of each column; default ``0..K-1``.
    :raises UndefinedMetricError: when averaging and some class's AUC is undefined.
    """
    if average not in ("macro", "weighted", None):
        raise MetricInputError(f"average must be 'macro', 'weighted' or None, got {average!r}")
    score = scores(y_score, "y_score", ndim=2)
    positive, chosen = ovr_targets(y_true, score, labels)
    per_class = np.full(score.shape[1], np.nan)
    for c in range(score.shape[1]):
        if positive[:, c].any() and not positive[:, c].all():
            per_class[c] = _auc(score[:, c], positive[:, c])
    if average is None:
        return per_class
    undefined = np.isnan(per_class)
    if undefined.any():
        names = ", ".join(str(v) for v in chosen[undefined])
        raise UndefinedMetricError(
            f"one-vs-rest ROC AUC is undefined for class(es) {names}: y_true must hold each "
            "class and at least one other (average=None gives NaN for them instead)"
        )
    if average == "weighted":
        prevalence = positive.sum(axis=0) / len(positive)
        return float(per_class @ prevalence)
    return float(per_class.mean())


def _curve(y_score: np.ndarray, positive: np.ndarray, drop_intermediate: bool) -> RocCurve:
    distinct, group = np.unique(y_score, return_inverse=True)
    group = group.reshape(-1)
    n_groups = len(distinct)
    pos = np.bincount(group, weights=positive.astype(np.float64), minlength=n_groups)[::-1]
    total = np.bincount(group, minlength=n_groups)[::-1]
    tps = np.cumsum(pos)
    fps = np.cumsum(total) - tps
    thresholds = distinct[::-1].astype(np.float64)
    if drop_intermediate and len(fps) > 2:
        corner = np.logical_or(np.diff(fps, 2), np.diff(tps, 2))
        keep = np.flatnonzero(np.r_[True, corner, True])
        tps, fps, thresholds = tps[keep], fps[keep], thresholds[keep]
    tps = np.r_[0.0, tps]
    fps = np.r_[0.0, fps]
    return RocCurve(fpr=fps / fps[-1], tpr=tps / tps[-1], thresholds=np.r_[np.inf, thresholds])


def roc_curve(
    y_true: Any, y_score: Any, *, pos_label: int = 1, drop_intermediate: bool = True
) -> RocCurve:
    """ROC curve points (FPR, TPR) at every distinct score used as threshold.

    Threshold t calls a sample positive when score ≥ t; thresholds decrease from ``inf``.
    With ``drop_intermediate`` points collinear with their neighbours are dropped (the
    plotted curve and its area do not change), as scikit-learn does.

    :param y_true: class labels, shape (n,), at most two distinct values.
    :param y_score: scores, shape (n,).
    :param pos_label: the positive class.
    :param drop_intermediate: drop points that are not corners of the curve.
    :raises UndefinedMetricError: if y_true holds only one class.
    """
    score = scores(y_score, "y_score", ndim=1)
    positive = binary_target(y_true, pos_label, len(score))
    if positive.all() or not positive.any():
        raise UndefinedMetricError(
            f"the ROC curve is undefined: y_true holds only one class ({len(score)} samples, "
            f"{int(positive.sum())} positive)"
        )
    return _curve(score, positive, drop_intermediate)


def roc_curves_ovr(
    y_true: Any,
    y_score: Any,
    *,
    labels: npt.ArrayLike | Sequence[int] | None = None,
    drop_intermediate: bool = True,
) -> list[RocCurve]:
    """One-vs-rest ROC curves, one per score column (class ``labels[c]`` against the rest).

    :param y_true: class labels, shape (n,).
    :param y_score: scores, shape (n, K).
    :param labels: the class of each column; default ``0..K-1``.
    :param drop_intermediate: drop points that are not corners of the curve.
    :raises UndefinedMetricError: if some class is absent from y_true or is all of it.
    """
    score = scores(y_score, "y_score", ndim=2)
    positive, chosen = ovr_targets(y_true, score, labels)
    undefined = ~positive.any(axis=0) | positive.all(axis=0)
    if undefined.any():
        names = ", ".join(str(v) for v in chosen[undefined])
        raise UndefinedMetricError(
            f"the one-vs-rest ROC curve is undefined for class(es) {names}: y_true must hold "
            "each class and at least one other"
        )
    return [_curve(score[:, c], positive[:, c], drop_intermediate) for c in range(score.shape[1])]
