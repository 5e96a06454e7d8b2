"""Per-class F1 over every threshold, the best threshold per class, and applying it.

For class c with scores s_c, threshold t calls a sample positive when s_c ≥ t; then

    F1_c(t) = 2·TP(t) / (2·TP(t) + FP(t) + FN(t)).

:func:`f1_threshold_sweep` evaluates F1_c at every distinct score (the only places it
changes) in one sort per class, and picks the threshold that maximises it; when several
thresholds tie, the highest is kept (fewest positives called). The whole curve is
returned, so threshold–F1 plots can draw it. Thresholds are chosen on validation data
and applied to test data with :func:`apply_thresholds` and :func:`f1_at_thresholds`.

Targets are class labels (each class one-vs-rest), a multi-label indicator matrix
(one independent 0/1 column per class, as for a multi-label soft-margin loss) or, with
1-D scores, binary labels.

Reference: Lipton, Z. C., Elkan, C. and Naryanaswamy, B. (2014). Optimal thresholding of
classifiers to maximize F1 measure. *ECML PKDD 2014*, LNCS 8725, 225–239.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from medtk.metrics.inputs import MetricInputError, as_array, check_labels, class_labels, scores
from medtk.metrics.roc import binary_target, ovr_targets

__all__ = ["ThresholdSweep", "apply_thresholds", "f1_at_thresholds", "f1_threshold_sweep"]


@dataclass(frozen=True, eq=False)
class ThresholdSweep:
    """F1 against threshold for each class, and the best threshold of each.

    :ivar thresholds: per class, the candidate thresholds (its distinct scores), ascending.
    :ivar f1: per class, F1 at each candidate threshold.
    :ivar best_threshold: shape (K,), the threshold maximising F1 per class.
    :ivar best_f1: shape (K,), F1 at that threshold.
    :ivar labels: shape (K,), the class of each entry.
    """

    thresholds: tuple[np.ndarray, ...]
    f1: tuple[np.ndarray, ...]
    best_threshold: np.ndarray
    best_f1: np.ndarray
    labels: np.ndarray


def _targets(
    y_true: Any,
    y_score: Any,
    labels: npt.ArrayLike | Sequence[int] | None,
    pos_label: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scores as (n, K), positives as (n, K) booleans, and the class of each column."""
    raw = as_array(y_score, "y_score")
    if raw.ndim == 1:
        score = scores(raw, "y_score", ndim=1)
        positive = binary_target(y_true, pos_label, len(score))
        return score[:, None], positive[:, None], np.array([pos_label])
    score = scores(raw, "y_score", ndim=2)
    truth = as_array(y_true, "y_true")
    if truth.ndim == 2:  # multi-label indicator matrix
        indicator = class_labels(truth, "y_true", ndim=2)
        if indicator.shape != score.shape:
            raise MetricInputError(
                f"y_true has shape {indicator.shape} but y_score has shape {score.shape}"
            )
        if not np.isin(indicator, (0, 1)).all():
            raise MetricInputError("a 2-D y_true must be a 0/1 indicator matrix")
        chosen = np.arange(score.shape[1]) if labels is None else check_labels(labels)
        if len(chosen) != score.shape[1]:
            raise MetricInputError(
                f"labels names {len(chosen)} classes but y_score has {score.shape[1]} columns"
            )
        return score, indicator.astype(bool), chosen
    positive, chosen = ovr_targets(truth, score, labels)
    return score, positive, chosen


def _sweep_one(score: np.ndarray, positive: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct scores (ascending) and F1 when each is the threshold."""
    distinct, group = np.unique(score, return_inverse=True)
    group = group.reshape(-1)
    n_groups = len(distinct)
    pos = np.bincount(group, weights=positive.astype(np.float64), minlength=n_groups)
    total = np.bincount(group, minlength=n_groups).astype(np.float64)
    tp = np.cumsum(pos[::-1])[::-1]  # positives scoring ≥ each threshold
    called = np.cumsum(total[::-1])[::-1]
    fp = called - tp
    fn = pos.sum() - tp
    return distinct, 2 * tp / (2 * tp + fp + fn)  # ≥ 1 sample is called, so never 0/0


def f1_threshold_sweep(
    y_true: Any,
    y_score: Any,
    *,
    labels: npt.ArrayLike | Sequence[int] | None = None,
    pos_label: int = 1,
) -> ThresholdSweep:
    """F1 at every threshold, per class, and the threshold that maximises it.

    F1_c(t) = 2·TP / (2·TP + FP + FN) with "positive" meaning score[:, c] ≥ t. A class
    absent from y_true has F1 = 0 at every threshold; its best threshold is its highest
    score.

    :param y_true: class labels (n,), a 0/1 indicator matrix (n, K), or with 1-D scores
        binary labels (n,).
    :param y_score: scores (n, K), or (n,) for one binary class.
    :param labels: the class of each score column; default ``0..K-1``.
    :param pos_label: the positive class when ``y_score`` is 1-D.
    """
    score, positive, chosen = _targets(y_true, y_score, labels, pos_label)
    thresholds, values = [], []
    best_threshold = np.empty(score.shape[1])
    best_f1 = np.empty(score.shape[1])
    for c in range(score.shape[1]):
        distinct, f1 = _sweep_one(score[:, c], positive[:, c])
        best = len(f1) - 1 - int(np.argmax(f1[::-1]))  # the highest of tied maxima
        thresholds.append(distinct)
        values.append(f1)
        best_threshold[c] = distinct[best]
        best_f1[c] = f1[best]
    return ThresholdSweep(
        thresholds=tuple(thresholds),
        f1=tuple(values),
        best_threshold=best_threshold,
        best_f1=best_f1,
        labels=np.asarray(chosen),
    )


def apply_thresholds(y_score: Any, thresholds: Any) -> np.ndarray:
    """Call positives with per-class thresholds: ``y_score[:, c] >= thresholds[c]``.

    :param y_score: scores (n, K), or (n,) with one threshold.
    :param thresholds: shape (K,) (e.g. ``ThresholdSweep.best_threshold`` from validation
        data), or a scalar applied to every column.
    :returns: booleans, the shape of ``y_score`` (a multi-label prediction).
    """
    raw = as_array(y_score, "y_score")
    score = scores(raw, "y_score", ndim=raw.ndim)
    if score.ndim not in (1, 2):
        raise MetricInputError(f"y_score must be 1-D or 2-D, got shape {score.shape}")
    cut = scores(as_array(thresholds, "thresholds").reshape(-1), "thresholds", ndim=1)
    n_columns = 1 if score.ndim == 1 else score.shape[1]
    if len(cut) not in (1, n_columns):
        raise MetricInputError(
            f"thresholds has {len(cut)} values but y_score has {n_columns} column(s)"
        )
    return score >= (cut[0] if score.ndim == 1 or len(cut) == 1 else cut)


def f1_at_thresholds(
    y_true: Any,
    y_score: Any,
    thresholds: Any,
    *,
    labels: npt.ArrayLike | Sequence[int] | None = None,
    pos_label: int = 1,
    zero_division: float = 0.0,
) -> np.ndarray:
    """Per-class F1 when fixed thresholds (chosen elsewhere) call the positives.

    F1_c = 2·TP / (2·TP + FP + FN) with positives ``y_score[:, c] >= thresholds[c]``;
    ``zero_division`` when a class is neither present nor called.

    :param y_true: class labels (n,), a 0/1 indicator matrix (n, K), or binary labels.
    :param y_score: scores (n, K), or (n,) for one binary class.
    :param thresholds: shape (K,) or a scalar.
    :param labels: the class of each score column; default ``0..K-1``.
    :param pos_label: the positive class when ``y_score`` is 1-D.
    :param zero_division: the value when TP + FP + FN = 0.
    :returns: shape (K,), F1 per class.
    """
    score, positive, _ = _targets(y_true, y_score, labels, pos_label)
    called = apply_thresholds(score, thresholds)
    tp = np.count_nonzero(called & positive, axis=0).astype(np.float64)
    fp = np.count_nonzero(called & ~positive, axis=0)
    fn = np.count_nonzero(~called & positive, axis=0)
    denominator = 2 * tp + fp + fn
    out = np.full(len(tp), float(zero_division))
    np.divide(2 * tp, denominator, out=out, where=denominator > 0)
    return out
