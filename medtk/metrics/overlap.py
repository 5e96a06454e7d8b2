"""Overlap of segmentations: Dice and Jaccard, for binary masks and per class of label maps.

For a predicted region P and a reference region T (sets of pixels or voxels):

    Dice(T, P)    = 2·|T ∩ P| / (|T| + |P|)
    Jaccard(T, P) = |T ∩ P| / |T ∪ P|        (intersection over union)

and Jaccard = Dice / (2 − Dice). Both are 1 for identical regions and 0 for disjoint
ones. When both regions are empty the ratio is 0/0: medtk returns ``empty``, **1.0 by
default** (an empty prediction of an absent structure is perfect; MONAI's ``DiceMetric``
does the same with ``ignore_empty=False``). Pass ``empty=float("nan")`` to leave such
cases out of later averages (``np.nanmean``); MONAI's default (``ignore_empty=True``)
gives NaN whenever the reference is empty, even if the prediction is not.

Masks and label maps may have any shape (2D, 3D, batches); every element counts once.

References: Dice, L. R. (1945). Measures of the amount of ecologic association between
species. *Ecology* 26(3), 297–302. Jaccard, P. (1912). The distribution of the flora in
the alpine zone. *New Phytologist* 11(2), 37–50.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from medtk.metrics.inputs import (
    MetricInputError,
    as_array,
    check_labels,
    class_labels,
    same_shape,
)

__all__ = ["dice", "dice_per_class", "jaccard", "jaccard_per_class", "overlap_counts"]

Labels = npt.ArrayLike | Sequence[int] | None


def _mask(values: Any, name: str) -> np.ndarray:
    array = as_array(values, name)
    if array.dtype == np.bool_:
        return array
    if not np.isin(array, (0, 1)).all():
        found = np.unique(array)
        shown = ", ".join(str(v) for v in found[:5]) + (" …" if len(found) > 5 else "")
        raise MetricInputError(
            f"{name} must be a binary mask (0/1 or bool), found values {shown}; "
            "use dice_per_class or jaccard_per_class for label maps"
        )
    return array.astype(bool)


def _binary_counts(y_true: Any, y_pred: Any) -> tuple[int, int, int]:
    truth = _mask(y_true, "y_true")
    pred = _mask(y_pred, "y_pred")
    same_shape(truth, pred, ("y_true", "y_pred"))
    return (
        int(np.count_nonzero(truth & pred)),
        int(np.count_nonzero(truth)),
        int(np.count_nonzero(pred)),
    )


#: Label spans up to this size are counted with one ``bincount`` (no sort of the maps).
_DIRECT_SPAN = 2**24


def overlap_counts(
    y_true: Any, y_pred: Any, *, labels: Labels = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per class of two label maps: |T ∩ P|, |T| and |P|, in one pass over the elements.

    :param y_true: reference label map, integer labels.
    :param y_pred: predicted label map, same shape.
    :param labels: the classes, in output order; default: every label in either map,
        sorted. Labels in the maps but not in ``labels`` are simply not reported (pass
        ``labels=[1, 2]`` to leave out a background 0).
    :returns: ``(labels, intersection, true_size, pred_size)``, each shape (K,).
    """
    truth = class_labels(y_true, "y_true", ndim=None)
    pred = class_labels(y_pred, "y_pred", ndim=None)
    same_shape(truth, pred, ("y_true", "y_pred"))
    truth, pred = truth.reshape(-1), pred.reshape(-1)
    chosen = None if labels is None else check_labels(labels)
    low = min(int(truth.min()), int(pred.min()))
    high = max(int(truth.max()), int(pred.max()))
    if high - low < _DIRECT_SPAN:  # small label values: count them directly
        present = np.arange(low, high + 1)
        t, p = truth - low, pred - low
    else:  # sparse, huge label values (instance ids): number them first
        present, inverse = np.unique(np.concatenate([truth, pred]), return_inverse=True)
        t, p = inverse[: len(truth)], inverse[len(truth) :]
    span = len(present)
    size_true = np.bincount(t, minlength=span)
    size_pred = np.bincount(p, minlength=span)
    both = np.bincount(t[truth == pred], minlength=span)
    if chosen is None:
        occurs = (size_true + size_pred) > 0
        return present[occurs], both[occurs], size_true[occurs], size_pred[occurs]
    where = np.clip(np.searchsorted(present, chosen), 0, span - 1)
    found = present[where] == chosen
    pick = np.where(found, where, 0)

    def take(counts: np.ndarray) -> np.ndarray:
        return np.where(found, counts[pick], 0)

    return chosen, take(both), take(size_true), take(size_pred)


def _ratio(numerator: np.ndarray, denominator: np.ndarray, empty: float) -> np.ndarray:
    out = np.full(numerator.shape, float(empty))
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def dice(y_true: Any, y_pred: Any, *, empty: float = 1.0) -> float:
    """Dice coefficient of two binary masks: 2·|T ∩ P| / (|T| + |P|).

    :param y_true: reference mask (0/1 or bool), any shape.
    :param y_pred: predicted mask, same shape.
    :param empty: the value when both masks are empty (default 1.0).
    """
    both, size_true, size_pred = _binary_counts(y_true, y_pred)
    return float(_ratio(np.array(2.0 * both), np.array(size_true + size_pred), empty))


def jaccard(y_true: Any, y_pred: Any, *, empty: float = 1.0) -> float:
    """Jaccard index (IoU) of two binary masks: |T ∩ P| / |T ∪ P|.

    :param y_true: reference mask (0/1 or bool), any shape.
    :param y_pred: predicted mask, same shape.
    :param empty: the value when both masks are empty (default 1.0).
    """
    both, size_true, size_pred = _binary_counts(y_true, y_pred)
    return float(_ratio(np.array(float(both)), np.array(size_true + size_pred - both), empty))


def dice_per_class(
    y_true: Any, y_pred: Any, *, labels: Labels = None, empty: float = 1.0
) -> np.ndarray:
    """Dice per class of two label maps: class c's mask is ``map == c``.

    :param y_true: reference label map, integer labels, any shape.
    :param y_pred: predicted label map, same shape.
    :param labels: the classes, in output order; default: every label in either map.
        Other labels are not reported (``labels=[1, 2]`` leaves out a background 0).
    :param empty: the value for a class absent from both maps (default 1.0).
    :returns: shape (K,), Dice per class in the order of ``labels``.
    """
    _, both, size_true, size_pred = overlap_counts(y_true, y_pred, labels=labels)
    return _ratio(2.0 * both, size_true + size_pred, empty)


def jaccard_per_class(
    y_true: Any, y_pred: Any, *, labels: Labels = None, empty: float = 1.0
) -> np.ndarray:
    """Jaccard index (IoU) per class of two label maps: class c's mask is ``map == c``.

    :param y_true: reference label map, integer labels, any shape.
    :param y_pred: predicted label map, same shape.
    :param labels: the classes, in output order; default: every label in either map.
        Other labels are not reported (``labels=[1, 2]`` leaves out a background 0).
    :param empty: the value for a class absent from both maps (default 1.0).
    :returns: shape (K,), Jaccard per class in the order of ``labels``.
    """
    _, both, size_true, size_pred = overlap_counts(y_true, y_pred, labels=labels)
    return _ratio(both.astype(np.float64), size_true + size_pred - both, empty)
