"""Percentile bootstrap confidence intervals for any metric, and a vectorised one for AUC.

The percentile bootstrap (Efron & Tibshirani 1993, ch. 13): draw B resamples of the n
samples with replacement (rows of every input array resampled together), compute the
metric θ*_b on each, and take the α/2 and 1 − α/2 percentiles of θ*_1..θ*_B as the
interval at confidence 1 − α. The point estimate is the metric on the full sample; the
standard deviation of the θ*_b (ddof = 1) is the bootstrap standard error.

A resample on which the metric is undefined — one that lacks a class for AUC — is
skipped and counted in ``n_skipped``; the percentiles come from the others. Resamples
are not stratified.

Resample indices come from ``numpy.random.default_rng(seed)`` as ``integers(0, n,
size=(B, n))`` (drawn in blocks of rows for large n, which yields the same numbers), so
the same seed gives the same interval, and :func:`bootstrap_ci` with
:func:`~medtk.metrics.roc.roc_auc` and :func:`bootstrap_auc` agree exactly.

Reference: Efron, B. and Tibshirani, R. J. (1993). *An Introduction to the Bootstrap*.
Chapman & Hall, ch. 13 (percentile intervals) and ch. 6 (bootstrap standard error).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from medtk.metrics.inputs import MetricInputError, UndefinedMetricError, as_array, scores
from medtk.metrics.mann_whitney import auc_from_counts, group_counts, tie_groups
from medtk.metrics.roc import OvrAverage, binary_target, ovr_targets, roc_auc, roc_auc_ovr

__all__ = ["BootstrapResult", "bootstrap_auc", "bootstrap_ci", "resample_indices"]

#: Resample indices drawn per block (bounds memory for large n; the numbers do not change).
BLOCK_ELEMENTS = 2**21

Seed = int | np.random.Generator | None


@dataclass(frozen=True)
class BootstrapResult:
    """A point estimate with its percentile bootstrap interval.

    :ivar estimate: the metric on the full sample.
    :ivar low: the lower bound, percentile 100·(1 − confidence)/2 of the resamples.
    :ivar high: the upper bound, percentile 100·(1 + confidence)/2.
    :ivar std: standard deviation (ddof = 1) of the resampled values, NaN if fewer than 2.
    :ivar confidence: the confidence level, e.g. 0.95.
    :ivar n_iterations: resamples drawn.
    :ivar n_skipped: resamples skipped because the metric was undefined on them.
    :ivar distribution: the metric on each kept resample, in drawing order.
    """

    estimate: float
    low: float
    high: float
    std: float
    confidence: float
    n_iterations: int
    n_skipped: int
    distribution: np.ndarray = field(repr=False, compare=False)

    def as_dict(self) -> dict[str, float | int]:
        """The summary as a JSON-ready mapping (without the distribution)."""
        return {
            "estimate": self.estimate,
            "low": self.low,
            "high": self.high,
            "std": self.std,
            "confidence": self.confidence,
            "n_iterations": self.n_iterations,
            "n_skipped": self.n_skipped,
        }


def _check_settings(n_iterations: int, confidence: float) -> None:
    if isinstance(n_iterations, bool) or not isinstance(n_iterations, int | np.integer):
        raise MetricInputError(f"n_iterations must be an integer, got {n_iterations!r}")
    if n_iterations < 1:
        raise MetricInputError(f"n_iterations must be at least 1, got {n_iterations}")
    if not 0 < confidence < 1:
        raise MetricInputError(f"confidence must be between 0 and 1, got {confidence}")


def resample_indices(n_samples: int, n_iterations: int, seed: Seed = 0) -> Iterator[np.ndarray]:
    """Bootstrap resample indices in blocks of rows; each row is one resample of size n.

    Concatenated, the blocks equal ``default_rng(seed).integers(0, n, size=(B, n))``.

    :param n_samples: n, the number of samples.
    :param n_iterations: B, the number of resamples.
    :param seed: an integer seed, a ``numpy.random.Generator`` (advanced in place), or
        ``None`` for fresh entropy.
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    rows = max(1, min(n_iterations, BLOCK_ELEMENTS // max(n_samples, 1)))
    for start in range(0, n_iterations, rows):
        yield rng.integers(0, n_samples, size=(min(rows, n_iterations - start), n_samples))


def _summarise(
    estimate: float, values: np.ndarray, confidence: float, n_iterations: int, what: str
) -> BootstrapResult:
    """Percentile interval of the defined (not NaN) resampled values."""
    kept = values[~np.isnan(values)]
    if len(kept) == 0:
        raise UndefinedMetricError(
            f"{what} was undefined on all {n_iterations} bootstrap resamples; no interval"
        )
    alpha = 1.0 - confidence
    low, high = np.percentile(kept, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return BootstrapResult(
        estimate=float(estimate),
        low=float(low),
        high=float(high),
        std=float(np.std(kept, ddof=1)) if len(kept) > 1 else float("nan"),
        confidence=float(confidence),
        n_iterations=int(n_iterations),
        n_skipped=int(n_iterations - len(kept)),
        distribution=kept,
    )


def bootstrap_ci(
    metric: Callable[..., Any],
    *arrays: Any,
    n_iterations: int = 1000,
    confidence: float = 0.95,
    seed: Seed = 0,
) -> BootstrapResult:
    """Percentile bootstrap interval of ``metric(*arrays)``, for any scalar metric.

    Rows (axis 0) of all ``arrays`` are resampled together, so ``metric(y_true, y_score)``
    keeps each label with its score. A resample where ``metric`` raises
    :class:`~medtk.metrics.inputs.UndefinedMetricError` or returns NaN is skipped and
    counted. The metric is called once per resample; for AUC :func:`bootstrap_auc`
    computes the same numbers without the loop.

    :param metric: a function of the arrays returning one number, e.g. ``f1``; bind
        options with ``functools.partial``.
    :param arrays: the metric's array arguments, all with the same length n.
    :param n_iterations: B, the number of resamples.
    :param confidence: the interval's confidence level (0.95: the 2.5th–97.5th percentile).
    :param seed: an integer seed, a ``numpy.random.Generator``, or ``None``.
    :raises UndefinedMetricError: if the metric is undefined on the full sample or on
        every resample.
    """
    _check_settings(n_iterations, confidence)
    if not arrays:
        raise MetricInputError("bootstrap_ci needs at least one array to resample")
    data = [as_array(a, f"array {i}") for i, a in enumerate(arrays)]
    n = len(data[0]) if data[0].ndim else 0
    for i, a in enumerate(data[1:], start=1):
        if a.ndim == 0 or len(a) != n:
            raise MetricInputError(
                f"array 0 has {n} samples but array {i} has {len(a) if a.ndim else 0}"
            )
    if n == 0:
        raise MetricInputError("bootstrap_ci needs at least one sample")
    name = getattr(metric, "__name__", "the metric")
    estimate = _scalar(metric(*data), name)
    values = np.full(n_iterations, np.nan)
    done = 0
    for block in resample_indices(n, n_iterations, seed):
        for rows in block:
            with contextlib.suppress(UndefinedMetricError):  # skipped, left NaN
                values[done] = _scalar(metric(*(a[rows] for a in data)), name)
            done += 1
    return _summarise(estimate, values, confidence, n_iterations, name)


def _scalar(value: Any, name: str) -> float:
    array = np.asarray(value)
    if array.size != 1:
        raise MetricInputError(f"{name} must return one number, got shape {array.shape}")
    return float(array.reshape(()))


def _undefined_class(confidence: float, n_iterations: int) -> BootstrapResult:
    """The result for a class whose AUC is undefined on the full sample: all NaN."""
    nan = float("nan")
    return BootstrapResult(
        nan, nan, nan, nan, float(confidence), int(n_iterations), int(n_iterations), np.empty(0)
    )


def bootstrap_auc(
    y_true: Any,
    y_score: Any,
    *,
    average: OvrAverage = "macro",
    labels: npt.ArrayLike | Sequence[int] | None = None,
    pos_label: int = 1,
    n_iterations: int = 1000,
    confidence: float = 0.95,
    seed: Seed = 0,
) -> BootstrapResult | list[BootstrapResult]:
    """ROC AUC with its percentile bootstrap interval, every resample at once.

    Binary scores (shape (n,)) give the binary AUC; multi-class scores (shape (n, K)) the
    one-vs-rest AUC averaged as ``average`` says, or with ``average=None`` one result per
    class. A resample is skipped when its AUC is undefined: binary or per class, when it
    lacks positives or negatives; macro or weighted, when any class is absent from it
    (or is all of it). Results equal :func:`bootstrap_ci` with :func:`roc_auc` or
    :func:`roc_auc_ovr` and the same seed, computed through the Mann–Whitney statistic
    on tie-group counts (:mod:`medtk.metrics.mann_whitney`): 1000 resamples of 1000
    samples take a few tens of milliseconds.

    :param y_true: class labels, shape (n,).
    :param y_score: scores, shape (n,) or (n, K).
    :param average: for multi-class scores, ``"macro"``, ``"weighted"`` or ``None`` (one
        result per class; a class absent from y_true, or that is all of it, gets NaN
        everywhere and every resample counted as skipped).
    :param labels: for multi-class scores, the class of each column; default ``0..K-1``.
    :param pos_label: for binary scores, the positive class.
    :param n_iterations: B, the number of resamples.
    :param confidence: the interval's confidence level.
    :param seed: an integer seed, a ``numpy.random.Generator``, or ``None``.
    :raises UndefinedMetricError: if the AUC is undefined on the full sample or on every
        resample.
    """
    _check_settings(n_iterations, confidence)
    raw = as_array(y_score, "y_score")
    if raw.ndim == 1:
        score = scores(raw, "y_score", ndim=1)
        estimate = roc_auc(y_true, score, pos_label=pos_label)
        positive = binary_target(y_true, pos_label, len(score))
        group, n_groups = tie_groups(score)
        values = np.concatenate(
            [
                auc_from_counts(group_counts(group, positive, n_groups, block))[0]
                for block in resample_indices(len(score), n_iterations, seed)
            ]
        )
        return _summarise(estimate, values, confidence, n_iterations, "ROC AUC")
    score = scores(raw, "y_score", ndim=2)
    if average not in ("macro", "weighted", None):
        raise MetricInputError(f"average must be 'macro', 'weighted' or None, got {average!r}")
    positive, chosen = ovr_targets(y_true, score, labels)
    per_class_estimate = roc_auc_ovr(y_true, score, average=None, labels=chosen)
    if average is not None:  # refuses before resampling if some class is undefined
        estimate = roc_auc_ovr(y_true, score, average=average, labels=chosen)
    n_classes = score.shape[1]
    groups = [tie_groups(score[:, c]) for c in range(n_classes)]
    blocks, prevalence_blocks = [], []
    for block in resample_indices(len(score), n_iterations, seed):
        columns = []
        for c, (group, n_groups) in enumerate(groups):
            counts = group_counts(group, positive[:, c], n_groups, block)
            columns.append(auc_from_counts(counts)[0])
        blocks.append(np.stack(columns, axis=1))
        if average == "weighted":
            prevalence_blocks.append(positive[block].mean(axis=1))
    per_class = np.concatenate(blocks)  # (B, K), NaN where undefined
    if average is None:
        return [
            _undefined_class(confidence, n_iterations)
            if np.isnan(per_class_estimate[c])
            else _summarise(
                per_class_estimate[c],
                per_class[:, c],
                confidence,
                n_iterations,
                f"ROC AUC of class {chosen[c]}",
            )
            for c in range(n_classes)
        ]
    if average == "weighted":
        values = np.sum(per_class * np.concatenate(prevalence_blocks), axis=1)
    else:
        values = per_class.mean(axis=1)
    return _summarise(estimate, values, confidence, n_iterations, "one-vs-rest ROC AUC")
