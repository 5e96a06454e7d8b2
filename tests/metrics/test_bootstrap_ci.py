"""Percentile bootstrap intervals: reproducible, correct, calibrated, and honest about skips."""

from __future__ import annotations

import json
import math
from functools import partial

import numpy as np
import pytest

from medtk.metrics.bootstrap import (
    BootstrapResult,
    bootstrap_auc,
    bootstrap_ci,
    resample_indices,
)
from medtk.metrics.classification import f1
from medtk.metrics.inputs import MetricInputError, UndefinedMetricError
from medtk.metrics.roc import roc_auc, roc_auc_ovr


def separable(n: int, shift: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Half negatives ~ N(0, 1), half positives ~ N(shift, 1): true AUC Φ(shift / √2)."""
    y = np.repeat([0, 1], [n // 2, n - n // 2])
    return y, rng.normal(size=n) + shift * y


def true_auc(shift: float) -> float:
    return 0.5 * (1 + math.erf(shift / 2))  # Φ(shift/√2) = ½(1 + erf(shift/2))


def test_same_seed_same_interval_other_seed_other_interval(rng):
    y, s = separable(300, 1.0, rng)
    first = bootstrap_auc(y, s, seed=11)
    again = bootstrap_auc(y, s, seed=11)
    other = bootstrap_auc(y, s, seed=12)
    assert first == again
    np.testing.assert_array_equal(first.distribution, again.distribution)
    assert (first.low, first.high) != (other.low, other.high)
    from_generator = bootstrap_auc(y, s, seed=np.random.default_rng(11))
    assert from_generator == first


def test_vectorised_auc_equals_the_generic_loop(rng):
    y, s = separable(150, 0.8, rng)
    fast = bootstrap_auc(y, s, n_iterations=300, seed=5)
    slow = bootstrap_ci(roc_auc, y, s, n_iterations=300, seed=5)
    assert fast == slow
    np.testing.assert_allclose(fast.distribution, slow.distribution, atol=1e-12)


@pytest.mark.parametrize("average", ["macro", "weighted"])
def test_vectorised_ovr_equals_the_generic_loop(rng, average):
    y = rng.integers(0, 3, 90)
    s = rng.random((90, 3)) + np.eye(3)[y] * 0.3
    fast = bootstrap_auc(y, s, average=average, n_iterations=200, seed=1)
    slow = bootstrap_ci(partial(roc_auc_ovr, average=average), y, s, n_iterations=200, seed=1)
    assert fast.estimate == pytest.approx(slow.estimate)
    np.testing.assert_allclose(fast.distribution, slow.distribution, atol=1e-12)
    assert fast.n_skipped == slow.n_skipped


def test_per_class_results_match_binary_bootstraps(rng):
    y = rng.integers(0, 3, 80)
    s = rng.random((80, 3))
    per_class = bootstrap_auc(y, s, average=None, n_iterations=200, seed=2)
    assert len(per_class) == 3
    for c, result in enumerate(per_class):
        assert result == bootstrap_auc(y == c, s[:, c], n_iterations=200, seed=2)


def test_interval_is_the_percentiles_of_the_distribution(rng):
    y, s = separable(200, 1.0, rng)
    result = bootstrap_auc(y, s, confidence=0.9, n_iterations=400, seed=3)
    low, high = np.percentile(result.distribution, [5, 95])
    assert (result.low, result.high) == (pytest.approx(low), pytest.approx(high))
    assert result.std == pytest.approx(np.std(result.distribution, ddof=1))
    assert result.estimate == roc_auc(y, s)
    assert result.low <= result.estimate <= result.high
    assert len(result.distribution) == 400 - result.n_skipped


def test_indices_are_one_draw_of_b_by_n_in_blocks(monkeypatch):
    import medtk.metrics.bootstrap as bootstrap

    monkeypatch.setattr(bootstrap, "BLOCK_ELEMENTS", 70)  # blocks of 7 rows of 10
    blocks = list(resample_indices(10, 25, seed=4))
    assert [len(b) for b in blocks] == [7, 7, 7, 4]
    expected = np.random.default_rng(4).integers(0, 10, size=(25, 10))
    np.testing.assert_array_equal(np.concatenate(blocks), expected)


def test_95_percent_intervals_cover_the_true_auc(rng):
    shift = 1.0
    truth = true_auc(shift)
    covered = []
    for trial in range(60):
        y, s = separable(120, shift, rng)
        result = bootstrap_auc(y, s, n_iterations=400, seed=trial)
        covered.append(result.low <= truth <= result.high)
    assert 0.85 <= np.mean(covered) <= 1.0


def test_more_samples_give_narrower_intervals(rng):
    widths = []
    for n in (60, 600, 6000):
        y, s = separable(n, 1.0, rng)
        result = bootstrap_auc(y, s, seed=0)
        widths.append(result.high - result.low)
    assert widths[0] > widths[1] > widths[2]
    assert widths[0] / widths[2] == pytest.approx(10, rel=0.4)  # width ∝ 1/√n


def test_resamples_lacking_a_class_are_skipped_and_counted():
    y = np.array([0] * 9 + [1])  # one positive: about (9/10)^10 ≈ 35% of resamples miss it
    s = np.linspace(0, 1, 10)
    result = bootstrap_auc(y, s, n_iterations=1000, seed=8)
    draws = np.random.default_rng(8).integers(0, 10, size=(1000, 10))
    has_positive = (draws == 9).any(axis=1)
    has_negative = (draws != 9).any(axis=1)
    expected = int(np.sum(~(has_positive & has_negative)))
    assert 250 < expected < 450
    assert result.n_skipped == expected
    assert len(result.distribution) == 1000 - expected
    assert bootstrap_ci(roc_auc, y, s, n_iterations=1000, seed=8).n_skipped == expected


def test_macro_skips_resamples_missing_any_class():
    y = np.array([0] * 10 + [1] * 10 + [2])  # class 2 has one sample
    s = np.random.default_rng(0).random((21, 3))
    macro = bootstrap_auc(y, s, n_iterations=500, seed=6)
    draws = np.random.default_rng(6).integers(0, 21, size=(500, 21))
    missing = ~np.stack([np.isin(draws, np.flatnonzero(y == c)).any(1) for c in range(3)])
    assert macro.n_skipped == int(missing.any(axis=0).sum())
    per_class = bootstrap_auc(y, s, average=None, n_iterations=500, seed=6)
    assert per_class[2].n_skipped == int(missing[2].sum())
    assert per_class[0].n_skipped < per_class[2].n_skipped


def test_per_class_result_of_an_absent_class_is_nan(rng):
    y = rng.integers(0, 2, 40)  # class 2 never occurs
    s = rng.random((40, 3))
    absent = bootstrap_auc(y, s, average=None, n_iterations=50)[2]
    assert np.isnan([absent.estimate, absent.low, absent.high, absent.std]).all()
    assert absent.n_skipped == absent.n_iterations == 50
    with pytest.raises(UndefinedMetricError, match=r"class\(es\) 2"):
        bootstrap_auc(y, s, n_iterations=50)


def test_undefined_everywhere_raises():
    with pytest.raises(UndefinedMetricError, match="only one class"):
        bootstrap_auc([1, 1, 1], [0.1, 0.2, 0.3])
    with pytest.raises(UndefinedMetricError, match="undefined on all 50"):
        bootstrap_ci(_undefined_on_resamples, np.arange(10), n_iterations=50)


def _undefined_on_resamples(values: np.ndarray) -> float:
    if values.tolist() != list(range(10)):  # defined on the full sample only
        raise UndefinedMetricError("undefined")
    return 1.0


def test_generic_metric_resamples_rows_together(rng):
    y = rng.integers(0, 2, 200)
    p = np.where(rng.random(200) < 0.8, y, 1 - y)
    result = bootstrap_ci(f1, y, p, n_iterations=200, seed=9)
    assert result.estimate == f1(y, p)
    assert result.low < result.estimate < result.high
    draws = np.random.default_rng(9).integers(0, 200, size=(200, 200))
    np.testing.assert_allclose(result.distribution, [f1(y[d], p[d]) for d in draws])


def test_as_dict_is_json_ready(rng):
    y, s = separable(50, 1.0, rng)
    record = bootstrap_auc(y, s, n_iterations=100).as_dict()
    assert json.loads(json.dumps(record)) == record
    assert set(record) == {
        "estimate",
        "low",
        "high",
        "std",
        "confidence",
        "n_iterations",
        "n_skipped",
    }


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_iterations": 0}, "at least 1"),
        ({"n_iterations": 2.5}, "an integer"),
        ({"confidence": 1.0}, "between 0 and 1"),
        ({"average": "micro"}, "average must be"),
    ],
)
def test_bad_settings_are_one_line_errors(kwargs, match):
    s = np.array([[0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    with pytest.raises(MetricInputError, match=match) as info:
        bootstrap_auc([1, 0, 1], s, **kwargs)
    assert "\n" not in str(info.value)


def test_generic_needs_equal_lengths_and_scalar_metrics():
    with pytest.raises(ValueError, match="array 0 has 3 samples but array 1 has 2"):
        bootstrap_ci(roc_auc, [0, 1, 1], [0.1, 0.2])
    with pytest.raises(ValueError, match="must return one number"):
        bootstrap_ci(lambda y: np.asarray(y, float), [0, 1, 1])


def test_result_is_frozen():
    result = BootstrapResult(0.5, 0.4, 0.6, 0.05, 0.95, 10, 0, np.zeros(10))
    with pytest.raises(AttributeError):
        result.low = 0.0  # type: ignore[misc]
