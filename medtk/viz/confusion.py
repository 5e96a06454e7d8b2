"""Confusion matrix: counts and normalised rates side by side, every cell annotated.

Rows are the true classes, columns the predicted ones. Row-normalised cells read as
recall per class (each row sums to 1), column-normalised ones as precision. A single-hue
map (``Blues``) grows darker with the value, so the order survives grey printing and
colour-vision deficiencies; cell text switches to white on dark cells.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from medtk.viz.checks import PlotInputError, check_output
from medtk.viz.style import DPI, FONT, finish_axes, new_figure, save_png

__all__ = ["CMAP", "confusion_matrix", "normalised"]

PLOT = "confusion matrix"
#: The colour map of the cells (light for 0, dark for the largest value).
CMAP = "Blues"


def normalised(matrix: npt.ArrayLike, over: Literal["rows", "columns"]) -> np.ndarray:
    """``matrix`` divided by its row (or column) sums; an empty row (or column) is NaN."""
    counts = np.asarray(matrix, dtype=np.float64)
    axis = 1 if over == "rows" else 0
    totals = counts.sum(axis=axis, keepdims=True)
    return np.divide(counts, totals, out=np.full_like(counts, np.nan), where=totals > 0)


def confusion_matrix(
    path: str | Path,
    matrix: npt.ArrayLike,
    class_names: Sequence[str] | None = None,
    *,
    normalise: Literal["rows", "columns", "none"] = "rows",
    counts: bool = True,
    title: str | None = None,
    dpi: int = DPI,
    overwrite: bool = True,
) -> Path:
    """An N×N confusion matrix as a heat map with the value written in each cell.

    :param path: the PNG to write (``.png``); returned.
    :param matrix: counts, ``matrix[i, j]`` = samples of true class ``i`` predicted ``j``.
    :param class_names: a name per class (default ``0 … N-1``).
    :param normalise: ``"rows"`` (recall), ``"columns"`` (precision) or ``"none"``.
    :param counts: draw the counts panel; with a normalisation, the two sit side by side.
    :param title: the figure title (default ``Confusion matrix``).
    :param dpi: resolution of the PNG.
    :param overwrite: replace an existing file (once the new one is complete).
    """
    check_output(PLOT, path, overwrite=overwrite)
    data = _counts(matrix)
    size = data.shape[0]
    names = [str(c) for c in range(size)] if class_names is None else [str(n) for n in class_names]
    if len(names) != size:
        raise PlotInputError(PLOT, f"{len(names)} class names for a {size}×{size} matrix")
    if normalise not in ("rows", "columns", "none"):
        raise PlotInputError(PLOT, f"normalise {normalise!r}: use 'rows', 'columns' or 'none'")
    panels: list[tuple[np.ndarray, str, str, float]] = []
    if counts:
        integral = bool(np.all(data == np.round(data)))
        top = float(data.max()) if data.max() > 0 else 1.0
        panels.append((data, "counts", "{:,.0f}" if integral else "{:.3g}", top))
    if normalise != "none":
        label = (
            "row-normalised (recall)" if normalise == "rows" else "column-normalised (precision)"
        )
        panels.append((normalised(data, normalise), label, "{:.2f}", 1.0))
    if not panels:
        raise PlotInputError(PLOT, "nothing to draw: counts=False with normalise='none'")

    side = max(3.6, 0.5 * size + 2.2)
    figure = new_figure(side * len(panels) + 0.9 * len(panels), side + 0.4)
    for axes, (values, label, form, top) in zip(
        figure.subplots(1, len(panels), squeeze=False)[0], panels, strict=True
    ):
        _draw(figure, axes, values, names=names, label=label, form=form, top=top)
    figure.suptitle(title or "Confusion matrix", fontsize=FONT["title"] + 1)
    return save_png(figure, path, dpi=dpi, overwrite=overwrite)


def _counts(matrix: npt.ArrayLike) -> np.ndarray:
    try:
        data = np.asarray(matrix, dtype=np.float64)
    except (TypeError, ValueError):
        raise PlotInputError(PLOT, "the matrix must hold numbers") from None
    if data.ndim != 2 or data.shape[0] != data.shape[1] or data.shape[0] == 0:
        raise PlotInputError(PLOT, f"the matrix must be square N×N, got shape {data.shape}")
    if not np.all(np.isfinite(data)) or np.any(data < 0):
        raise PlotInputError(PLOT, "the matrix must hold finite counts ≥ 0")
    return data


def _draw(
    figure: Any,
    axes: Any,
    values: np.ndarray,
    *,
    names: list[str],
    label: str,
    form: str,
    top: float,
) -> None:
    from matplotlib import colormaps

    size = values.shape[0]
    cmap = colormaps[CMAP].with_extremes(bad="#DDDDDD")  # grey: a row with no samples
    shown = np.ma.masked_invalid(values)
    image = axes.imshow(shown, cmap=cmap, vmin=0.0, vmax=top, interpolation="nearest")
    font = max(6.0, min(FONT["label"], 120.0 / size))
    for i in range(size):
        for j in range(size):
            value = values[i, j]
            text = "–" if np.isnan(value) else form.format(value)
            dark = np.isfinite(value) and value > 0.55 * top
            axes.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                fontsize=font,
                color="white" if dark else "black",
            )
    axes.set_xticks(
        range(size),
        names,
        rotation=45 if max(map(len, names)) > 3 else 0,
        ha="right" if max(map(len, names)) > 3 else "center",
    )
    axes.set_yticks(range(size), names)
    finish_axes(axes, title=label, xlabel="predicted class", ylabel="true class", grid=False)
    for spine in axes.spines.values():
        spine.set_visible(False)
    axes.tick_params(length=0)
    bar = figure.colorbar(image, ax=axes, shrink=0.8, pad=0.02)
    bar.ax.tick_params(labelsize=FONT["note"])
    bar.outline.set_visible(False)
