"""Per-class F1 threshold sweeps: the known best threshold, brute force vs scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from metric_strategies import FUZZ, binary_problems, multiclass_problems
from sklearn import metrics as sk

from medtk.metrics.inputs import MetricInputError
from medtk.metrics.thresholds import apply_thresholds, f1_at_thresholds, f1_threshold_sweep


def test_constructed_case_finds_the_known_best_threshold():
    y = [0, 0, 0, 1, 0, 1, 1, 1]
    s = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
    sweep = f1_threshold_sweep(y, s)
    # t=0.6 separates cleanly above but misses 0.4; t=0.4 catches all four at one FP
    expected = [8 / 12, 8 / 11, 8 / 10, 8 / 9, 6 / 8, 6 / 7, 4 / 6, 2 / 5]
    np.testing.assert_allclose(sweep.thresholds[0], s)
    np.testing.assert_allclose(sweep.f1[0], expected)
    assert sweep.best_threshold.tolist() == [0.4]
    assert sweep.best_f1[0] == pytest.approx(8 / 9)


def test_tied_maxima_keep_the_highest_threshold():
    # scores descending with labels 1, 0, 0, 1: F1 is 2/3 at 0.9 and again at 0.1
    sweep = f1_threshold_sweep([1, 0, 0, 1], [0.9, 0.6, 0.3, 0.1])
    np.testing.assert_allclose(sweep.f1[0], [2 / 3, 2 / 5, 1 / 2, 2 / 3])
    assert sweep.best_threshold.tolist() == [0.9]


def brute_force(y_c: np.ndarray, s_c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    thresholds = np.unique(s_c)
    f1 = [sk.f1_score(y_c, s_c >= t, zero_division=0.0) for t in thresholds]
    return thresholds, np.array(f1)


@settings(FUZZ, max_examples=25)  # the brute force calls sklearn once per threshold
@given(binary_problems())
def test_binary_sweep_equals_brute_force_sklearn(problem):
    y, s = problem
    sweep = f1_threshold_sweep(y, s)
    thresholds, f1 = brute_force(y == 1, s)
    np.testing.assert_array_equal(sweep.thresholds[0], thresholds)
    np.testing.assert_allclose(sweep.f1[0], f1)
    assert sweep.best_f1[0] == pytest.approx(f1.max())
    assert sweep.best_threshold[0] == thresholds[np.flatnonzero(np.isclose(f1, f1.max()))[-1]]


@settings(FUZZ, max_examples=25)  # the brute force calls sklearn once per threshold
@given(multiclass_problems(all_present=False))
def test_multiclass_sweep_is_one_vs_rest_per_class(problem):
    y, s = problem
    sweep = f1_threshold_sweep(y, s)
    assert sweep.labels.tolist() == list(range(s.shape[1]))
    for c in range(s.shape[1]):
        thresholds, f1 = brute_force(y == c, s[:, c])
        np.testing.assert_array_equal(sweep.thresholds[c], thresholds)
        np.testing.assert_allclose(sweep.f1[c], f1)
        assert sweep.best_f1[c] == pytest.approx(f1.max())
        if not (y == c).any():
            assert sweep.best_f1[c] == 0
            assert sweep.best_threshold[c] == s[:, c].max()


def test_multilabel_indicator_targets():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, (50, 3))
    s = rng.random((50, 3)) + 0.5 * y
    sweep = f1_threshold_sweep(y, s)
    for c in range(3):
        _, f1 = brute_force(y[:, c] == 1, s[:, c])
        np.testing.assert_allclose(sweep.f1[c], f1)
    with pytest.raises(MetricInputError, match="0/1 indicator"):
        f1_threshold_sweep(y * 2, s)


def test_thresholds_chosen_on_validation_apply_to_test():
    rng = np.random.default_rng(2)
    y_val, y_test = rng.integers(0, 3, 300), rng.integers(0, 3, 300)
    s_val = rng.random((300, 3)) + 0.6 * np.eye(3)[y_val]
    s_test = rng.random((300, 3)) + 0.6 * np.eye(3)[y_test]
    chosen = f1_threshold_sweep(y_val, s_val).best_threshold
    called = apply_thresholds(s_test, chosen)
    assert called.shape == s_test.shape
    assert called.dtype == bool
    np.testing.assert_array_equal(called, s_test >= chosen)
    test_f1 = f1_at_thresholds(y_test, s_test, chosen)
    for c in range(3):
        assert test_f1[c] == pytest.approx(sk.f1_score(y_test == c, called[:, c]))
    # on the data they were chosen on, the thresholds reach the sweep's best F1
    np.testing.assert_allclose(
        f1_at_thresholds(y_val, s_val, chosen), f1_threshold_sweep(y_val, s_val).best_f1
    )


def test_apply_binary_and_scalar_thresholds():
    np.testing.assert_array_equal(apply_thresholds([0.2, 0.5, 0.7], 0.5), [False, True, True])
    np.testing.assert_array_equal(
        apply_thresholds([[0.2, 0.9], [0.6, 0.1]], 0.5), [[False, True], [True, False]]
    )
    assert f1_at_thresholds([0, 1, 1], [0.2, 0.5, 0.7], 0.5).tolist() == [1.0]


def test_threshold_count_must_match_columns():
    with pytest.raises(MetricInputError, match="thresholds has 2 values but y_score has 3"):
        apply_thresholds(np.zeros((4, 3)), [0.5, 0.5])
    with pytest.raises(MetricInputError, match="y_true has 3 samples but y_score has 2"):
        f1_threshold_sweep([0, 1, 1], [0.1, 0.2])
