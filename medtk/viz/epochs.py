"""Training curves: metrics per epoch from a ``metrics.csv``-like table, best epoch marked.

Columns whose name holds ``loss`` share the left panel, every other metric (AUC,
accuracy, Dice …) the right one, so their scales do not squash each other. A metric's
splits share a colour and differ in line style: ``train_auc`` solid, ``val_auc`` dashed.
Split prefixes (``train``, ``val``, ``valid``, ``validation``, ``test``) and suffixes are
recognised with ``_``, ``/``, ``-`` or ``.`` between split and metric.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from medtk.viz.checks import PlotInputError, check_output
from medtk.viz.style import DPI, FONT, GREY, INK, colour, finish_axes, legend, new_figure, save_png

__all__ = ["best_epoch", "metric_per_epoch", "read_table"]

PLOT = "metric per epoch"
#: Columns that index or time the epochs rather than measure the model; not drawn by default.
NOT_METRICS = re.compile(
    r"^(epoch|step|steps|iteration|lr|learning_rate|time|.*_time|.*seconds|elapsed.*|wall.*)$"
)
_SPLITS = {
    "train": "train",
    "training": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "test": "test",
}
_STYLES = {"train": "-", "val": "--", "test": ":"}
_PREFIXED = re.compile(r"^(?P<split>[a-z]+)[_/.\-](?P<metric>.+)$")
_SUFFIXED = re.compile(r"^(?P<metric>.+)[_/.\-](?P<split>[a-z]+)$")


@dataclass(frozen=True)
class Table:
    """Columns of floats (NaN where a row had no value), and the epoch of each row."""

    epochs: list[float]
    columns: dict[str, list[float]]


def read_table(
    table: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Any]], epoch: str = "epoch"
) -> Table:
    """Columns of numbers from a table: a mapping of columns, a list of rows or a DataFrame.

    Rows are mappings of column to value, as ``csv.DictReader`` yields them.
    Values may be strings, as a CSV reader gives them; an empty value is a missing one
    (NaN). Columns that are not numbers are left out. Without an ``epoch`` column the
    epochs are numbered from 1.
    """
    if hasattr(table, "to_dict") and hasattr(table, "columns"):  # a pandas DataFrame
        table = table.to_dict("list")
    if isinstance(table, Mapping):
        raw = {str(name): list(values) for name, values in table.items()}
        lengths = {name: len(values) for name, values in raw.items()}
        if len(set(lengths.values())) > 1:
            told = ", ".join(f"{name} has {n}" for name, n in lengths.items())
            raise PlotInputError(PLOT, f"columns differ in length: {told}")
        rows = next(iter(lengths.values()), 0)
    elif isinstance(table, Sequence) and not isinstance(table, str):
        rows = len(table)
        names: dict[str, None] = {}
        for i, row in enumerate(table):
            if not isinstance(row, Mapping):
                raise PlotInputError(PLOT, f"row {i} is not a mapping of column to value")
            names.update(dict.fromkeys(str(name) for name in row))
        raw = {name: [row.get(name) for row in table] for name in names}
    else:
        raise PlotInputError(PLOT, "the table must map columns to values or be a list of rows")
    if rows == 0:
        raise PlotInputError(PLOT, "the table has no rows")
    columns = {}
    for name, values in raw.items():
        numbers = _numbers(values)
        if numbers is not None:
            columns[name] = numbers
    if epoch in raw and epoch not in columns:
        raise PlotInputError(PLOT, f"column {epoch!r} holds values that are not numbers")
    epochs = columns.pop(epoch, [float(i + 1) for i in range(rows)])
    if any(math.isnan(e) for e in epochs):
        raise PlotInputError(PLOT, f"column {epoch!r} has empty values")
    return Table(epochs=epochs, columns=columns)


def best_epoch(
    table: Table, monitor: str, mode: Literal["min", "max"] | None = None
) -> tuple[float, float]:
    """The epoch where ``monitor`` is best, and its value (the first such epoch on ties).

    :param mode: ``"min"`` or ``"max"``; by default ``min`` for a loss, else ``max``.
    """
    if monitor not in table.columns:
        known = ", ".join(sorted(table.columns)) or "none"
        raise PlotInputError(PLOT, f"no numeric column {monitor!r} to monitor (columns: {known})")
    mode = mode or ("min" if "loss" in monitor.lower() else "max")
    if mode not in ("min", "max"):
        raise PlotInputError(PLOT, f"mode {mode!r}: use 'min' or 'max'")
    values = [
        (v if mode == "min" else -v, i)
        for i, v in enumerate(table.columns[monitor])
        if not math.isnan(v)
    ]
    if not values:
        raise PlotInputError(PLOT, f"column {monitor!r} has no values")
    _, index = min(values)
    return table.epochs[index], table.columns[monitor][index]


def metric_per_epoch(
    path: str | Path,
    table: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Any]],
    *,
    metrics: Sequence[str] | None = None,
    epoch: str = "epoch",
    monitor: str | None = None,
    mode: Literal["min", "max"] | None = None,
    mark_best: bool = True,
    title: str | None = None,
    dpi: int = DPI,
    overwrite: bool = True,
) -> Path:
    """Metric curves over the epochs of a run, losses left and other metrics right.

    :param path: the PNG to write (``.png``); returned.
    :param table: the run's per-epoch metrics: ``{"epoch": [...], "val_loss": [...]}``
        or rows such as ``csv.DictReader`` yields from ``metrics.csv``.
    :param metrics: the columns to draw (default: every numeric column except the epoch,
        step, learning rate and times).
    :param epoch: the column holding the epoch number (default ``epoch``; without one,
        rows are epochs 1, 2, …).
    :param monitor: the column whose best epoch is marked (default ``val_loss`` if
        present, else the first drawn validation column, else the first drawn column).
    :param mode: whether the best is the ``"min"`` or ``"max"`` (default: ``min`` for a
        loss, else ``max``).
    :param mark_best: mark the best epoch with a vertical line and a star.
    :param title: the figure title (default ``Training curves``).
    :param dpi: resolution of the PNG.
    :param overwrite: replace an existing file (once the new one is complete).
    """
    check_output(PLOT, path, overwrite=overwrite)
    data = read_table(table, epoch)
    if metrics is None:
        drawn = [name for name in data.columns if not NOT_METRICS.match(name.lower())]
    else:
        drawn = list(metrics)
        missing = [name for name in drawn if name not in data.columns]
        if missing:
            known = ", ".join(data.columns) or "none"
            raise PlotInputError(PLOT, f"no numeric column {missing[0]!r} (columns: {known})")
    if not drawn:
        raise PlotInputError(PLOT, "the table has no metric columns to draw")
    best = None
    if mark_best:
        chosen = monitor or _default_monitor(drawn)
        best = (chosen, *best_epoch(data, chosen, mode))

    losses = [name for name in drawn if "loss" in name.lower()]
    others = [name for name in drawn if "loss" not in name.lower()]
    groups = [(g, names) for g, names in (("loss", losses), ("metric", others)) if names]
    figure = new_figure(5.2 * len(groups), 4.0)
    panels = figure.subplots(1, len(groups), squeeze=False)[0]
    bases: dict[str, int] = {}
    for axes, (group, names) in zip(panels, groups, strict=True):
        for name in names:
            split, base = _split(name)
            shade = colour(bases.setdefault(base, len(bases)))
            xs = [
                e for e, v in zip(data.epochs, data.columns[name], strict=True) if not math.isnan(v)
            ]
            ys = [v for v in data.columns[name] if not math.isnan(v)]
            axes.plot(
                xs,
                ys,
                color=shade,
                linestyle=_STYLES.get(split or "train", "-"),
                linewidth=1.6,
                marker="o" if len(xs) <= 30 else None,
                markersize=3,
                label=name,
            )
        if best is not None:
            monitored, at, value = best
            axes.axvline(
                at,
                color=GREY,
                linestyle=":",
                linewidth=1.2,
                label=f"best epoch {at:g} ({monitored} {value:.4g})",
            )
            if monitored in names:
                axes.plot(
                    [at], [value], marker="*", markersize=13, color=INK, linestyle="none", zorder=5
                )
        finish_axes(
            axes,
            title="loss" if group == "loss" else "metrics",
            xlabel="epoch",
            ylabel="loss" if group == "loss" else "value",
        )
        if all(float(e).is_integer() for e in data.epochs) and len(data.epochs) <= 20:
            axes.set_xticks(sorted(set(data.epochs)))
        legend(axes, loc="best")
    figure.suptitle(title or "Training curves", fontsize=FONT["title"] + 1)
    return save_png(figure, path, dpi=dpi, overwrite=overwrite)


def _numbers(values: list[Any]) -> list[float] | None:
    """Floats (NaN for empty values), or None if any value is not a number."""
    numbers = []
    for value in values:
        if value is None or (isinstance(value, str) and not value.strip()):
            numbers.append(math.nan)
            continue
        if isinstance(value, bool):
            return None
        try:
            numbers.append(float(value))
        except (TypeError, ValueError):
            return None
    return numbers


def _split(name: str) -> tuple[str | None, str]:
    """``("val", "auc")`` for ``val_auc`` or ``auc/val``; ``(None, name)`` otherwise."""
    for pattern in (_PREFIXED, _SUFFIXED):
        match = pattern.match(name.lower())
        if match and match["split"] in _SPLITS:
            return _SPLITS[match["split"]], match["metric"]
    return None, name.lower()


def _default_monitor(drawn: list[str]) -> str:
    if "val_loss" in drawn:
        return "val_loss"
    validation = [name for name in drawn if _split(name)[0] == "val"]
    return (validation or drawn)[0]
