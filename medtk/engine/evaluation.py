"""Scoring predictions: AUC with bootstrap intervals per fold, the usual classification
scores, a confusion matrix, and the plots, as ``medtk evaluate`` writes them.

Input is one or more prediction tables (one per fold of a cross-validation, or one for a
single run), each with a ``label`` column of class indices and either a ``score`` column
(binary: the probability of class 1) or ``score_0 … score_K-1`` (one probability per
class). Output, in one folder: ``metrics.json`` (everything), ``metrics.csv`` (a row per
fold, and their mean and standard deviation), ``roc.png``, ``confusion.png``.
"""

from __future__ import annotations

import csv
import json
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from medtk.errors import BadInputError

PredictionTable = Sequence[Mapping[str, Any]]
SCORES = ("auc", "auc_low", "auc_high", "accuracy", "precision", "recall", "specificity", "f1")


def read_predictions(path: Path) -> list[dict[str, str]]:
    """The rows of a predictions CSV; a missing or empty file is bad input."""
    if not path.is_file():
        raise BadInputError(f"predictions file {str(path)!r} does not exist")
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        raise BadInputError(f"predictions file {str(path)!r} has no rows")
    return rows


def labels_and_scores(rows: PredictionTable, where: str) -> tuple[np.ndarray, np.ndarray]:
    """``(labels (n,), scores (n,) or (n, K))`` from a table's columns."""
    columns = list(rows[0])
    if "label" not in columns:
        raise BadInputError(f"{where}: no 'label' column (columns: {', '.join(columns)})")
    per_class = sorted(
        (c for c in columns if c.startswith("score_") and c[6:].isdigit()), key=lambda c: int(c[6:])
    )
    if "score" in columns:
        names = ["score"]
    elif per_class:
        names = per_class
    else:
        raise BadInputError(f"{where}: no 'score' or 'score_0', 'score_1' … columns")
    try:
        labels = np.array([int(float(row["label"])) for row in rows])
        scores = np.array([[float(row[name]) for name in names] for row in rows])
    except (TypeError, ValueError) as exc:
        raise BadInputError(f"{where}: a label or score is not a number ({exc})") from None
    if not np.isfinite(scores).all():
        raise BadInputError(f"{where}: scores must be finite numbers")
    return labels, scores[:, 0] if names == ["score"] else scores


def score_table(
    labels: np.ndarray,
    scores: np.ndarray,
    *,
    threshold: float,
    iterations: int,
    confidence: float,
    seed: int,
) -> dict[str, Any]:
    """AUC with its bootstrap interval and the threshold (or argmax) scores of one table."""
    from medtk.metrics.classification import accuracy, f1, precision, recall, specificity
    from medtk.metrics.confusion import confusion_matrix

    binary = scores.ndim == 1
    classes = 2 if binary else scores.shape[1]
    predicted = (scores >= threshold).astype(int) if binary else scores.argmax(axis=1)
    average = "binary" if binary else "macro"
    ci = _auc_interval(labels, scores, iterations=iterations, confidence=confidence, seed=seed)
    return {
        "samples": len(labels),
        "auc": ci.estimate,
        "auc_low": ci.low,
        "auc_high": ci.high,
        "bootstrap_skipped": ci.n_skipped,
        "accuracy": accuracy(labels, predicted),
        "precision": float(precision(labels, predicted, average=average)),
        "recall": float(recall(labels, predicted, average=average)),
        "specificity": float(specificity(labels, predicted, average=average)),
        "f1": float(f1(labels, predicted, average=average)),
        "confusion": confusion_matrix(labels, predicted, labels=list(range(classes))).tolist(),
    }


def _auc_interval(
    labels: np.ndarray, scores: np.ndarray, *, iterations: int, confidence: float, seed: int
) -> Any:
    """The bootstrap AUC; a multi-class fold that lacks some class (a small cohort's
    validation fold) is scored one-vs-rest over the classes it holds, and a fold holding
    one class only gets NaN, instead of failing the whole evaluation."""
    from medtk.metrics.bootstrap import bootstrap_auc

    if scores.ndim == 2:
        present = np.unique(labels)
        if len(present) < 2:
            nan = float("nan")
            return _Interval(estimate=nan, low=nan, high=nan, n_skipped=0)
        if len(present) < scores.shape[1]:
            columns = scores[:, present]
            if len(present) == 2:  # two classes left: the binary AUC of the second
                return bootstrap_auc(
                    (labels == present[1]).astype(int), columns[:, 1],
                    n_iterations=iterations, confidence=confidence, seed=seed,
                )  # fmt: skip
            return bootstrap_auc(
                labels, columns, labels=present.tolist(),
                n_iterations=iterations, confidence=confidence, seed=seed,
            )  # fmt: skip
    return bootstrap_auc(labels, scores, n_iterations=iterations, confidence=confidence, seed=seed)


@dataclass(frozen=True)
class _Interval:
    estimate: float
    low: float
    high: float
    n_skipped: int


def evaluate_tables(
    tables: Mapping[str, PredictionTable],
    out: Path,
    *,
    threshold: float = 0.5,
    iterations: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """Score every table (fold), write metrics.json, metrics.csv and the plots into ``out``."""
    from medtk.viz import confusion_matrix as plot_confusion
    from medtk.viz import roc_curves

    data = {name: labels_and_scores(rows, name) for name, rows in tables.items()}
    folds = {
        name: score_table(
            labels,
            scores,
            threshold=threshold,
            iterations=iterations,
            confidence=confidence,
            seed=seed,
        )
        for name, (labels, scores) in data.items()
    }
    summary: dict[str, Any] = {"confidence": confidence, "bootstrap": iterations, "folds": folds}
    for key in SCORES:
        values = [fold[key] for fold in folds.values() if not math.isnan(fold[key])]
        summary[f"mean_{key}"] = statistics.fmean(values) if values else math.nan
        summary[f"std_{key}"] = statistics.stdev(values) if len(values) > 1 else 0.0
    pooled = np.sum([fold["confusion"] for fold in folds.values()], axis=0)
    summary["confusion"] = pooled.tolist()
    # a ROC curve needs every class among a fold's labels; folds of a small cohort may not
    complete = {name: d for name, d in data.items() if _holds_every_class(*d)}
    summary["roc_folds"] = list(complete)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    _write_table(out / "metrics.csv", folds, summary)
    if complete:
        roc_curves(
            out / "roc.png",
            list(complete.values()),
            fold_names=list(complete),
            bootstrap=iterations,
            confidence=confidence,
            seed=seed,
        )
    plot_confusion(out / "confusion.png", pooled, [str(i) for i in range(len(pooled))])
    return summary


def _holds_every_class(labels: np.ndarray, scores: np.ndarray) -> bool:
    classes = 2 if scores.ndim == 1 else scores.shape[1]
    return len(np.unique(labels)) == classes


def _write_table(path: Path, folds: Mapping[str, Mapping[str, Any]], summary: Mapping) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["fold", "samples", *SCORES])
        for name, fold in folds.items():
            writer.writerow([name, fold["samples"], *(fold[key] for key in SCORES)])
        total = sum(fold["samples"] for fold in folds.values())
        writer.writerow(["mean", total, *(summary[f"mean_{key}"] for key in SCORES)])
        writer.writerow(["std", "", *(summary[f"std_{key}"] for key in SCORES)])


def run_tables(source: Path) -> dict[str, list[dict[str, str]]]:
    """The prediction tables of a run folder (``predictions.csv``), of a cross-validation
    (``fold-N/predictions.csv``), or a predictions CSV itself."""
    from medtk.engine.session import PREDICTIONS_FILE

    if source.is_file():
        return {source.stem: read_predictions(source)}
    if (source / PREDICTIONS_FILE).is_file():
        return {"run": read_predictions(source / PREDICTIONS_FILE)}
    folds = sorted(source.glob(f"fold-*/{PREDICTIONS_FILE}"), key=lambda p: int(p.parent.name[5:]))
    if folds:
        return {p.parent.name: read_predictions(p) for p in folds}
    raise BadInputError(
        f"{str(source)!r} is neither a predictions CSV nor a run folder with {PREDICTIONS_FILE}"
    )
