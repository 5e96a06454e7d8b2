"""Forest plot of AUCs: a point per entry with its confidence interval as whiskers.

Made for comparing models or folds at a glance, as a study table would list them: one
row per entry, top to bottom in the given order, the point estimate and its interval
written beside each row, and a dashed line at chance (0.5). An optional group per entry
(say, the fusion method) gives its colour and a legend.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from medtk.viz.checks import PlotInputError, check_output
from medtk.viz.style import DPI, FONT, GREY, INK, colour, finish_axes, new_figure, save_png

__all__ = ["auc_forest"]

PLOT = "auc forest"


def auc_forest(
    path: str | Path,
    entries: Sequence[Sequence[Any]],
    *,
    reference: float | None = 0.5,
    xlabel: str = "AUC (95% CI)",
    limits: tuple[float, float] | None = None,
    title: str | None = None,
    dpi: int = DPI,
    overwrite: bool = True,
) -> Path:
    """Point estimates with whiskers from ``low`` to ``high``, one row per entry.

    :param path: the PNG to write (``.png``); returned.
    :param entries: ``(name, auc, low, high)`` per row, or ``(name, auc, low, high,
        group)``; ``low`` and ``high`` may be None for an entry without an interval.
    :param reference: the x of the dashed reference line (chance); None for none.
    :param xlabel: the x axis label.
    :param limits: the x range (default: from the lowest value, or the reference, to 1).
    :param title: the plot title (default ``AUC with confidence intervals``).
    :param dpi: resolution of the PNG.
    :param overwrite: replace an existing file (once the new one is complete).
    """
    check_output(PLOT, path, overwrite=overwrite)
    rows = [_entry(entry, i) for i, entry in enumerate(_listed(entries))]
    groups: dict[str, int] = {}
    for row in rows:
        if row[4] is not None:
            groups.setdefault(row[4], len(groups))
    lowest = min(row[2] if row[2] is not None else row[1] for row in rows)
    if reference is not None:
        lowest = min(lowest, reference)
    low_x, high_x = limits if limits is not None else (max(0.0, lowest - 0.05), 1.0)
    if not low_x < high_x:
        raise PlotInputError(PLOT, f"limits {limits!r} must rise")

    figure = new_figure(6.4, 1.2 + 0.34 * len(rows) + (0.3 if groups else 0.0))
    axes = figure.subplots()
    ys = list(range(len(rows)))[::-1]  # the first entry on top
    for y, (_, auc, low, high, group) in zip(ys, rows, strict=True):
        shade = INK if group is None else colour(groups[group])
        if low is not None and high is not None:
            axes.plot([low, high], [y, y], color=shade, linewidth=1.6, solid_capstyle="butt")
            for end in (low, high):
                axes.plot([end, end], [y - 0.15, y + 0.15], color=shade, linewidth=1.6)
        axes.plot([auc], [y], marker="s", markersize=6.5, color=shade, linestyle="none")
    if reference is not None:
        axes.axvline(reference, color=GREY, linestyle="--", linewidth=1.0)
    axes.set_xlim(low_x, high_x)
    axes.set_ylim(-0.7, len(rows) - 0.3)
    axes.set_yticks(ys, [row[0] for row in rows])
    finish_axes(axes, title=title or "AUC with confidence intervals", xlabel=xlabel)
    axes.grid(False, axis="y")
    axes.tick_params(axis="y", length=0)
    # the numbers, right of the plot, as tick labels of a twin axis (laid out with the rest)
    numbers = axes.twinx()
    numbers.set_ylim(axes.get_ylim())
    numbers.set_yticks(ys, [_interval(auc, low, high) for _, auc, low, high, _ in rows])
    numbers.tick_params(axis="y", length=0, labelsize=FONT["tick"])
    for side in ("top", "right", "left"):
        numbers.spines[side].set_visible(False)
    if groups:
        from matplotlib.lines import Line2D

        handles = [
            Line2D([], [], marker="s", color=colour(k), linewidth=1.6, label=group)
            for group, k in groups.items()
        ]
        figure.legend(
            handles=handles,
            loc="outside lower center",
            ncols=min(len(handles), 5),
            fontsize=FONT["legend"],
            frameon=False,
        )
    return save_png(figure, path, dpi=dpi, overwrite=overwrite)


def _listed(entries: Any) -> list[Any]:
    if isinstance(entries, str) or not isinstance(entries, Sequence) or len(entries) == 0:
        raise PlotInputError(PLOT, "entries must be a non-empty list of (name, auc, low, high)")
    return list(entries)


def _entry(entry: Any, index: int) -> tuple[str, float, float | None, float | None, str | None]:
    if isinstance(entry, str) or not isinstance(entry, Sequence) or len(entry) not in (4, 5):
        raise PlotInputError(
            PLOT, f"entry {index}: expected (name, auc, low, high) or with a group, got {entry!r}"
        )
    name, auc, low, high = entry[:4]
    group = str(entry[4]) if len(entry) == 5 and entry[4] is not None else None
    where = f"entry {index} ({name})"
    values = []
    for label, value in (("auc", auc), ("low", low), ("high", high)):
        if value is None and label != "auc":
            values.append(None)
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
        if not math.isfinite(number):
            raise PlotInputError(PLOT, f"{where}: {label} must be a finite number, got {value!r}")
        values.append(number)
    auc, low, high = values
    if (low is None) != (high is None):
        raise PlotInputError(PLOT, f"{where}: give both low and high, or neither")
    if low is not None and not low <= auc <= high:
        raise PlotInputError(
            PLOT, f"{where}: expected low ≤ auc ≤ high, got {low} ≤ {auc} ≤ {high}"
        )
    return str(name), auc, low, high, group


def _interval(auc: float, low: float | None, high: float | None) -> str:
    if low is None or high is None:
        return f"{auc:.3f}"
    return f"{auc:.3f} ({low:.3f}–{high:.3f})"
