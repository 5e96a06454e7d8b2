"""Turning metric inputs into checked NumPy arrays, and the errors metrics raise.

Every metric accepts array-likes: NumPy arrays, lists, and PyTorch tensors (converted
with ``.detach().cpu().numpy()``, so a CUDA tensor or one that requires grad works too;
torch itself is never imported here). Bad inputs raise :class:`MetricInputError`, a
``ValueError`` with a one-line message that names the argument and the problem.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from medtk.errors import BadInputError

__all__ = [
    "MetricInputError",
    "UndefinedMetricError",
    "as_array",
    "check_labels",
    "class_labels",
    "label_index",
    "same_length",
    "same_shape",
    "scores",
]


class MetricInputError(BadInputError, ValueError):
    """Inputs a metric cannot score: mismatched lengths or shapes, invalid labels, NaN."""


class UndefinedMetricError(MetricInputError):
    """The metric has no value for these inputs, e.g. ROC AUC when only one class is present.

    Bootstrap resampling catches exactly this error to skip (and count) a resample.
    """


def as_array(values: Any, name: str) -> np.ndarray:
    """``values`` as a NumPy array; tensors through ``.detach().cpu().numpy()``.

    :param values: an array-like or a tensor (anything with ``detach`` and ``cpu``).
    :param name: the argument's name, for error messages.
    """
    if hasattr(values, "detach") and hasattr(values, "cpu"):
        tensor = values.detach().cpu()
        try:
            return np.asarray(tensor.numpy())
        except TypeError:  # bfloat16 and other dtypes NumPy lacks
            return np.asarray(tensor.float().numpy())
    array = np.asarray(values)
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise MetricInputError(f"{name} must be numeric, got dtype {array.dtype}")
    return array


def class_labels(values: Any, name: str, *, ndim: int | None = 1) -> np.ndarray:
    """Integer class labels as ``int64``; booleans and integral floats are accepted.

    :param values: the labels.
    :param name: the argument's name, for error messages.
    :param ndim: the number of dimensions required (``None``: any).
    """
    array = as_array(values, name)
    if ndim is not None and array.ndim != ndim:
        raise MetricInputError(f"{name} must be {ndim}-D class labels, got shape {array.shape}")
    if array.size == 0:
        raise MetricInputError(f"{name} is empty")
    if np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_:
        return array.astype(np.int64, copy=False)
    if np.issubdtype(array.dtype, np.complexfloating):
        raise MetricInputError(f"{name} must hold integer class labels, got dtype {array.dtype}")
    bad = ~np.isfinite(array) | (array != np.round(array))
    if bad.any():
        raise MetricInputError(
            f"{name} must hold integer class labels; found {array[bad].flat[0].item()!r}"
        )
    return array.astype(np.int64)


def scores(values: Any, name: str, *, ndim: int) -> np.ndarray:
    """Real-valued scores as ``float64`` with ``ndim`` dimensions and no NaN.

    :param values: the scores (probabilities, logits or any ranking score).
    :param name: the argument's name, for error messages.
    :param ndim: the number of dimensions required.
    """
    array = as_array(values, name)
    if array.ndim != ndim:
        raise MetricInputError(f"{name} must be {ndim}-D, got shape {array.shape}")
    if np.issubdtype(array.dtype, np.complexfloating):
        raise MetricInputError(f"{name} must be real, got dtype {array.dtype}")
    array = array.astype(np.float64, copy=False)
    if np.isnan(array).any():
        raise MetricInputError(f"{name} holds NaN at {int(np.isnan(array).ravel().argmax())}")
    return array


def same_length(first: np.ndarray, second: np.ndarray, names: tuple[str, str]) -> None:
    """Raise unless both arrays hold the same number of samples (length of axis 0)."""
    if len(first) != len(second):
        raise MetricInputError(
            f"{names[0]} has {len(first)} samples but {names[1]} has {len(second)}"
        )


def same_shape(first: np.ndarray, second: np.ndarray, names: tuple[str, str]) -> None:
    """Raise unless both arrays have the same shape."""
    if first.shape != second.shape:
        raise MetricInputError(
            f"{names[0]} has shape {first.shape} but {names[1]} has shape {second.shape}"
        )


def label_index(values: np.ndarray, labels: npt.ArrayLike | Sequence[int], name: str) -> np.ndarray:
    """The position of each value in ``labels``; a value not in ``labels`` is an error.

    :param values: integer class labels.
    :param labels: the distinct labels, in the order results are reported.
    :param name: the argument ``values`` came from, for error messages.
    """
    known = np.asarray(labels)
    order = np.argsort(known, kind="stable")
    ordered = known[order]
    where = np.clip(np.searchsorted(ordered, values), 0, len(known) - 1)
    unknown = ordered[where] != values
    if unknown.any():
        shown = ", ".join(str(v) for v in np.unique(values[unknown])[:5])
        listed = ", ".join(str(v) for v in known[:10]) + (" …" if len(known) > 10 else "")
        raise MetricInputError(f"{name} holds label(s) {shown} not among labels ({listed})")
    return order[where]


def check_labels(labels: npt.ArrayLike | Sequence[int], name: str = "labels") -> np.ndarray:
    """``labels`` as a 1-D ``int64`` array of distinct values (at least one)."""
    array = class_labels(labels, name)
    if len(np.unique(array)) != len(array):
        raise MetricInputError(f"{name} must be distinct, got {array.tolist()}")
    return array
