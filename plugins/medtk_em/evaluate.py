"""``medtk evaluate em``: per-class F1 of a prediction store, block by block.

The volume is split along z as in training: thresholds are chosen on the last
``--val-fraction`` (the validation slab) and F1 is reported on the rest (the test part).
Every block of the prediction (one output chunk) is scored on its own: per class, the
probabilities of true-class and of other voxels are binned at the swept thresholds
(``score ≥ t``), so true and false positives at every threshold are cumulative sums of
the bins, added over blocks; the N×N confusion matrix of the argmax counts likewise. No
step holds more than one block, so a volume larger than memory is scored as well.

F1 at threshold ``t``: ``2·TP / (2·TP + FP + FN)``, as :mod:`medtk.metrics.thresholds`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from medtk.errors import BadInputError

if TYPE_CHECKING:
    from medtk.io.store import Store
    from medtk.tasks import TaskContext, TaskResult
    from medtk_em.config import EmEvaluateOptions

#: Regions of the split: index 0 the test part, 1 the validation slab.
TEST, VAL = 0, 1


def threshold_grid(count: int) -> np.ndarray:
    """``count`` thresholds evenly spaced in [0, 1], plus 0.5 when the grid lacks it."""
    return np.unique(np.concatenate([np.linspace(0.0, 1.0, count), [0.5]]))


@dataclass
class Counts:
    """What blocks add up to, per region (test, validation).

    :ivar positives: ``(2, C, T + 1)``: true-class voxels of each channel by how many
        thresholds their score reaches (bin ``b``: ``score ≥ t_k`` for ``k < b``).
    :ivar negatives: the same for the other voxels.
    :ivar confusion: ``(2, K, K)``: true class × predicted class (argmax) counts.
    """

    positives: np.ndarray
    negatives: np.ndarray
    confusion: np.ndarray

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            self.positives + other.positives,
            self.negatives + other.negatives,
            self.confusion + other.confusion,
        )

    def at_thresholds(self, region: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(TP, FP, FN)``, each ``(C, T)``: counts when ``score ≥ t_k`` calls a positive."""
        tp = np.cumsum(self.positives[region][:, ::-1], axis=1)[:, ::-1][:, 1:]
        fp = np.cumsum(self.negatives[region][:, ::-1], axis=1)[:, ::-1][:, 1:]
        fn = self.positives[region].sum(axis=1, keepdims=True) - tp
        return tp, fp, fn


def block_counts(
    scores: np.ndarray,
    truth: np.ndarray,
    *,
    thresholds: np.ndarray,
    values: Sequence[int],
    val_from: int,
) -> Counts:
    """Counts of one block.

    :param scores: ``(C, z, y, x)`` probabilities of the classes ``values``.
    :param truth: ``(z, y, x)`` true label values.
    :param val_from: the first z (in block coordinates) of the validation slab; planes
        before it are test voxels (≤ 0: all validation, ≥ z: all test).
    """
    channels = scores.shape[0]
    bins = len(thresholds) + 1
    single = channels == 1
    size = 2 if single else channels
    positives = np.zeros((2, channels, bins), dtype=np.int64)
    negatives = np.zeros_like(positives)
    confusion = np.zeros((2, size, size), dtype=np.int64)
    lookup = _lookup(values, int(truth.max(initial=0)))
    cut = int(np.clip(val_from, 0, truth.shape[0]))
    for region, planes in ((TEST, slice(0, cut)), (VAL, slice(cut, truth.shape[0]))):
        part = truth[planes]
        if not part.size:
            continue
        index = lookup[part.reshape(-1)]
        if (index < 0).any() and not single:
            bad = sorted(set(part.reshape(-1)[index < 0].tolist()))[:5]
            raise BadInputError(f"true labels hold values {bad} the prediction has no channel for")
        for channel in range(channels):
            score = scores[channel, planes].reshape(-1)
            reached = np.searchsorted(thresholds, score, side="right")
            is_class = index == channel
            positives[region, channel] += np.bincount(reached[is_class], minlength=bins)
            negatives[region, channel] += np.bincount(reached[~is_class], minlength=bins)
        if single:  # one class against the rest, called at 0.5 (as the label image)
            called = (scores[0, planes].reshape(-1) >= 0.5).astype(np.int64)
            true = (index == 0).astype(np.int64)
        else:
            called = np.argmax(scores[:, planes].reshape(channels, -1), axis=0)
            true = index
        confusion[region] += np.bincount(true * size + called, minlength=size * size).reshape(
            size, size
        )
    return Counts(positives, negatives, confusion)


def _lookup(values: Sequence[int], largest: int) -> np.ndarray:
    """Label value → channel (``-1`` for values with none)."""
    table = np.full(max(largest, *values) + 1, -1, dtype=np.int64)
    table[np.asarray(values)] = np.arange(len(values))
    return table


# --------------------------------------------------------------------------------------
# Stores


@dataclass
class Prediction:
    """A prediction store's probabilities and what their channels are."""

    path: Path
    store: Store
    values: list[int]
    names: list[str]
    mode: str

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.store.levels[0].shape[1:])


def open_prediction(path: Path) -> Prediction:
    """A store from ``medtk predict em`` with probabilities (channels first)."""
    from medtk.io.store import Store

    store = Store.open(Path(path))
    if store.axes[0] != "c" or np.dtype(store.levels[0].dtype).kind != "f":
        raise BadInputError(
            f"{str(path)!r} holds no probabilities (axes {''.join(store.axes)}, "
            f"{store.levels[0].dtype}); predict with --output probabilities or both"
        )
    channels = store.levels[0].shape[0]
    described = store.medtk.get("em", {}) or {}
    values = [int(v) for v in described.get("classes", range(channels))]
    if len(values) != channels:
        raise BadInputError(
            f"{str(path)!r}: {channels} probability channels but metadata names {len(values)}"
        )
    names = [str(n) for n in described.get("names", map(str, values))]
    mode = str(described.get("mode", Path(path).name.removesuffix(".zarr")))
    if described.get("mode") == "binary" and channels == 1:
        mode = f"binary {names[0]}"
    return Prediction(path=Path(path), store=store, values=values, names=names, mode=mode)


def truth_level(truth: Store, shape: tuple[int, ...]) -> int:
    """The level of the true labels whose shape is the prediction's."""
    for index, level in enumerate(truth.levels):
        if tuple(level.shape) == tuple(shape):
            return index
    shapes = ", ".join(str(tuple(level.shape)) for level in truth.levels)
    raise BadInputError(
        f"the prediction's shape {tuple(shape)} matches no level of the true labels ({shapes})"
    )


def accumulate(
    prediction: Prediction,
    truth: Store,
    *,
    thresholds: np.ndarray,
    val_fraction: float,
    workers: int = 0,
) -> tuple[Counts, tuple[int, int]]:
    """Counts over the whole volume, one block (an output chunk) per task on local threads.

    :returns: the counts and ``(first z of the validation slab, z size)``.
    """
    import dask

    from medtk.engine.sampling import holdout_slab
    from medtk.threads import default_workers

    level = truth_level(truth, prediction.shape)
    scores = prediction.store.dask(0)
    scores = scores.rechunk({0: -1})
    labels = truth.dask(level).rechunk(scores.chunks[1:])
    _, (val_box, *_) = holdout_slab(prediction.shape, val_fraction, axis=0)
    cut = val_box[0]
    starts = np.concatenate([[0], np.cumsum(scores.chunks[1])])
    tasks = [
        dask.delayed(block_counts)(
            scores.blocks[(0, *index)],
            labels.blocks[index],
            thresholds=thresholds,
            values=prediction.values,
            val_from=int(cut - starts[index[0]]),
        )
        for index in np.ndindex(*labels.numblocks)
    ]
    threads = default_workers(workers)
    total: Counts | None = None
    step = 4 * threads  # results are small; bounded batches keep the graph small too
    for first in range(0, len(tasks), step):
        done = dask.compute(*tasks[first : first + step], scheduler="threads", num_workers=threads)
        for counts in done:
            total = counts if total is None else total + counts
    assert total is not None
    return total, (int(cut), int(prediction.shape[0]))


# --------------------------------------------------------------------------------------
# Scores


def f1_curves(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    """F1 per class and threshold; 0 where nothing is present nor called."""
    denominator = 2 * tp + fp + fn
    out = np.zeros(tp.shape, dtype=np.float64)
    np.divide(2 * tp, denominator, out=out, where=denominator > 0)
    return out


def score(counts: Counts, prediction: Prediction, thresholds: np.ndarray) -> dict[str, Any]:
    """Per-class scores: thresholds chosen on the validation slab, F1 on the test part."""
    val_tp, val_fp, val_fn = counts.at_thresholds(VAL)
    test_tp, test_fp, test_fn = counts.at_thresholds(TEST)
    val_f1 = f1_curves(val_tp, val_fp, val_fn)
    test_f1 = f1_curves(test_tp, test_fp, test_fn)
    half = int(np.flatnonzero(thresholds == 0.5)[0])
    test_voxels = int(counts.positives[TEST, 0].sum() + counts.negatives[TEST, 0].sum())
    classes: dict[str, Any] = {}
    for channel, name in enumerate(prediction.names):
        present = counts.positives[VAL, channel].sum() > 0
        if present:  # the highest of tied maxima: the fewest positives called
            row = val_f1[channel]
            best = len(row) - 1 - int(np.argmax(row[::-1]))
        else:
            best = half
        tp, fp, fn = (int(a[channel, best]) for a in (test_tp, test_fp, test_fn))
        voxels = int(counts.positives[TEST, channel].sum())
        classes[name] = {
            "value": prediction.values[channel],
            "voxels": voxels,
            "percent": 100.0 * voxels / test_voxels if test_voxels else 0.0,
            "threshold": float(thresholds[best]),
            "threshold_from": "validation" if present else "default (absent from validation)",
            "val_f1": float(val_f1[channel, best]),
            "f1": float(test_f1[channel, best]),
            "f1_at_0.5": float(test_f1[channel, half]),
            "best_test_f1": float(test_f1[channel].max()),
            "precision": tp / (tp + fp) if tp + fp else 0.0,
            "recall": tp / (tp + fn) if tp + fn else 0.0,
            "tp": tp,
            "fp": fp,
            "fn": fn,
        }
    f1_values = [c["f1"] for c in classes.values() if c["voxels"] > 0]
    confusion = counts.confusion[TEST]
    labels = (
        [f"not {prediction.names[0]}", prediction.names[0]]
        if len(prediction.names) == 1
        else prediction.names
    )
    return {
        "mode": prediction.mode,
        "prediction": str(prediction.path),
        "classes": classes,
        "mean_f1": float(np.mean(f1_values)) if f1_values else 0.0,
        "confusion": {
            "labels": labels,
            "counts": confusion.tolist(),
            "normalised": _row_normalised(confusion).tolist(),
        },
        "curves": {
            "test_f1": test_f1,  # dropped before metrics.json
        },
    }


def _row_normalised(matrix: np.ndarray) -> np.ndarray:
    totals = matrix.sum(axis=1, keepdims=True)
    out = np.zeros(matrix.shape, dtype=np.float64)
    np.divide(matrix, totals, out=out, where=totals > 0)
    return out


# --------------------------------------------------------------------------------------
# The command


def evaluate_predictions(config: EmEvaluateOptions, ctx: TaskContext) -> TaskResult:
    """Score ``config.prediction`` (and ``--compare``) into the output folder."""
    from medtk.atomic import check_new_output, written_aside
    from medtk.io.store import Store
    from medtk.tasks import TaskResult

    prediction_path = Path(config.prediction)
    out = Path(
        config.out
        if config.out is not None
        else prediction_path.with_name(f"{prediction_path.name.removesuffix('.zarr')}.evaluation")
    )
    check_new_output(out, overwrite=config.overwrite, directory=True)
    predictions = [open_prediction(prediction_path)]
    if config.compare is not None:
        predictions.append(open_prediction(Path(config.compare)))
        first, other = predictions
        if other.shape != first.shape or other.values != first.values:
            raise BadInputError(
                f"{str(config.compare)!r} (shape {other.shape}, classes {other.values}) does not "
                f"match {str(prediction_path)!r} (shape {first.shape}, classes {first.values})"
            )
        if other.mode == first.mode:
            for item in predictions:
                item.mode = item.path.name.removesuffix(".zarr")
    truth = Store.open(Path(config.truth)).label(config.labels)
    for item in predictions:
        truth_level(truth, item.shape)
    thresholds = threshold_grid(config.thresholds)
    results = []
    split: tuple[int, int] = (0, 0)
    for item in predictions:
        ctx.log(f"scoring {item.path} against {config.truth} ({config.labels})")
        counts, split = accumulate(
            item,
            truth,
            thresholds=thresholds,
            val_fraction=config.val_fraction,
            workers=config.workers,
        )
        results.append(score(counts, item, thresholds))
    cut, depth = split
    curves = [r.pop("curves")["test_f1"] for r in results]
    summary: dict[str, Any] = {
        "truth": str(config.truth),
        "labels": config.labels,
        "split": {
            "axis": "z",
            "validation": [cut, depth],
            "test": [0, cut],
            "note": "thresholds chosen on the validation slab, scores on the test part",
        },
        "thresholds": len(thresholds),
        "modes": {r["mode"]: r for r in results},
        "table": _table_rows(results),
    }
    with written_aside(out, overwrite=config.overwrite, directory=True) as folder:
        (folder / "metrics.json").write_text(json.dumps(summary, indent=2) + "\n", "utf-8")
        _write_table(folder, summary["table"], [r["mode"] for r in results])
        _plots(folder, results, curves, thresholds)
    if not ctx.json:
        _print_table(summary["table"], [r["mode"] for r in results])
    return TaskResult(path=out, record=summary)


def _table_rows(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """class, % of voxels (test part), F1 per mode at its chosen threshold."""
    rows = []
    first = results[0]
    for name, entry in first["classes"].items():
        row: dict[str, Any] = {"class": name, "percent": round(entry["percent"], 3)}
        for result in results:
            row[f"f1 {result['mode']}"] = round(result["classes"][name]["f1"], 4)
        rows.append(row)
    mean: dict[str, Any] = {"class": "mean", "percent": 100.0}
    for result in results:
        mean[f"f1 {result['mode']}"] = round(result["mean_f1"], 4)
    return [*rows, mean]


def _write_table(folder: Path, rows: list[dict[str, Any]], modes: list[str]) -> None:
    import csv

    columns = ["class", "percent", *(f"f1 {m}" for m in modes)]
    with (folder / "table.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    header = ["class", "% of voxels", *(f"F1 {m}" for m in modes)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [row["class"], f"{row['percent']:.2f}", *(f"{row[f'f1 {m}']:.3f}" for m in modes)]
        lines.append("| " + " | ".join(cells) + " |")
    (folder / "table.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _plots(
    folder: Path, results: list[dict[str, Any]], curves: list[np.ndarray], thresholds: np.ndarray
) -> None:
    from medtk.viz import confusion_matrix, threshold_f1

    several = len(results) > 1
    lines: dict[str, dict[str, tuple[list[float], list[float]]]] = {}
    chosen: dict[str, dict[str, float]] = {}
    for result, f1 in zip(results, curves, strict=True):
        mode = result["mode"]
        lines[mode] = {
            name: (thresholds.tolist(), f1[channel].tolist())
            for channel, name in enumerate(result["classes"])
        }
        chosen[mode] = {name: entry["threshold"] for name, entry in result["classes"].items()}
    threshold_f1(
        folder / "f1_thresholds.png",
        lines if several else lines[results[0]["mode"]],
        chosen if several else chosen[results[0]["mode"]],
        title="F1 by threshold (test part; diamonds: thresholds chosen on validation)",
    )
    for index, result in enumerate(results):
        name = "confusion.png" if index == 0 else f"confusion_{index + 1}.png"
        confusion_matrix(
            folder / name,
            np.asarray(result["confusion"]["counts"]),
            result["confusion"]["labels"],
            title=f"Confusion matrix ({result['mode']}, test part)",
        )


def _print_table(rows: list[dict[str, Any]], modes: list[str]) -> None:
    from rich.table import Table

    from medtk.consoles import unwrapped_console

    table = Table(title="F1 per class (thresholds from validation)", title_justify="left")
    for column in ("class", "% of voxels", *(f"F1 {m}" for m in modes)):
        table.add_column(column, justify="left" if column == "class" else "right")
    for row in rows:
        table.add_row(
            row["class"], f"{row['percent']:.2f}", *(f"{row[f'f1 {m}']:.3f}" for m in modes)
        )
    unwrapped_console(stderr=True, highlight=False, markup=False).print(table)
