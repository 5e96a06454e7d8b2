"""ROC curves per fold, with bootstrap confidence bands, their mean and the chance line.

The curve points are computed here with numpy (ties give one point per distinct score,
as scikit-learn's ``roc_curve(..., drop_intermediate=False)``), so the plots need no
metrics module. The band of a fold is a pointwise percentile interval of bootstrap
curves: the fold's samples are drawn with replacement ``bootstrap`` times (seeded), each
resample's curve is read on a common false-positive-rate grid, and at each grid point the
``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` quantiles of the true-positive rate
bound the band. The AUC interval in the legend is the percentile interval of the
resamples' AUCs. Resamples holding a single class have no curve and are skipped.

Multi-class scores are read one-vs-rest: for class ``c`` the positives are the samples
labelled ``c`` and the score is column ``c``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from medtk.viz.checks import PlotInputError, as_vector, check_output, same_length
from medtk.viz.style import (
    BAND_ALPHA,
    DPI,
    FONT,
    GREY,
    INK,
    colour,
    finish_axes,
    legend,
    new_figure,
    save_png,
)

__all__ = ["RocCurve", "roc_curve_with_band", "roc_curves", "roc_points"]

PLOT = "roc curves"
#: Points of the common false-positive-rate grid that means and bands are read on.
GRID_POINTS = 201
#: Bootstrap resamples drawn at once are limited to about this many weights in memory.
_CHUNK_WEIGHTS = 4_000_000


@dataclass(frozen=True)
class RocCurve:
    """One ROC curve, with optional AUC interval and confidence band.

    :param fpr: false-positive rates, non-decreasing, from 0 to 1.
    :param tpr: true-positive rates at those points.
    :param auc: area under the curve; computed from the points when ``None``.
    :param auc_ci: ``(low, high)`` interval of the AUC, if known.
    :param band: ``(fpr_grid, tpr_low, tpr_high)``, a pointwise band, if known.
    """

    fpr: np.ndarray
    tpr: np.ndarray
    auc: float | None = None
    auc_ci: tuple[float, float] | None = None
    band: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    @property
    def area(self) -> float:
        """The AUC: the given one, or the trapezoidal area under the points."""
        return float(self.auc) if self.auc is not None else _trapezoid(self.fpr, self.tpr)


def roc_points(y_true: npt.ArrayLike, y_score: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """False- and true-positive rates of a binary problem, one point per distinct score.

    :param y_true: 0/1 (or bool) labels, 1 for positive.
    :param y_score: scores, higher meaning more likely positive.
    :returns: ``(fpr, tpr)``, both starting at 0 and ending at 1.
    """
    labels, scores = _binary(y_true, y_score, "")
    ordered, last = _sorted(labels, scores)
    true_pos = np.cumsum(ordered)[last]
    false_pos = (last + 1) - true_pos
    fpr = np.r_[0.0, false_pos / false_pos[-1]]
    tpr = np.r_[0.0, true_pos / true_pos[-1]]
    return fpr, tpr


def roc_curve_with_band(
    y_true: npt.ArrayLike,
    y_score: npt.ArrayLike,
    *,
    bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int | Sequence[int] = 0,
    grid_points: int = GRID_POINTS,
) -> RocCurve:
    """The ROC curve of binary scores with its bootstrap band and AUC interval.

    :param bootstrap: resamples to draw; 0 gives the curve alone.
    :param confidence: coverage of the band and of the AUC interval.
    :param seed: seeds the resampling; the same seed gives the same band.
    :param grid_points: points of the false-positive-rate grid the band is read on.
    """
    _check_bootstrap(bootstrap, confidence)
    fpr, tpr = roc_points(y_true, y_score)
    curve = RocCurve(fpr=fpr, tpr=tpr)
    if bootstrap == 0:
        return curve
    labels, scores = _binary(y_true, y_score, "")
    grid = fpr_grid(grid_points)
    curves, aucs = _bootstrap(labels, scores, bootstrap, np.random.default_rng(seed), grid)
    if len(aucs) == 0:
        return curve
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(curves, [tail, 1.0 - tail], axis=0)
    auc_low, auc_high = np.quantile(aucs, [tail, 1.0 - tail])
    return RocCurve(
        fpr=fpr,
        tpr=tpr,
        auc_ci=(float(auc_low), float(auc_high)),
        band=(grid, low, high),
    )


def fpr_grid(points: int = GRID_POINTS) -> np.ndarray:
    """The common grid: 0 twice (the curve's foot and the top of its first rise), then up to 1."""
    if points < 2:
        raise PlotInputError(PLOT, f"the grid needs at least 2 points, got {points}")
    return np.r_[0.0, np.linspace(0.0, 1.0, points)]


def interpolate(grid: np.ndarray, fpr: np.ndarray, tpr: np.ndarray) -> np.ndarray:
    """TPR of curves on ``grid``; rows of ``fpr``/``tpr`` are curves (or one 1D curve).

    Between points the curve is linear; at an FPR the curve rises through (a vertical
    step), the top of the step is taken. ``grid[0]`` is read as the curve's foot, TPR 0.
    """
    single = fpr.ndim == 1
    fpr, tpr = np.atleast_2d(fpr), np.atleast_2d(tpr)
    rows, width = fpr.shape
    # one searchsorted for all rows: shift row i by 2i so the rows do not mix
    shift = 2.0 * np.arange(rows)[:, None]
    flat = (fpr + shift).ravel()
    where = np.searchsorted(flat, (grid[None, :] + shift).ravel(), side="right") - 1
    where = where.reshape(rows, grid.size) - (np.arange(rows) * width)[:, None]
    left = np.clip(where, 0, width - 1)
    right = np.clip(where + 1, 0, width - 1)
    take = np.take_along_axis
    x0, x1 = take(fpr, left, 1), take(fpr, right, 1)
    y0, y1 = take(tpr, left, 1), take(tpr, right, 1)
    span = x1 - x0
    part = np.divide(grid[None, :] - x0, span, out=np.zeros_like(span), where=span > 0)
    values = y0 + np.clip(part, 0.0, 1.0) * (y1 - y0)
    values[:, 0] = 0.0
    return values[0] if single else values


def roc_curves(
    path: str | Path,
    folds: Sequence[Any],
    *,
    classes: int | Sequence[int] | None = None,
    class_names: Sequence[str] | None = None,
    fold_names: Sequence[str] | None = None,
    band: Literal["folds", "mean", "none"] = "folds",
    bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    title: str | None = None,
    dpi: int = DPI,
    overwrite: bool = True,
) -> Path:
    """ROC curves of cross-validation folds in one PNG, one panel per class shown.

    Each fold is drawn in its own colour with its AUC (and bootstrap interval) in the
    legend; with more than one fold, their mean curve (the folds read on a common FPR grid
    and averaged) is drawn in black. The dashed diagonal is chance.

    :param path: the PNG to write (``.png``); returned.
    :param folds: one entry per fold, each either ``(y_true, y_score)`` — binary 0/1
        labels with 1D scores, or integer class labels with ``(n, classes)`` scores — or
        precomputed curves: a :class:`RocCurve` or a mapping with ``fpr``, ``tpr`` (and
        optionally ``auc``), or a list of those, one per class.
    :param classes: the class (or classes) to draw one-vs-rest, one panel each; default
        all of them, except for two-column scores, where class 1 is the positive class.
    :param class_names: a name per class (score column), for panel titles.
    :param fold_names: a name per fold for the legend (default ``fold 1``, ``fold 2`` …).
    :param band: ``"folds"`` shades each fold's bootstrap band; ``"mean"`` shades the band
        of the mean curve (every fold resampled, the resamples averaged; needs scores);
        ``"none"`` draws no band.
    :param bootstrap: resamples per fold and class (0: no band, no AUC interval); the
        time grows with samples × resamples, about a second for 10,000 samples and 1000
        resamples.
    :param confidence: coverage of bands and AUC intervals.
    :param seed: seeds the resampling; fold ``f`` and class ``c`` use the seed
        ``(seed, f, c)``, so a fold's band does not depend on the others.
    :param title: the figure title (default ``ROC``, or the class for one panel).
    :param dpi: resolution of the PNG.
    :param overwrite: replace an existing file (once the new one is complete).
    """
    check_output(PLOT, path, overwrite=overwrite)
    if band not in ("folds", "mean", "none"):
        raise PlotInputError(PLOT, f"band {band!r}: use 'folds', 'mean' or 'none'")
    _check_bootstrap(bootstrap, confidence)
    if isinstance(folds, Mapping | RocCurve) or len(folds) == 0:
        raise PlotInputError(PLOT, "folds must be a non-empty list, one entry per fold")
    names = [f"fold {i + 1}" for i in range(len(folds))] if fold_names is None else fold_names
    same_length(PLOT, folds=folds, fold_names=names)

    parsed = [_parse_fold(fold, i) for i, fold in enumerate(folds)]
    n_classes = {p.n_classes for p in parsed}
    if len(n_classes) > 1:
        raise PlotInputError(PLOT, f"folds disagree on the number of classes: {sorted(n_classes)}")
    count = n_classes.pop()
    shown = _chosen_classes(classes, count)
    labels = _class_labels(class_names, count)
    if band == "mean" and len(parsed) == 1:
        band = "folds"  # the mean of one fold is the fold
    if band == "mean" and bootstrap and any(p.curves is not None for p in parsed):
        raise PlotInputError(PLOT, "band='mean' resamples scores; precomputed curves have none")

    grid = fpr_grid()
    panels = []
    for c in shown:
        curves = [
            _fold_curve(p, c, bootstrap if band == "folds" else 0, confidence, (seed, f, c))
            for f, p in enumerate(parsed)
        ]
        mean_band = None
        if band == "mean" and bootstrap and len(parsed) > 0:
            mean_band = _mean_band(
                parsed, c, bootstrap=bootstrap, confidence=confidence, seed=seed, grid=grid
            )
        panels.append((c, curves, mean_band))

    size = 4.4
    columns = 2 if len(panels) == 4 else min(len(panels), 3)
    rows = -(-len(panels) // columns)
    figure = new_figure(size * columns, size * rows + (0.3 if len(panels) > 1 else 0.0))
    grid_axes = figure.subplots(rows, columns, squeeze=False)
    for axes in grid_axes.ravel()[len(panels) :]:
        axes.set_visible(False)
    for axes, (c, curves, mean_band) in zip(grid_axes.ravel(), panels, strict=False):
        if len(panels) == 1:
            name = title or _panel_title(labels[c], count)
        else:
            name = f"{labels[c] or f'class {c}'} vs rest"
        _draw_panel(axes, curves, names=names, grid=grid, mean_band=mean_band, title=name)
    if len(panels) > 1:
        figure.suptitle(title or "ROC, one-vs-rest", fontsize=FONT["title"] + 1)
    return save_png(figure, path, dpi=dpi, overwrite=overwrite)


@dataclass(frozen=True)
class _Fold:
    """A fold as read: scores (``labels``, ``scores`` 2D) or precomputed ``curves``."""

    n_classes: int
    labels: np.ndarray | None = None
    scores: np.ndarray | None = None
    curves: list[RocCurve] | None = None


def _parse_fold(fold: Any, index: int) -> _Fold:
    where = f"fold {index + 1}"
    if isinstance(fold, RocCurve | Mapping):
        return _Fold(n_classes=1, curves=[_as_curve(fold, where)])
    if not isinstance(fold, Sequence) or isinstance(fold, str):
        raise PlotInputError(PLOT, f"{where}: expected (y_true, y_score) or a curve")
    if fold and all(isinstance(item, RocCurve | Mapping) for item in fold):
        if len(fold) == 1:
            return _Fold(n_classes=1, curves=[_as_curve(fold[0], where)])
        return _Fold(
            n_classes=len(fold),
            curves=[_as_curve(item, f"{where}, class {c}") for c, item in enumerate(fold)],
        )
    if len(fold) != 2:
        raise PlotInputError(
            PLOT, f"{where}: expected a pair (y_true, y_score), got {len(fold)} items"
        )
    return _parse_scores(*fold, where)


def _parse_scores(y_true: Any, y_score: Any, where: str) -> _Fold:
    try:
        scores = np.asarray(y_score, dtype=np.float64)
        labels = np.asarray(y_true)
    except (TypeError, ValueError):
        raise PlotInputError(PLOT, f"{where}: y_true and y_score must be numbers") from None
    if labels.ndim != 1:
        raise PlotInputError(PLOT, f"{where}: y_true must be 1D, got shape {labels.shape}")
    if scores.ndim not in (1, 2):
        raise PlotInputError(
            PLOT, f"{where}: y_score must be 1D or (n, classes), got {scores.shape}"
        )
    if scores.shape[0] != labels.shape[0]:
        raise PlotInputError(
            PLOT,
            f"{where}: y_true has {labels.shape[0]} labels but y_score has {scores.shape[0]} rows",
        )
    if not np.all(np.isfinite(scores)):
        raise PlotInputError(PLOT, f"{where}: y_score holds NaN or infinite values")
    if labels.dtype.kind not in "biu" and not (
        labels.dtype.kind == "f"
        and np.all(np.isfinite(labels))
        and np.all(labels == np.round(labels))
    ):
        raise PlotInputError(PLOT, f"{where}: y_true must hold integer class labels")
    labels = labels.astype(np.int64)
    if scores.ndim == 1:
        if np.any((labels != 0) & (labels != 1)):
            raise PlotInputError(PLOT, f"{where}: binary y_true must be 0 or 1 with 1D scores")
        return _Fold(n_classes=1, labels=labels, scores=scores[:, None])
    count = scores.shape[1]
    if count < 2:
        raise PlotInputError(PLOT, f"{where}: y_score has {count} column; use 1D binary scores")
    if np.any((labels < 0) | (labels >= count)):
        raise PlotInputError(PLOT, f"{where}: y_true holds labels outside 0…{count - 1}")
    return _Fold(n_classes=count, labels=labels, scores=scores)


def _as_curve(item: RocCurve | Mapping[str, Any], where: str) -> RocCurve:
    if isinstance(item, RocCurve):
        fpr, tpr, auc = item.fpr, item.tpr, item.auc
    else:
        missing = {"fpr", "tpr"} - set(item)
        if missing:
            raise PlotInputError(PLOT, f"{where}: a precomputed curve needs {sorted(missing)}")
        fpr, tpr, auc = item["fpr"], item["tpr"], item.get("auc")
    fpr = as_vector(PLOT, f"{where}: fpr", fpr)
    tpr = as_vector(PLOT, f"{where}: tpr", tpr)
    same_length(PLOT, fpr=fpr, tpr=tpr)
    if np.any(np.diff(fpr) < 0) or fpr.min() < 0 or fpr.max() > 1 or tpr.min() < 0 or tpr.max() > 1:
        raise PlotInputError(PLOT, f"{where}: fpr must rise from 0 to 1 and rates lie in [0, 1]")
    if isinstance(item, RocCurve):
        return RocCurve(fpr=fpr, tpr=tpr, auc=auc, auc_ci=item.auc_ci, band=item.band)
    return RocCurve(fpr=fpr, tpr=tpr, auc=None if auc is None else float(auc))


def _panel_title(label: str | None, count: int) -> str:
    """``ROC``; ``ROC: positive`` for a named binary class; ``ROC: c vs rest`` otherwise."""
    if label is None:
        return "ROC"
    return f"ROC: {label}" if count <= 2 else f"ROC: {label} vs rest"


def _class_labels(names: Sequence[str] | None, count: int) -> list[str | None]:
    """A name per score column; binary folds take the positive class's name, if given."""
    if names is None:
        return [None] * count if count <= 2 else [f"class {c}" for c in range(count)]
    names = [str(name) for name in names]
    if count == 1 and len(names) in (1, 2):
        return [names[-1]]
    if len(names) != count:
        raise PlotInputError(PLOT, f"class_names has {len(names)} names for {count} classes")
    return list(names)


def _chosen_classes(classes: int | Sequence[int] | None, count: int) -> list[int]:
    if count == 1:
        if classes not in (None, 0, 1, [1], (1,)):
            raise PlotInputError(PLOT, f"classes {classes!r}: binary folds have one curve")
        return [0]
    if classes is None:
        return [1] if count == 2 else list(range(count))
    chosen = [classes] if isinstance(classes, int | np.integer) else list(classes)
    bad = [c for c in chosen if not 0 <= int(c) < count]
    if not chosen or bad:
        raise PlotInputError(PLOT, f"classes {chosen!r}: choose among 0…{count - 1}")
    return [int(c) for c in chosen]


def _fold_curve(
    fold: _Fold, c: int, bootstrap: int, confidence: float, seed: tuple[int, int, int]
) -> RocCurve:
    if fold.curves is not None:
        return fold.curves[c]
    labels, scores = _one_vs_rest(fold, c)
    return roc_curve_with_band(
        labels, scores, bootstrap=bootstrap, confidence=confidence, seed=list(seed)
    )


def _one_vs_rest(fold: _Fold, c: int) -> tuple[np.ndarray, np.ndarray]:
    assert fold.labels is not None
    assert fold.scores is not None
    if fold.scores.shape[1] == 1:
        return fold.labels, fold.scores[:, 0]
    return (fold.labels == c).astype(np.int64), fold.scores[:, c]


def _mean_band(
    folds: list[_Fold], c: int, *, bootstrap: int, confidence: float, seed: int, grid: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    resampled = []
    for f, fold in enumerate(folds):
        labels, scores = _one_vs_rest(fold, c)
        labels, scores = _binary(labels, scores, f"fold {f + 1}: ")
        rng = np.random.default_rng([seed, f, c])
        curves, _ = _bootstrap(labels, scores, bootstrap, rng, grid)
        resampled.append(curves)
    usable = min(len(curves) for curves in resampled)
    if usable == 0:
        return None
    means = np.mean([curves[:usable] for curves in resampled], axis=0)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail], axis=0)
    return low, high


def _draw_panel(
    axes: Any,
    curves: list[RocCurve],
    *,
    names: Sequence[str],
    grid: np.ndarray,
    mean_band: tuple[np.ndarray, np.ndarray] | None,
    title: str,
) -> None:
    axes.plot([0, 1], [0, 1], linestyle="--", color=GREY, linewidth=1.0, label="chance")
    several = len(curves) > 1
    for f, (curve, name) in enumerate(zip(curves, names, strict=True)):
        shade = colour(f)
        if curve.band is not None:
            band_fpr, low, high = curve.band
            axes.fill_between(band_fpr, low, high, color=shade, alpha=BAND_ALPHA, linewidth=0)
        text = f"{name}: AUC {curve.area:.3f}"
        if curve.auc_ci is not None:
            text += f" ({curve.auc_ci[0]:.3f}–{curve.auc_ci[1]:.3f})"
        axes.plot(
            curve.fpr,
            curve.tpr,
            color=shade,
            linewidth=1.2 if several else 1.8,
            label=text,
        )
    if several:
        mean = np.mean([interpolate(grid, c.fpr, c.tpr) for c in curves], axis=0)
        areas = np.array([c.area for c in curves])
        if mean_band is not None:
            axes.fill_between(grid, *mean_band, color=INK, alpha=BAND_ALPHA, linewidth=0)
        axes.plot(
            grid,
            mean,
            color=INK,
            linewidth=2.2,
            label=f"mean: AUC {areas.mean():.3f} ± {areas.std(ddof=1):.3f} (sd)",
        )
    axes.set_xlim(-0.01, 1.01)
    axes.set_ylim(-0.01, 1.01)
    axes.set_aspect("equal")
    finish_axes(axes, title=title, xlabel="false-positive rate", ylabel="true-positive rate")
    legend(axes, loc="lower right")


def _check_bootstrap(bootstrap: int, confidence: float) -> None:
    if int(bootstrap) != bootstrap or bootstrap < 0:
        raise PlotInputError(PLOT, f"bootstrap must be a whole number ≥ 0, got {bootstrap!r}")
    if not 0.0 < confidence < 1.0:
        raise PlotInputError(PLOT, f"confidence must lie between 0 and 1, got {confidence!r}")


def _binary(
    y_true: npt.ArrayLike, y_score: npt.ArrayLike, where: str
) -> tuple[np.ndarray, np.ndarray]:
    labels = as_vector(PLOT, f"{where}y_true", y_true)
    scores = as_vector(PLOT, f"{where}y_score", y_score)
    same_length(PLOT, y_true=labels, y_score=scores)
    if np.any((labels != 0) & (labels != 1)):
        raise PlotInputError(PLOT, f"{where}y_true must hold 0 and 1 only")
    positives = int(labels.sum())
    if positives in (0, labels.size):
        kind = "no positives" if positives == 0 else "no negatives"
        raise PlotInputError(PLOT, f"{where}y_true has {kind}, so the ROC curve is undefined")
    return labels, scores


def _sorted(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Labels by descending score, and the last index of each run of equal scores."""
    order = np.argsort(-scores, kind="stable")
    ranked = scores[order]
    last = np.r_[np.flatnonzero(np.diff(ranked)), ranked.size - 1]
    return labels[order], last


def _bootstrap(
    labels: np.ndarray, scores: np.ndarray, count: int, rng: np.random.Generator, grid: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """TPR on ``grid`` and AUC of ``count`` resamples (those with both classes).

    A resample is a vector of multinomial counts over the samples, which is what drawing
    indices with replacement gives; the curve of the weighted sample then comes from
    cumulative sums in the one ranking of the scores, for a chunk of resamples at once.
    """
    ordered, last = _sorted(labels, scores)
    n = ordered.size
    chunk = max(1, min(count, _CHUNK_WEIGHTS // n))
    curves, aucs = [], []
    for start in range(0, count, chunk):
        weights = rng.multinomial(n, np.full(n, 1.0 / n), size=min(chunk, count - start))
        true_pos = np.cumsum(weights * ordered, axis=1)[:, last]
        false_pos = np.cumsum(weights * (1 - ordered), axis=1)[:, last]
        keep = (true_pos[:, -1] > 0) & (false_pos[:, -1] > 0)
        true_pos, false_pos = true_pos[keep], false_pos[keep]
        zeros = np.zeros((true_pos.shape[0], 1))
        tpr = np.hstack([zeros, true_pos / true_pos[:, -1:]])
        fpr = np.hstack([zeros, false_pos / false_pos[:, -1:]])
        curves.append(interpolate(grid, fpr, tpr))
        aucs.append(np.sum(np.diff(fpr, axis=1) * (tpr[:, 1:] + tpr[:, :-1]) / 2.0, axis=1))
    return np.vstack(curves), np.concatenate(aucs)


def _trapezoid(fpr: np.ndarray, tpr: np.ndarray) -> float:
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0))
