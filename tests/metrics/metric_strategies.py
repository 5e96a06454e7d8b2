"""Hypothesis strategies and settings shared by the metric tests."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

#: Enough random cases to find edge cases, few enough to keep the suite fast.
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: Scores with many ties (a few distinct values) or spread over a wide range.
score_values = st.one_of(
    st.integers(0, 3).map(float),
    st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False),
)


@st.composite
def binary_problems(draw: st.DrawFn, min_size: int = 2, max_size: int = 40):
    """(y_true, y_score) with both classes present; scores often tied or all equal."""
    n = draw(st.integers(min_size, max_size))
    y = [*draw(st.lists(st.integers(0, 1), min_size=n - 2, max_size=n - 2)), 0, 1]
    if draw(st.booleans()):
        scores = [draw(score_values)] * n  # all equal
    else:
        scores = draw(st.lists(score_values, min_size=n, max_size=n))
    order = draw(st.permutations(range(n)))
    return np.array(y)[order], np.array(scores)[order]


@st.composite
def label_pairs(draw: st.DrawFn, max_classes: int = 4, max_size: int = 40):
    """(y_true, y_pred) class labels in 0..K-1 (K ≥ 2); some classes may be absent."""
    k = draw(st.integers(2, max_classes))
    n = draw(st.integers(1, max_size))
    y_true = draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n))
    y_pred = draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n))
    return np.array(y_true), np.array(y_pred)


@st.composite
def multiclass_problems(draw: st.DrawFn, all_present: bool = True, max_size: int = 40):
    """(y_true, y_score) with K = 3..5 classes and positive integer scores (many ties).

    With ``all_present`` every class occurs in y_true at least once.
    """
    k = draw(st.integers(3, 5))
    n = draw(st.integers(k if all_present else 2, max_size))
    head = list(range(k)) if all_present else []
    rest = draw(st.lists(st.integers(0, k - 1), min_size=n - len(head), max_size=n - len(head)))
    y = head + rest
    scores = draw(st.lists(st.integers(1, 6), min_size=n * k, max_size=n * k))
    order = draw(st.permutations(range(n)))
    return np.array(y)[order], np.array(scores, dtype=float).reshape(n, k)[order]


def normalised(scores: np.ndarray) -> np.ndarray:
    """Rows scaled to sum to one, as scikit-learn's multi-class AUC requires."""
    return scores / scores.sum(axis=1, keepdims=True)
