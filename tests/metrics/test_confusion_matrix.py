"""The N×N confusion matrix against scikit-learn and by hand."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from metric_strategies import FUZZ, label_pairs
from sklearn import metrics as sk

from medtk.metrics.confusion import confusion_matrix
from medtk.metrics.inputs import MetricInputError


def test_hand_computed_counts_and_row_normalised():
    y_true = [0, 0, 1, 1, 1, 2]
    y_pred = [0, 1, 1, 1, 2, 2]
    expected = np.array([[1, 1, 0], [0, 2, 1], [0, 0, 1]])
    counts = confusion_matrix(y_true, y_pred)
    np.testing.assert_array_equal(counts, expected)
    assert counts.dtype == np.int64
    rows = confusion_matrix(y_true, y_pred, normalize="true")
    np.testing.assert_allclose(rows, [[1 / 2, 1 / 2, 0], [0, 2 / 3, 1 / 3], [0, 0, 1]])
    np.testing.assert_allclose(rows.sum(axis=1), 1)


@FUZZ
@given(label_pairs(max_classes=5), st.sampled_from([None, "true", "pred", "all"]))
def test_equals_sklearn(pair, normalize):
    y_true, y_pred = pair
    labels = np.arange(5)  # classes absent from both give zero rows and columns
    ours = confusion_matrix(y_true, y_pred, labels=labels, normalize=normalize)
    expected = sk.confusion_matrix(y_true, y_pred, labels=labels, normalize=normalize)
    np.testing.assert_allclose(ours, expected)
    present = np.union1d(y_true, y_pred)
    if len(present) > 1:  # sklearn warns about a 1×1 matrix
        np.testing.assert_array_equal(
            confusion_matrix(y_true, y_pred), sk.confusion_matrix(y_true, y_pred)
        )
    else:
        np.testing.assert_array_equal(confusion_matrix(y_true, y_pred), [[len(y_true)]])


def test_labels_set_the_order():
    counts = confusion_matrix([3, 7, 7], [7, 7, 3], labels=[7, 3])
    np.testing.assert_array_equal(counts, [[1, 1], [1, 0]])


def test_unknown_labels_and_bad_normalize_are_errors():
    with pytest.raises(MetricInputError, match=r"y_true holds label\(s\) 4 not among labels"):
        confusion_matrix([0, 4], [0, 1], labels=[0, 1])
    with pytest.raises(MetricInputError, match="labels must be distinct"):
        confusion_matrix([0, 1], [0, 1], labels=[0, 1, 1])
    with pytest.raises(MetricInputError, match="normalize must be"):
        confusion_matrix([0, 1], [0, 1], normalize="rows")  # type: ignore[arg-type]
