"""ROC AUC and ROC curves against scikit-learn, hand-computed cases and edge cases."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from metric_strategies import FUZZ, binary_problems, multiclass_problems, normalised
from sklearn import metrics as sk
from sklearn.exceptions import UndefinedMetricWarning

from medtk.metrics.inputs import UndefinedMetricError
from medtk.metrics.roc import roc_auc, roc_auc_ovr, roc_curve, roc_curves_ovr


def test_hand_computed_auc_counts_ties_as_half():
    # positives 0.8, 0.4; negatives 0.4, 0.1: pairs (0.8>0.4), (0.8>0.1), (0.4=0.4), (0.4>0.1)
    assert roc_auc([1, 0, 1, 0], [0.8, 0.4, 0.4, 0.1]) == pytest.approx(3.5 / 4)


def test_perfect_reversed_and_constant_scores():
    assert roc_auc([0, 0, 1, 1], [1, 2, 3, 4]) == 1.0
    assert roc_auc([0, 0, 1, 1], [4, 3, 2, 1]) == 0.0
    assert roc_auc([0, 1, 0, 1, 1], [7, 7, 7, 7, 7]) == 0.5


def test_pos_label_chooses_the_positive_class():
    y, s = [2, 5, 5, 2], [0.1, 0.9, 0.2, 0.3]
    assert roc_auc(y, s, pos_label=5) == pytest.approx(sk.roc_auc_score(y, s))
    assert roc_auc(y, s, pos_label=2) == pytest.approx(1 - sk.roc_auc_score(y, s))


@FUZZ
@given(binary_problems())
def test_binary_auc_equals_sklearn(problem):
    y, s = problem
    assert roc_auc(y, s) == pytest.approx(sk.roc_auc_score(y, s), abs=1e-12)


@FUZZ
@given(binary_problems())
def test_roc_curve_equals_sklearn(problem):
    y, s = problem
    for drop in (True, False):
        fpr, tpr, thresholds = roc_curve(y, s, drop_intermediate=drop)
        ref_fpr, ref_tpr, ref_thresholds = sk.roc_curve(y, s, drop_intermediate=drop)
        np.testing.assert_allclose(fpr, ref_fpr)
        np.testing.assert_allclose(tpr, ref_tpr)
        np.testing.assert_array_equal(thresholds, ref_thresholds)
        assert np.trapezoid(tpr, fpr) == pytest.approx(roc_auc(y, s))


@FUZZ
@given(multiclass_problems())
def test_ovr_macro_and_weighted_equal_sklearn(problem):
    y, raw = problem
    p = normalised(raw)
    for average in ("macro", "weighted"):
        expected = sk.roc_auc_score(y, p, multi_class="ovr", average=average)
        assert roc_auc_ovr(y, p, average=average) == pytest.approx(expected, abs=1e-12)


@FUZZ
@given(multiclass_problems(all_present=False))
def test_ovr_per_class_equals_binary_sklearn_and_nan_for_absent(problem):
    y, s = problem  # raw integer scores: ties, rows need not sum to one
    per_class = roc_auc_ovr(y, s, average=None)
    for c in range(s.shape[1]):
        target = y == c
        if target.all() or not target.any():
            assert np.isnan(per_class[c])
        else:
            assert per_class[c] == pytest.approx(sk.roc_auc_score(target, s[:, c]), abs=1e-12)


def test_ovr_with_a_class_absent_refuses_to_average_and_names_it():
    y = [0, 1, 0, 1]
    s = np.array([[0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.5, 0.4, 0.1], [0.1, 0.8, 0.1]])
    with pytest.raises(UndefinedMetricError, match=r"class\(es\) 2"):
        roc_auc_ovr(y, s)
    assert np.isnan(roc_auc_ovr(y, s, average=None)[2])


def test_ovr_labels_name_the_columns():
    y = [10, 20, 30, 10, 20, 30]
    s = np.eye(3)[[0, 1, 2, 0, 2, 2]]
    assert roc_auc_ovr(y, s, labels=[10, 20, 30]) == pytest.approx(
        roc_auc_ovr([0, 1, 2, 0, 1, 2], s)
    )


def test_single_class_is_undefined_where_sklearn_warns():
    with pytest.warns(UndefinedMetricWarning):
        assert np.isnan(sk.roc_auc_score([1, 1, 1], [0.2, 0.5, 0.9]))
    with pytest.raises(UndefinedMetricError, match="only one class"):
        roc_auc([1, 1, 1], [0.2, 0.5, 0.9])
    with pytest.raises(UndefinedMetricError, match="only one class"):
        roc_curve([0, 0], [0.2, 0.5])


def test_ovr_curves_are_the_binary_curves_of_each_column():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, 60)
    s = rng.random((60, 3))
    curves = roc_curves_ovr(y, s)
    assert len(curves) == 3
    for c, curve in enumerate(curves):
        ref = sk.roc_curve(y == c, s[:, c])
        for mine, theirs in zip(curve, ref, strict=True):
            np.testing.assert_allclose(mine, theirs)
    with pytest.raises(UndefinedMetricError, match=r"class\(es\) 2"):
        roc_curves_ovr(y[y < 2], s[y < 2])


def test_large_sample_with_heavy_ties_is_exact():
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, 200_000)
    s = np.round(rng.normal(size=y.size) + y, 1)
    assert roc_auc(y, s) == pytest.approx(sk.roc_auc_score(y, s), abs=1e-12)
