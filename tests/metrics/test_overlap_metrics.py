"""Dice and Jaccard of masks and label maps against scikit-learn and by hand."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from metric_strategies import FUZZ
from sklearn import metrics as sk

from medtk.metrics.inputs import MetricInputError
from medtk.metrics.overlap import dice, dice_per_class, jaccard, jaccard_per_class

shapes = hnp.array_shapes(min_dims=2, max_dims=3, min_side=1, max_side=6)


@st.composite
def mask_pairs(draw: st.DrawFn, max_label: int = 1):
    shape = draw(shapes)
    elements = st.integers(0, max_label)
    first = draw(hnp.arrays(np.int64, shape, elements=elements))
    second = draw(hnp.arrays(np.int64, shape, elements=elements))
    return first, second


def test_hand_computed_binary_overlap():
    y_true = np.array([[1, 1, 0], [0, 1, 0]])
    y_pred = np.array([[1, 0, 0], [1, 1, 0]])  # |T| 3, |P| 3, |T∩P| 2, |T∪P| 4
    assert dice(y_true, y_pred) == pytest.approx(4 / 6)
    assert jaccard(y_true, y_pred) == pytest.approx(2 / 4)
    assert dice(y_true, y_true) == jaccard(y_true, y_true) == 1.0
    assert dice(y_true, 1 - y_true) == 0.0


def test_both_empty_is_one_by_default_or_the_chosen_value():
    empty = np.zeros((4, 4, 4), dtype=bool)
    assert dice(empty, empty) == jaccard(empty, empty) == 1.0
    assert np.isnan(dice(empty, empty, empty=np.nan))
    assert jaccard(empty, empty, empty=0.0) == 0.0
    full = empty.copy()
    full[0, 0, 0] = True
    assert dice(empty, full) == jaccard(full, empty) == 0.0  # one empty: no overlap


@FUZZ
@given(mask_pairs())
def test_binary_equals_sklearn(pair):
    y_true, y_pred = pair
    t, p = y_true.ravel(), y_pred.ravel()
    assert dice(y_true, y_pred) == pytest.approx(sk.f1_score(t, p, zero_division=1.0))
    assert jaccard(y_true, y_pred) == pytest.approx(sk.jaccard_score(t, p, zero_division=1.0))
    d = dice(y_true, y_pred)
    assert jaccard(y_true, y_pred) == pytest.approx(d / (2 - d))
    assert dice(y_true.astype(bool), y_pred.astype(bool)) == d


@FUZZ
@given(mask_pairs(max_label=3))
def test_per_class_equals_sklearn(pair):
    y_true, y_pred = pair
    t, p = y_true.ravel(), y_pred.ravel()
    labels = [0, 1, 2, 3]  # classes absent from both maps score `empty`
    np.testing.assert_allclose(
        dice_per_class(y_true, y_pred, labels=labels),
        sk.f1_score(t, p, labels=labels, average=None, zero_division=1.0),
    )
    np.testing.assert_allclose(
        jaccard_per_class(y_true, y_pred, labels=labels),
        sk.jaccard_score(t, p, labels=labels, average=None, zero_division=1.0),
    )
    for c in np.union1d(t, p):
        expected = dice(y_true == c, y_pred == c)
        assert dice_per_class(y_true, y_pred)[np.union1d(t, p).tolist().index(c)] == expected


def test_per_class_of_a_3d_label_map_with_an_absent_class():
    y_true = np.zeros((3, 4, 4), dtype=np.uint8)
    y_pred = np.zeros_like(y_true)
    y_true[1, :2, :2] = 1  # 4 voxels
    y_pred[1, :2, :1] = 1  # 2 voxels, inside
    per_class = dice_per_class(y_true, y_pred, labels=[0, 1, 2], empty=np.nan)
    assert per_class[1] == pytest.approx(2 * 2 / (4 + 2))
    assert np.isnan(per_class[2])
    assert jaccard_per_class(y_true, y_pred, labels=[1])[0] == pytest.approx(2 / 4)


def test_labels_leave_out_the_background_and_sparse_ids_work():
    y_true = np.array([0, 0, 1, 1, 2, 2])
    y_pred = np.array([0, 1, 1, 1, 2, 0])
    np.testing.assert_allclose(dice_per_class(y_true, y_pred, labels=[2, 1]), [2 / 3, 4 / 5])
    ids = np.array([0, 10**12, 10**12, -5])  # instance ids far apart: numbered first
    np.testing.assert_allclose(dice_per_class(ids, ids[::-1]), [0, 0, 1])  # -5, 0, 10**12
    assert dice_per_class(ids, ids[::-1], labels=[10**12, 7]).tolist() == [1.0, 1.0]


def test_bad_masks_are_one_line_errors():
    with pytest.raises(MetricInputError, match=r"binary mask .* use dice_per_class"):
        dice([0, 1, 2], [0, 1, 1])
    with pytest.raises(MetricInputError, match=r"shape \(2, 2\) but y_pred has shape \(4,\)"):
        jaccard(np.zeros((2, 2)), np.zeros(4))
    with pytest.raises(MetricInputError, match="integer class labels"):
        jaccard_per_class([0.5, 1], [0, 1])
