"""Cross-validation folds for a cohort: grouped by patient, stratified by label.

All rows of one patient (one group) land in the same fold, so no patient is seen in
training and testing at once, and each fold keeps roughly the cohort's label mix, as
scikit-learn's ``StratifiedGroupKFold`` makes them. The NAFLD study uses 3 folds.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

from medtk.errors import BadInputError

__all__ = ["assign_folds", "fold_summary"]


def _ordered(values: Any) -> list[Any]:
    """Distinct values, sorted when they can be, else by their text."""
    distinct = list(dict.fromkeys(values))
    try:
        return sorted(distinct)
    except TypeError:
        return sorted(distinct, key=str)


def assign_folds(
    labels: Sequence[Hashable],
    groups: Sequence[Hashable],
    n_folds: int = 3,
    seed: int = 0,
) -> np.ndarray:
    """The fold (0 … ``n_folds - 1``) of each row, patient-grouped and label-stratified.

    ``StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)``: each
    group goes whole into the fold that keeps the label distributions of the folds most
    alike (a greedy assignment; balance is approximate with few groups). The same rows
    and seed always give the same folds.

    :param labels: class of each row (strings or numbers).
    :param groups: patient (group) of each row.
    :param n_folds: number of folds, at least 2.
    :param seed: random seed of the shuffle.
    :returns: int64 array, one fold per row.
    :raises BadInputError: lengths differ, ``n_folds < 2``, fewer groups than folds, or a
        class found in fewer groups than folds (that class could not be in every fold).
    """
    from sklearn.model_selection import StratifiedGroupKFold

    labels, groups = list(labels), list(groups)
    if len(labels) != len(groups):
        raise BadInputError(f"{len(labels)} labels but {len(groups)} group ids; give one per row")
    if int(n_folds) != n_folds or n_folds < 2:
        raise BadInputError(f"{n_folds} folds: cross-validation needs at least 2")
    n_folds = int(n_folds)
    distinct_groups = set(groups)
    if len(distinct_groups) < n_folds:
        raise BadInputError(
            f"{len(distinct_groups)} patient(s) cannot fill {n_folds} folds; "
            "use fewer folds or more patients"
        )
    groups_of: dict[Hashable, set[Hashable]] = defaultdict(set)
    for label, group in zip(labels, groups, strict=True):
        groups_of[label].add(group)
    for label in _ordered(groups_of):
        if len(groups_of[label]) < n_folds:
            raise BadInputError(
                f"class {label!r} has {len(groups_of[label])} patient(s), fewer than the "
                f"{n_folds} folds; every fold needs each class (merge classes or use "
                "fewer folds)"
            )
    # classes and groups as integer codes: sklearn then never compares mixed types
    label_codes = {label: i for i, label in enumerate(_ordered(labels))}
    group_codes = {group: i for i, group in enumerate(_ordered(groups))}
    y = np.array([label_codes[v] for v in labels], dtype=np.int64)
    g = np.array([group_codes[v] for v in groups], dtype=np.int64)
    folds = np.full(len(labels), -1, dtype=np.int64)
    splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    for fold, (_, test) in enumerate(splitter.split(np.zeros((len(y), 1)), y, g)):
        folds[test] = fold
    return folds


def fold_summary(labels: Sequence[Hashable], folds: Sequence[int]) -> dict[int, dict[str, int]]:
    """Rows per fold and class: ``{fold: {str(label): count}}``, every class in every fold.

    Plain ints and strings, ready for a log line or JSON.

    :param labels: class of each row.
    :param folds: fold of each row (from :func:`assign_folds`).
    """
    labels, folds = list(labels), [int(f) for f in folds]
    if len(labels) != len(folds):
        raise BadInputError(f"{len(labels)} labels but {len(folds)} folds; give one per row")
    counts = Counter(zip(folds, labels, strict=True))
    classes = _ordered(labels)
    return {
        fold: {str(label): counts[fold, label] for label in classes} for fold in _ordered(folds)
    }
