"""ROC AUC as the Mann–Whitney U statistic, for one sample or many resamples at once.

The area under the ROC curve equals the probability that a random positive scores above
a random negative, ties counting one half:

    AUC = U / (n₊ · n₋),   U = Σ_{i positive} Σ_{j negative} ( [s_i > s_j] + ½·[s_i = s_j] )

Sorting the distinct scores once turns U into sums over tie groups: with ``pos[g]`` and
``neg[g]`` the positives and negatives scoring the g-th smallest distinct score,

    U = Σ_g pos[g] · ( Σ_{h<g} neg[h] + ½·neg[g] ).

A bootstrap resample only changes how many times each sample counts, so ``pos`` and
``neg`` of every resample come from one ``bincount`` over the resample indices, and the
AUC of a thousand resamples is a few array operations with no per-resample sort.

References: Mann, H. B. and Whitney, D. R. (1947). On a test of whether one of two random
variables is stochastically larger than the other. *Ann. Math. Statist.* 18(1), 50–60.
Hanley, J. A. and McNeil, B. J. (1982). The meaning and use of the area under a receiver
operating characteristic (ROC) curve. *Radiology* 143(1), 29–36.
"""

from __future__ import annotations

import numpy as np

__all__ = ["auc_from_counts", "group_counts", "tie_groups"]


def tie_groups(scores: np.ndarray) -> tuple[np.ndarray, int]:
    """The rank of each sample's score among the distinct scores, and how many there are.

    :param scores: 1-D scores.
    :returns: ``(group, n_groups)``; ``group[i]`` is in ``0..n_groups-1``, ascending score.
    """
    distinct, group = np.unique(scores, return_inverse=True)
    return group.reshape(-1), len(distinct)


def group_counts(
    group: np.ndarray, positive: np.ndarray, n_groups: int, indices: np.ndarray | None = None
) -> np.ndarray:
    """Negatives and positives per tie group, for the whole sample or for each resample.

    :param group: tie group of each sample (from :func:`tie_groups`).
    :param positive: boolean, whether each sample is positive.
    :param n_groups: the number of tie groups.
    :param indices: resample indices, shape (B, n); ``None``: the sample itself (B = 1).
    :returns: counts, shape (B, n_groups, 2): ``[..., 0]`` negatives, ``[..., 1]`` positives.
    """
    key = group * 2 + positive.astype(np.int64)
    if indices is None:
        return np.bincount(key, minlength=2 * n_groups).reshape(1, n_groups, 2)
    rows = len(indices)
    offsets = np.arange(rows, dtype=np.int64)[:, None] * (2 * n_groups)
    flat = (key[indices] + offsets).ravel()
    return np.bincount(flat, minlength=rows * 2 * n_groups).reshape(rows, n_groups, 2)


def auc_from_counts(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AUC of each resample from its tie-group counts.

    :param counts: shape (B, G, 2) as :func:`group_counts` returns.
    :returns: ``(auc, defined)``, both shape (B,); ``auc`` is NaN where ``defined`` is
        False (a resample without positives or without negatives).
    """
    negatives = counts[..., 0].astype(np.float64)
    positives = counts[..., 1].astype(np.float64)
    below = np.cumsum(negatives, axis=1) - negatives
    u = np.einsum("bg,bg->b", positives, below + 0.5 * negatives)
    n_pos = positives.sum(axis=1)
    n_neg = negatives.sum(axis=1)
    defined = (n_pos > 0) & (n_neg > 0)
    auc = np.full(len(counts), np.nan)
    np.divide(u, n_pos * n_neg, out=auc, where=defined)
    return auc, defined
