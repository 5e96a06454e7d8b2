"""Cohort folds: patients never split, classes in every fold, same as scikit-learn."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.model_selection import StratifiedGroupKFold

from medtk.errors import BadInputError
from medtk.ops.folds import assign_folds, fold_summary


def cohort(seed: int = 0, patients: int = 30, classes: int = 3) -> tuple[list[str], list[str]]:
    """Rows (1–3 per patient, e.g. CT and H&E) with one fibrosis class per patient."""
    rng = np.random.default_rng(seed)
    labels, groups = [], []
    for p in range(patients):
        label = f"F{p % classes}"
        for _ in range(rng.integers(1, 4)):
            labels.append(label)
            groups.append(f"patient-{p:03d}")
    return labels, groups


def test_patients_are_never_split_and_every_fold_has_every_class():
    labels, groups = cohort()
    folds = assign_folds(labels, groups, n_folds=3, seed=0)
    assert folds.shape == (len(labels),) and set(folds) == {0, 1, 2}
    by_patient: dict[str, set[int]] = {}
    for group, fold in zip(groups, folds, strict=True):
        by_patient.setdefault(group, set()).add(int(fold))
    assert all(len(f) == 1 for f in by_patient.values())
    for fold in range(3):
        assert {lab for lab, f in zip(labels, folds, strict=True) if f == fold} == {
            "F0",
            "F1",
            "F2",
        }


def test_same_as_scikit_learn_directly():
    labels, groups = cohort(seed=4)
    expected = np.full(len(labels), -1)
    splitter = StratifiedGroupKFold(n_splits=3, shuffle=True, random_state=7)
    for fold, (_, test) in enumerate(splitter.split(np.zeros(len(labels)), labels, groups)):
        expected[test] = fold
    np.testing.assert_array_equal(assign_folds(labels, groups, 3, seed=7), expected)


def test_reproducible_with_a_seed():
    labels, groups = cohort(seed=1, patients=60)
    first = assign_folds(labels, groups, n_folds=3, seed=3)
    np.testing.assert_array_equal(first, assign_folds(labels, groups, n_folds=3, seed=3))
    others = [assign_folds(labels, groups, n_folds=3, seed=s) for s in range(4, 8)]
    assert any((first != other).any() for other in others)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    patients=st.integers(12, 60),
    classes=st.integers(2, 4),
    n_folds=st.integers(2, 3),
)
def test_grouping_holds_for_any_cohort(seed, patients, classes, n_folds):
    labels, groups = cohort(seed, patients, classes)
    folds = assign_folds(labels, groups, n_folds=n_folds, seed=seed)
    fold_of = {}
    for group, fold in zip(groups, folds, strict=True):
        assert fold_of.setdefault(group, fold) == fold
    assert set(folds) == set(range(n_folds))


def test_integer_labels_and_groups():
    labels = [0, 1] * 10
    groups = list(range(20))
    folds = assign_folds(labels, groups, n_folds=2, seed=0)
    assert sorted(Counter(folds).values()) == [10, 10]


def test_too_few_patients_in_a_class_names_it():
    labels, groups = cohort(patients=12)
    labels = [*labels, "F3", "F3"]
    groups = [*groups, "patient-900", "patient-900"]
    with pytest.raises(BadInputError, match=r"class 'F3' has 1 patient\(s\), fewer than the 3"):
        assign_folds(labels, groups, n_folds=3)


@pytest.mark.parametrize(
    ("labels", "groups", "n_folds", "message"),
    [
        (["a", "b"] * 3, list("abcdef"), 1, "at least 2"),
        (["a", "b"] * 2, ["p", "q", "p", "q"], 3, r"2 patient\(s\) cannot fill 3 folds"),
        (["a"] * 4, ["p"] * 3, 2, "4 labels but 3 group ids"),
    ],
)
def test_bad_arguments_are_bad_input(labels, groups, n_folds, message):
    with pytest.raises(BadInputError, match=message):
        assign_folds(labels, groups, n_folds=n_folds)


def test_fold_summary_counts_every_class_in_every_fold():
    labels, groups = cohort(seed=2)
    folds = assign_folds(labels, groups, n_folds=3, seed=0)
    summary = fold_summary(labels, folds)
    assert list(summary) == [0, 1, 2]
    assert all(list(counts) == ["F0", "F1", "F2"] for counts in summary.values())
    expected = Counter(zip(folds.tolist(), labels, strict=True))
    assert all(summary[f][c] == expected[f, c] for f in summary for c in summary[f])
    assert sum(sum(c.values()) for c in summary.values()) == len(labels)
    assert json.loads(json.dumps(summary))["0"]["F0"] == summary[0]["F0"]
    assert fold_summary(["a", "b"], [1, 1]) == {1: {"a": 1, "b": 1}}
