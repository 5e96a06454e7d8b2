"""k-fold cross-validation: one complete run per fold inside one folder, and a summary.

``RUN/fold-1 … fold-k`` are ordinary run folders (config, weights, metrics, state), so
each can be evaluated or resumed on its own; ``RUN/summary.json`` and ``RUN/folds.csv``
hold every fold's best score with the mean and standard deviation across folds. Folds
that finished are skipped when an interrupted cross-validation is resumed.
"""

from __future__ import annotations

import csv
import json
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

from medtk.errors import BadInputError

FOLDS_FILE = "folds.csv"


def fold_folder(root: Path, fold: int) -> Path:
    """``root/fold-N`` for fold ``N`` counted from 1."""
    return root / f"fold-{fold + 1}"


def finished_summary(folder: Path) -> dict[str, Any] | None:
    """The summary of a finished fold run, or ``None`` while it is missing or unfinished."""
    path = folder / "summary.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def cohort_folds(table: Path, column: str = "fold") -> list[dict[str, str]]:
    """The rows of a cohort table (``medtk preprocess cohort``) with a whole-number fold
    each; tasks pick a fold's held-out rows with ``int(row["fold"]) == fold``."""
    if not Path(table).is_file():
        raise BadInputError(f"cohort table {str(table)!r} does not exist")
    with Path(table).open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or column not in rows[0]:
        raise BadInputError(
            f"cohort table {str(table)!r} has no {column!r} column; make it with "
            "'medtk preprocess cohort … --folds K'"
        )
    for number, row in enumerate(rows, start=2):
        if not row[column].strip().isdigit():
            raise BadInputError(
                f"cohort table {str(table)!r}, line {number}: fold {row[column]!r} is not a "
                "whole number"
            )
    return rows


def check_folds(folds: int, samples: int) -> None:
    """At least two folds, and no more folds than samples."""
    if folds < 2:
        raise BadInputError(f"--folds {folds}: cross-validation needs at least 2 folds")
    if folds > samples:
        raise BadInputError(f"--folds {folds} is more than the {samples} samples")


def cross_validate(
    root: Path,
    folds: int,
    train_fold: Callable[[int, Path], dict[str, Any]],
    *,
    monitor: str,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Train every unfinished fold into ``root/fold-N``; return the aggregate summary.

    :param train_fold: ``(fold, folder) → the fold run's summary``; it trains (or resumes,
        when the folder holds state) and writes the fold's summary.json.
    """
    key = f"best_{monitor}"
    summaries = []
    for fold in range(folds):
        folder = fold_folder(root, fold)
        done = finished_summary(folder)
        if done is None:
            folder.mkdir(exist_ok=True)
            done = train_fold(fold, folder)
        else:
            log(f"fold {fold + 1}: already trained (best {monitor} {done[key]:.4f}), kept")
        summaries.append(done)
    values = [float(s[key]) for s in summaries]
    with (root / FOLDS_FILE).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["fold", "best_epoch", key])
        for fold, summary in enumerate(summaries):
            writer.writerow([fold + 1, summary["best_epoch"], summary[key]])
    return {
        "folds": folds,
        key: values,
        f"mean_{key}": statistics.fmean(values),
        f"std_{key}": statistics.stdev(values) if len(values) > 1 else 0.0,
        "best_epochs": [int(s["best_epoch"]) for s in summaries],
    }
