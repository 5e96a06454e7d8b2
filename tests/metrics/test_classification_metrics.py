"""Accuracy, precision, recall, specificity and F1 against scikit-learn and by hand."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from metric_strategies import FUZZ, label_pairs
from sklearn import metrics as sk

from medtk.metrics.classification import (
    accuracy,
    f1,
    precision,
    recall,
    sensitivity,
    specificity,
)
from medtk.metrics.inputs import MetricInputError

SKLEARN = {"precision": sk.precision_score, "recall": sk.recall_score, "f1": sk.f1_score}
MEDTK = {"precision": precision, "recall": recall, "f1": f1}


def test_hand_computed_binary_scores():
    y_true = [1, 1, 1, 0, 0, 0, 0, 1]
    y_pred = [1, 1, 0, 0, 0, 1, 0, 1]  # TP 3, FN 1, FP 1, TN 3
    assert accuracy(y_true, y_pred) == 6 / 8
    assert precision(y_true, y_pred) == 3 / 4
    assert recall(y_true, y_pred) == sensitivity(y_true, y_pred) == 3 / 4
    assert specificity(y_true, y_pred) == 3 / 4
    assert f1(y_true, y_pred) == 6 / 8


def test_hand_computed_multiclass_scores():
    y_true = [0, 0, 1, 1, 2, 2]
    y_pred = [0, 1, 1, 1, 2, 0]
    # class 0: TP 1 FP 1 FN 1; class 1: TP 2 FP 1 FN 0; class 2: TP 1 FP 0 FN 1
    np.testing.assert_allclose(precision(y_true, y_pred, average=None), [1 / 2, 2 / 3, 1])
    np.testing.assert_allclose(recall(y_true, y_pred, average=None), [1 / 2, 1, 1 / 2])
    np.testing.assert_allclose(f1(y_true, y_pred, average=None), [1 / 2, 4 / 5, 2 / 3])
    np.testing.assert_allclose(specificity(y_true, y_pred, average=None), [3 / 4, 3 / 4, 1])
    assert f1(y_true, y_pred, average="macro") == pytest.approx((1 / 2 + 4 / 5 + 2 / 3) / 3)
    assert f1(y_true, y_pred, average="micro") == pytest.approx(accuracy(y_true, y_pred))


@FUZZ
@given(label_pairs(max_classes=2), st.sampled_from([0.0, 1.0]))
def test_binary_average_equals_sklearn(pair, zero_division):
    y_true, y_pred = pair
    for name, ours in MEDTK.items():
        expected = SKLEARN[name](y_true, y_pred, zero_division=zero_division)
        assert ours(y_true, y_pred, zero_division=zero_division) == pytest.approx(expected)
    assert accuracy(y_true, y_pred) == pytest.approx(sk.accuracy_score(y_true, y_pred))
    # specificity is the recall of the negative class
    expected = sk.recall_score(y_true, y_pred, pos_label=0, zero_division=zero_division)
    assert specificity(y_true, y_pred, zero_division=zero_division) == pytest.approx(expected)


@FUZZ
@given(
    label_pairs(max_classes=4),
    st.sampled_from(["micro", "macro", "weighted", None]),
    st.sampled_from([0.0, 1.0]),
)
def test_multiclass_averages_equal_sklearn(pair, average, zero_division):
    y_true, y_pred = pair
    for name, ours in MEDTK.items():
        expected = SKLEARN[name](y_true, y_pred, average=average, zero_division=zero_division)
        np.testing.assert_allclose(
            ours(y_true, y_pred, average=average, zero_division=zero_division), expected
        )


@FUZZ
@given(label_pairs(max_classes=4), st.sampled_from([0.0, 1.0]))
def test_multiclass_specificity_equals_sklearn_one_vs_rest_counts(pair, zero_division):
    y_true, y_pred = pair
    labels = np.arange(4)
    matrices = sk.multilabel_confusion_matrix(y_true, y_pred, labels=labels)
    tn, fp = matrices[:, 0, 0], matrices[:, 0, 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = np.where(tn + fp > 0, tn / np.maximum(tn + fp, 1), zero_division)
    ours = specificity(y_true, y_pred, average=None, labels=labels, zero_division=zero_division)
    np.testing.assert_allclose(ours, expected)
    assert specificity(
        y_true, y_pred, average="macro", labels=labels, zero_division=zero_division
    ) == pytest.approx(expected.mean())
    assert specificity(y_true, y_pred, average="micro", labels=labels) == pytest.approx(
        tn.sum() / (tn + fp).sum()
    )


def test_labels_choose_and_order_the_classes():
    y_true = [0, 1, 2, 2]
    y_pred = [0, 2, 2, 1]
    np.testing.assert_allclose(
        recall(y_true, y_pred, average=None, labels=[2, 0, 1, 3]), [1 / 2, 1, 0, 0]
    )


def test_a_class_never_predicted_uses_zero_division():
    assert precision([0, 1, 1], [0, 0, 0]) == 0.0
    assert precision([0, 1, 1], [0, 0, 0], zero_division=1.0) == 1.0
    assert np.isnan(precision([0, 1, 1], [0, 0, 0], zero_division=np.nan))


def test_binary_refuses_three_classes_and_a_missing_pos_label():
    with pytest.raises(MetricInputError, match="average='binary' needs at most two classes"):
        f1([0, 1, 2], [0, 1, 1])
    with pytest.raises(MetricInputError, match="pos_label=1 is not one of the classes"):
        f1([0, 2, 2], [0, 2, 0])
    assert f1([0, 2, 2], [0, 2, 0], pos_label=2) == pytest.approx(2 / 3)
    with pytest.raises(MetricInputError, match="average must be"):
        f1([0, 1], [0, 1], average="samples")  # type: ignore[arg-type]


@FUZZ
@given(label_pairs(max_classes=4), st.sampled_from(["micro", "macro", None]))
def test_labels_leaving_out_a_class_equal_sklearn(pair, average):
    y_true, y_pred = pair
    labels = [1, 2, 3]  # leave out class 0, say "normal"
    for name, ours in MEDTK.items():
        expected = SKLEARN[name](y_true, y_pred, labels=labels, average=average, zero_division=0.0)
        np.testing.assert_allclose(ours(y_true, y_pred, labels=labels, average=average), expected)


def test_non_integer_labels_are_an_error():
    with pytest.raises(MetricInputError, match=r"y_pred must hold integer .* found 0\.5"):
        f1([0, 1, 1], [0, 0.5, 1])
