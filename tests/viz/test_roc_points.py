"""The numbers behind the ROC plot: curve points, interpolation and bootstrap bands."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.stats import rankdata
from sklearn.metrics import roc_auc_score, roc_curve

from medtk.viz import PlotInputError, RocCurve, roc_curve_with_band
from medtk.viz.roc import fpr_grid, interpolate, roc_points


@st.composite
def binary_scores(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    """Labels with both classes, and scores with plenty of ties (few distinct values)."""
    n = draw(st.integers(2, 60))
    labels = draw(hnp.arrays(np.int64, n, elements=st.integers(0, 1)))
    labels[0], labels[-1] = 0, 1
    scores = draw(hnp.arrays(np.float64, n, elements=st.integers(0, 9).map(float)))
    return labels, scores


@settings(max_examples=60, deadline=None)
@given(binary_scores())
def test_points_and_area_equal_scikit_learn(data):
    labels, scores = data
    fpr, tpr = roc_points(labels, scores)
    ref_fpr, ref_tpr, _ = roc_curve(labels, scores, drop_intermediate=False)
    np.testing.assert_allclose(fpr, ref_fpr)
    np.testing.assert_allclose(tpr, ref_tpr)
    assert RocCurve(fpr, tpr).area == pytest.approx(roc_auc_score(labels, scores))


def test_interpolation_is_linear_and_takes_the_top_of_vertical_steps():
    fpr = np.array([0.0, 0.0, 0.5, 0.5, 1.0])
    tpr = np.array([0.0, 0.4, 0.6, 0.9, 1.0])
    grid = np.array([0.0, 0.0, 0.25, 0.5, 0.75, 1.0])
    expected = [0.0, 0.4, 0.5, 0.9, 0.95, 1.0]  # foot, top of the rise at 0, linear, top …
    np.testing.assert_allclose(interpolate(grid, fpr, tpr), expected)
    rows = interpolate(grid, np.stack([fpr, fpr]), np.stack([tpr, tpr[::-1] * 0 + 1]))
    np.testing.assert_allclose(rows[0], expected)
    np.testing.assert_allclose(rows[1], [0, 1, 1, 1, 1, 1])


def test_band_is_seeded_and_surrounds_the_curve(rng):
    labels = rng.integers(0, 2, 300)
    scores = labels + rng.normal(0, 1.2, 300)
    one = roc_curve_with_band(labels, scores, bootstrap=400, seed=7)
    again = roc_curve_with_band(labels, scores, bootstrap=400, seed=7)
    other = roc_curve_with_band(labels, scores, bootstrap=400, seed=8)
    assert one.band is not None
    assert other.band is not None
    grid, low, high = one.band
    np.testing.assert_array_equal(low, again.band[1])
    assert not np.array_equal(low, other.band[1])
    curve = interpolate(grid, one.fpr, one.tpr)
    inside = (low <= curve + 1e-9) & (curve <= high + 1e-9)
    assert inside.mean() > 0.9
    assert np.all(low <= high)
    assert one.auc_ci is not None
    assert one.auc_ci[0] < one.area < one.auc_ci[1]


def test_band_narrows_with_more_samples(rng):
    def width(n: int) -> float:
        labels = rng.integers(0, 2, n)
        scores = labels + rng.normal(0, 1.0, n)
        low, high = roc_curve_with_band(labels, scores, bootstrap=300).auc_ci
        return high - low

    assert width(2000) < 0.6 * width(200)


def test_resampling_by_counts_matches_resampling_indices(rng):
    """Multinomial counts are the index bootstrap; their AUC spread must agree."""
    labels = rng.integers(0, 2, 150)
    scores = labels * 0.8 + rng.normal(0, 1.0, 150)
    ours = roc_curve_with_band(labels, scores, bootstrap=2000, seed=1).auc_ci
    aucs = []
    for _ in range(2000):
        pick = rng.integers(0, 150, 150)
        positives = int(labels[pick].sum())
        if 0 < positives < 150:  # AUC as the Mann–Whitney U statistic, from ranks
            ranks = rankdata(scores[pick])[labels[pick] == 1]
            negatives = 150 - positives
            aucs.append((ranks.sum() - positives * (positives + 1) / 2) / (positives * negatives))
    reference = np.quantile(aucs, [0.025, 0.975])
    np.testing.assert_allclose(ours, reference, atol=0.015)


def test_grid_starts_at_the_foot_of_the_curve():
    grid = fpr_grid(11)
    assert grid[0] == grid[1] == 0.0
    assert grid[-1] == 1.0
    with pytest.raises(PlotInputError, match="at least 2 points"):
        fpr_grid(1)


def test_a_single_class_has_no_curve():
    with pytest.raises(PlotInputError, match="no positives"):
        roc_points([0, 0, 0], [0.1, 0.2, 0.3])
