"""Threshold–F1 curves: F1 of each class as its decision threshold sweeps, best marked.

The curves come from a threshold sweep (one F1 per threshold and class). Several modes
can share the plot, for instance one-vs-rest ``binary`` models against one
``multiclass`` model: a class keeps its colour, a mode its line style. A filled circle
marks each curve's best F1; chosen thresholds (say, the ones picked on validation data
and applied to test data) are marked with an open diamond where the curve passes them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from medtk.viz.checks import PlotInputError, as_vector, check_output, same_length
from medtk.viz.style import DPI, FONT, GREY, colour, finish_axes, new_figure, save_png

__all__ = ["threshold_f1"]

PLOT = "threshold f1"
_STYLES = ("-", "--", ":", "-.")

Curve = tuple[Sequence[float], Sequence[float]]


def threshold_f1(
    path: str | Path,
    curves: Mapping[str, Curve] | Mapping[str, Mapping[str, Curve]] | Sequence[Curve],
    chosen: Mapping[str, float] | Mapping[str, Mapping[str, float]] | None = None,
    *,
    class_names: Sequence[str] | None = None,
    title: str | None = None,
    xlabel: str = "threshold",
    dpi: int = DPI,
    overwrite: bool = True,
) -> Path:
    """F1 against threshold, one line per class (and mode), each curve's best marked.

    :param path: the PNG to write (``.png``); returned.
    :param curves: ``{class: (thresholds, f1)}``; or ``{mode: {class: (thresholds, f1)}}``
        to compare modes such as ``"binary"`` and ``"multiclass"`` in one plot; or a list
        of ``(thresholds, f1)``, one per class.
    :param chosen: thresholds to mark, ``{class: threshold}`` or
        ``{mode: {class: threshold}}``, shaped as ``curves``.
    :param class_names: names for a list of curves (default ``class 0`` …).
    :param title: the plot title (default ``F1 by threshold``).
    :param xlabel: the x axis label.
    :param dpi: resolution of the PNG.
    :param overwrite: replace an existing file (once the new one is complete).
    """
    check_output(PLOT, path, overwrite=overwrite)
    modes = _modes(curves, class_names)
    from matplotlib.lines import Line2D

    marks = _chosen(chosen, modes)
    classes: dict[str, int] = {}
    for per_class in modes.values():
        for name in per_class:
            classes.setdefault(name, len(classes))
    several = len(modes) > 1
    rows = max(len(per_class) for per_class in modes.values()) + 1  # + the marker key
    figure = new_figure(max(6.4, 4.2 * len(modes)), 3.9 + 0.2 * rows)
    axes = figure.subplots()
    columns = []
    for m, (mode, per_class) in enumerate(modes.items()):
        column = []
        for name, (thresholds, f1) in per_class.items():
            shade = colour(classes[name])
            best = int(np.argmax(f1))
            label = f"{name} ({mode})" if several else name
            label += f": best F1 {f1[best]:.3f} at {thresholds[best]:.3g}"
            column += axes.plot(
                thresholds,
                f1,
                color=shade,
                linestyle=_STYLES[m % len(_STYLES)],
                linewidth=1.6,
                label=label,
            )
            axes.plot(
                [thresholds[best]],
                [f1[best]],
                marker="o",
                markersize=7,
                color=shade,
                markeredgecolor="black",
                markeredgewidth=0.8,
                linestyle="none",
                zorder=4,
            )
            if (mode, name) in marks:
                at = marks[(mode, name)]
                axes.plot(
                    [at],
                    [np.interp(at, thresholds, f1)],
                    marker="D",
                    markersize=7,
                    markerfacecolor="white",
                    markeredgecolor=shade,
                    markeredgewidth=1.6,
                    linestyle="none",
                    zorder=5,
                )
        columns.append(column)
    keys = [
        Line2D(
            [],
            [],
            marker="o",
            color=GREY,
            markeredgecolor="black",
            linestyle="none",
            label="best threshold",
        )
    ]
    if marks:
        keys.append(
            Line2D(
                [],
                [],
                marker="D",
                markerfacecolor="white",
                markeredgecolor=GREY,
                linestyle="none",
                label="chosen threshold",
            )
        )
    # one legend column per mode, the marker key on the last row
    blank = Line2D([], [], linestyle="none", label=" ")
    key_rows = -(-len(keys) // len(columns))
    handles = []
    for m, column in enumerate(columns):
        handles += column + [blank] * (rows - 1 - len(column))
        handles += (keys[m * key_rows : (m + 1) * key_rows] + [blank] * key_rows)[:key_rows]
    axes.set_ylim(0.0, 1.02)
    finish_axes(axes, title=title or "F1 by threshold", xlabel=xlabel, ylabel="F1")
    figure.legend(
        handles=handles,
        labels=[h.get_label() for h in handles],
        loc="outside lower center",
        ncols=len(columns),
        fontsize=FONT["legend"],
        frameon=False,
    )
    return save_png(figure, path, dpi=dpi, overwrite=overwrite)


def _modes(
    curves: Any, class_names: Sequence[str] | None
) -> dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """``{mode: {class: (thresholds, f1)}}``, checked; a single mode is named ``""``."""
    if isinstance(curves, Mapping):
        if not curves:
            raise PlotInputError(PLOT, "no curves to draw")
        nested = [isinstance(value, Mapping) for value in curves.values()]
        if all(nested):
            raw = {str(mode): dict(per_class) for mode, per_class in curves.items()}
        elif not any(nested):
            raw = {"": dict(curves)}
        else:
            raise PlotInputError(PLOT, "curves mixes modes ({mode: {class: curve}}) and classes")
        if class_names is not None:
            raise PlotInputError(PLOT, "class_names is for a list of curves; a mapping names them")
    elif isinstance(curves, Sequence) and not isinstance(curves, str) and curves:
        names = [f"class {i}" for i in range(len(curves))] if class_names is None else class_names
        same_length(PLOT, curves=curves, class_names=names)
        raw = {"": dict(zip(map(str, names), curves, strict=True))}
    else:
        raise PlotInputError(PLOT, "curves must be {class: (thresholds, f1)} or a list of them")
    modes = {}
    for mode, per_class in raw.items():
        if not per_class:
            raise PlotInputError(PLOT, f"mode {mode!r} has no curves")
        modes[mode] = {
            str(name): _curve(curve, mode, str(name)) for name, curve in per_class.items()
        }
    return modes


def _curve(curve: Any, mode: str, name: str) -> tuple[np.ndarray, np.ndarray]:
    where = f"{name} ({mode})" if mode else name
    if isinstance(curve, Mapping | str) or not isinstance(curve, Sequence) or len(curve) != 2:
        raise PlotInputError(PLOT, f"{where}: expected a pair (thresholds, f1)")
    thresholds = as_vector(PLOT, f"{where}: thresholds", curve[0])
    f1 = as_vector(PLOT, f"{where}: f1", curve[1])
    if thresholds.size != f1.size:
        raise PlotInputError(PLOT, f"{where}: {thresholds.size} thresholds but {f1.size} F1 values")
    if np.any(f1 < 0) or np.any(f1 > 1):
        raise PlotInputError(PLOT, f"{where}: F1 values must lie in [0, 1]")
    order = np.argsort(thresholds, kind="stable")
    return thresholds[order], f1[order]


def _chosen(chosen: Any, modes: dict[str, dict[str, Any]]) -> dict[tuple[str, str], float]:
    if chosen is None:
        return {}
    if not isinstance(chosen, Mapping):
        raise PlotInputError(PLOT, "chosen must map classes (or modes, then classes) to thresholds")
    nested = {"": chosen} if list(modes) == [""] else chosen
    marks = {}
    for mode, per_class in nested.items():
        if mode not in modes or not isinstance(per_class, Mapping):
            raise PlotInputError(PLOT, f"chosen: {mode!r} is not one of the modes {list(modes)}")
        for name, at in per_class.items():
            if str(name) not in modes[mode]:
                raise PlotInputError(PLOT, f"chosen: no curve for class {name!r}")
            try:
                value = float(at)
            except (TypeError, ValueError):
                value = float("nan")
            if not np.isfinite(value):
                raise PlotInputError(
                    PLOT, f"chosen: the threshold of {name!r} is not a finite number"
                )
            marks[(mode, str(name))] = value
    return marks
