"""Bad inputs give one-line ValueErrors; tensors and array-likes are accepted."""

from __future__ import annotations

import numpy as np
import pytest

from medtk.errors import BadInputError
from medtk.metrics import (
    accuracy,
    apply_thresholds,
    bootstrap_auc,
    confusion_matrix,
    dice,
    f1,
    f1_threshold_sweep,
    mae,
    psnr,
    roc_auc,
    roc_auc_ovr,
    roc_curve,
    specificity,
)
from medtk.metrics.inputs import MetricInputError

S3 = np.array([[0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.1, 0.1, 0.8]])

CASES = [
    (roc_auc, ([0, 1, 1], [0.1, 0.2]), "y_true has 3 samples but y_score has 2"),
    (roc_curve, ([0, 1], [0.1, 0.2, 0.3]), "y_true has 2 samples but y_score has 3"),
    (accuracy, ([0, 1], [0, 1, 1]), "y_true has 2 samples but y_pred has 3"),
    (f1, ([0, 1, 1], [1, 1]), "y_true has 3 samples but y_pred has 2"),
    (confusion_matrix, ([0], [0, 1]), "y_true has 1 samples but y_pred has 2"),
    (roc_auc_ovr, ([0, 1], S3), "y_true has 2 samples but y_score has 3"),
    (bootstrap_auc, ([0, 1], [0.1, 0.2, 0.3]), "y_true has 2 samples but y_score has 3"),
    (f1_threshold_sweep, ([0, 1], S3), "y_true has 2 samples but y_score has 3"),
    (dice, (np.zeros((2, 3)), np.zeros((3, 2))), "y_true has shape"),
    (mae, (np.zeros(3), np.zeros(4)), "y_true has shape"),
    (psnr, (np.zeros(3, np.uint8), np.zeros(4, np.uint8)), "y_true has shape"),
    (roc_auc, ([0, 1, 2], [0.1, 0.2, 0.3]), "holds 3 classes .* use roc_auc_ovr"),
    (roc_auc, ([0, 2, 2], [0.1, 0.2, 0.3]), "pos_label=1 is not one of the classes"),
    (roc_auc, ([0, 0.5, 1], [0.1, 0.2, 0.3]), "integer class labels; found 0.5"),
    (roc_auc, ([0, 1, 1], [0.1, np.nan, 0.3]), "y_score holds NaN at 1"),
    (roc_auc, ([[0, 1]], [0.1, 0.2]), "y_true must be 1-D class labels"),
    (roc_auc, ([0, 1], [[0.1, 0.2]]), "y_score must be 1-D"),
    (roc_auc, ([], []), "y_true is empty"),
    (roc_auc, (["a", "b"], [0.1, 0.2]), "y_true must be numeric"),
    (roc_auc_ovr, ([0, 1, 3], S3), r"y_true holds label\(s\) 3 not among labels \(0, 1, 2\)"),
    (roc_auc_ovr, ([0, 1, 1], S3[:, :1]), "one column per class"),
    (specificity, ([0, 1, 2], [0, 1, 2]), "average='binary' needs at most two classes"),
    (apply_thresholds, (S3, [0.5, 0.5]), "thresholds has 2 values but y_score has 3"),
]


@pytest.mark.parametrize(
    ("metric", "args", "match"), CASES, ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(CASES)]
)
def test_bad_input_is_a_one_line_value_error(metric, args, match):
    with pytest.raises(ValueError, match=match) as info:
        metric(*args)
    assert isinstance(info.value, MetricInputError)
    assert isinstance(info.value, BadInputError)  # the CLI turns it into exit code 2
    assert "\n" not in str(info.value)


def test_lists_tuples_bools_and_float_labels_are_accepted():
    assert roc_auc((False, True, True), (0.1, 0.9, 0.3)) == 1.0
    assert roc_auc(np.array([0.0, 1.0, 1.0]), [0.1, 0.9, 0.3]) == 1.0
    assert accuracy(np.array([1, 2], np.uint8), [1, 3]) == 0.5


def test_torch_tensors_are_converted():
    torch = pytest.importorskip("torch")
    y = torch.tensor([0, 1, 1, 0])
    logits = torch.tensor([0.1, 0.9, 0.4, 0.5], requires_grad=True)
    assert roc_auc(y, logits) == roc_auc(y.numpy(), [0.1, 0.9, 0.4, 0.5])
    assert roc_auc(y, logits.to(torch.bfloat16)) == 0.75
    probs = torch.softmax(torch.randn(8, 3), dim=1)
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    assert roc_auc_ovr(labels, probs) == roc_auc_ovr(labels.numpy(), probs.numpy())
    masks = torch.ones(2, 4, 4, dtype=torch.bool)
    assert dice(masks, masks) == 1.0
