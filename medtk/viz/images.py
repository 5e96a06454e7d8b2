"""Image grids: one row per sample, columns such as input, prediction and target.

A cell is a 2D image: grey ``(y, x)``, or colour with three or four channels either last
``(y, x, 3)`` or first ``(3, y, x)`` (a single channel, ``(1, y, x)`` or ``(y, x, 1)``,
is grey). Grey images are drawn with the ``gray`` map, stretched to their own range or to
their row's; colour images are drawn as they are (``uint8`` 0–255, floats 0–1). Pixels
are drawn as squares (nearest neighbour), never smoothed.

Columns named in ``labels`` hold integer label maps (0 = background). They are drawn in
one colour per class, over the row's image in column ``overlay_on`` (semi-transparent),
or alone on black when ``overlay_on`` is None — so a segmentation row reads as input,
input + predicted labels, input + true labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from medtk.viz.checks import PlotInputError, check_output
from medtk.viz.style import DPI, FONT, PALETTE, new_figure, save_png

__all__ = ["image_grid", "label_colours", "to_displayable"]

PLOT = "image grid"


def label_colours(count: int) -> np.ndarray:
    """RGB (0–1) colours for labels ``1 … count`` (row ``k - 1`` for label ``k``).

    The Okabe–Ito palette first; past seven classes, evenly spaced hues follow.
    """
    from matplotlib.colors import hsv_to_rgb, to_rgb

    colours = [to_rgb(c) for c in PALETTE[:count]]
    extra = count - len(colours)
    if extra > 0:
        hues = (np.arange(extra) * 0.618034) % 1.0  # golden-ratio steps stay apart
        colours += list(hsv_to_rgb(np.stack([hues, np.full(extra, 0.75), np.full(extra, 0.9)], 1)))
    return np.asarray(colours, dtype=np.float64).reshape(count, 3)


def to_displayable(image: npt.ArrayLike, where: str = "image") -> np.ndarray:
    """A 2D image as ``(y, x)`` grey or ``(y, x, 3|4)`` colour; channel-first is moved last."""
    try:
        data = np.asarray(image)
    except (TypeError, ValueError):
        raise PlotInputError(PLOT, f"{where}: not an array of numbers") from None
    if data.dtype == bool:
        data = data.astype(np.uint8)
    if data.dtype.kind not in "uif":
        raise PlotInputError(PLOT, f"{where}: pixels must be numbers, got {data.dtype}")
    if data.ndim == 3:
        if data.shape[-1] in (1, 3, 4):
            pass
        elif data.shape[0] in (1, 3, 4):
            data = np.moveaxis(data, 0, -1)
        else:
            raise PlotInputError(
                PLOT,
                f"{where}: shape {data.shape} is not a 2D image with 1, 3 or 4 channels"
                " (a volume? pass one slice)",
            )
        if data.shape[-1] == 1:
            data = data[..., 0]
    if data.ndim not in (2, 3):
        raise PlotInputError(
            PLOT,
            f"{where}: expected a 2D image (y, x), (y, x, 3) or (3, y, x), got shape {data.shape}",
        )
    if 0 in data.shape:
        raise PlotInputError(PLOT, f"{where}: the image is empty, shape {data.shape}")
    if data.dtype.kind == "f" and not np.all(np.isfinite(data)):
        raise PlotInputError(PLOT, f"{where}: the image holds NaN or infinite values")
    if data.ndim == 3:
        _check_colour_range(data, where)
    return data


def _check_colour_range(data: np.ndarray, where: str) -> None:
    if data.dtype.kind == "f" and (data.min() < 0 or data.max() > 1):
        raise PlotInputError(PLOT, f"{where}: float colour images must lie in [0, 1]")
    if data.dtype.kind in "iu" and (data.min() < 0 or data.max() > 255):
        raise PlotInputError(PLOT, f"{where}: integer colour images must lie in 0–255")


def image_grid(
    path: str | Path,
    rows: Sequence[Sequence[npt.ArrayLike]],
    *,
    titles: Sequence[str] | None = ("input", "prediction", "target"),
    row_titles: Sequence[str] | None = None,
    labels: Sequence[int] = (),
    overlay_on: int | None = 0,
    alpha: float = 0.45,
    class_names: Sequence[str] | None = None,
    scale: Literal["each", "row"] = "each",
    cell: float = 2.4,
    title: str | None = None,
    dpi: int = DPI,
    overwrite: bool = True,
) -> Path:
    """A grid of 2D images, one row per sample, titled columns, optional label overlays.

    :param path: the PNG to write (``.png``); returned.
    :param rows: the rows, each a sequence of images of equal length (input, prediction,
        target …); images of a row may differ in size.
    :param titles: a title per column (default input, prediction, target); None for none.
    :param row_titles: a title per row, written left of it.
    :param labels: indices of the columns that hold integer label maps.
    :param overlay_on: the column the label maps are drawn over (None: alone, on black).
    :param alpha: opacity of the label colours over the image.
    :param class_names: names of labels ``1 …`` for a legend of the class colours.
    :param scale: grey images stretched to their own range (``"each"``) or to the range
        of the grey images of their row (``"row"``, to compare prediction and target).
    :param cell: the side of a cell in inches.
    :param title: a figure title.
    :param dpi: resolution of the PNG.
    :param overwrite: replace an existing file (once the new one is complete).
    """
    check_output(PLOT, path, overwrite=overwrite)
    grid = _check_rows(rows, titles=titles, row_titles=row_titles)
    label_columns = _check_options(len(grid[0]), labels, overlay_on, alpha=alpha, scale=scale)
    cells = [
        [
            _label_map(image, f"row {r}, column {c}")
            if c in label_columns
            else to_displayable(image, f"row {r}, column {c}")
            for c, image in enumerate(row)
        ]
        for r, row in enumerate(grid)
    ]
    bases = [None if overlay_on is None else row[overlay_on] for row in cells]
    _check_overlays(cells, bases, label_columns, overlay_on)
    top_label = max((int(row[c].max()) for row in cells for c in label_columns), default=0)
    if class_names is not None and len(class_names) < top_label:
        raise PlotInputError(PLOT, f"{len(class_names)} class names but labels reach {top_label}")
    colours = label_colours(max(top_label, len(class_names or ())))

    columns = len(cells[0])
    height = cell * len(cells) + 0.35 * bool(titles) + 0.4 * bool(title) + 0.35 * bool(class_names)
    figure = new_figure(cell * columns + (0.4 if row_titles else 0.0), height)
    axes_grid = figure.subplots(len(cells), columns, squeeze=False)
    for r, (row, base) in enumerate(zip(cells, bases, strict=True)):
        limits = _row_limits(row, label_columns) if scale == "row" else None
        for c, data in enumerate(row):
            axes = axes_grid[r, c]
            if c in label_columns:
                _draw_labels(axes, data, base, colours=colours, alpha=alpha)
            else:
                _draw_image(axes, data, limits)
            axes.set_xticks([])
            axes.set_yticks([])
            for spine in axes.spines.values():
                spine.set_visible(False)
            if r == 0 and titles:
                axes.set_title(titles[c], fontsize=FONT["label"])
            if c == 0 and row_titles:
                axes.set_ylabel(row_titles[r], fontsize=FONT["label"])
    if class_names:
        from matplotlib.patches import Patch

        handles = [Patch(color=colours[k], label=str(name)) for k, name in enumerate(class_names)]
        figure.legend(
            handles=handles,
            loc="outside lower center",
            ncols=min(len(handles), 6),
            fontsize=FONT["legend"],
            frameon=False,
        )
    if title:
        figure.suptitle(title, fontsize=FONT["title"] + 1)
    return save_png(figure, path, dpi=dpi, overwrite=overwrite)


def _check_overlays(
    cells: list[list[np.ndarray]],
    bases: list[np.ndarray | None],
    label_columns: list[int],
    overlay_on: int | None,
) -> None:
    """Refuse a label map that does not cover its row's image pixel for pixel."""
    for r, (row, base) in enumerate(zip(cells, bases, strict=True)):
        for c in label_columns:
            if base is not None and base.shape[:2] != row[c].shape:
                raise PlotInputError(
                    PLOT,
                    f"row {r}: the label map in column {c} is {row[c].shape}, the image"
                    f" in column {overlay_on} is {base.shape[:2]}",
                )


def _check_options(
    columns: int, labels: Sequence[int], overlay_on: int | None, *, alpha: float, scale: str
) -> list[int]:
    """The label columns, sorted, once every option is known to fit the grid."""
    label_columns = sorted({int(c) for c in labels})
    if any(not 0 <= c < columns for c in label_columns):
        raise PlotInputError(PLOT, f"labels {list(labels)}: columns are 0…{columns - 1}")
    if (
        overlay_on is not None
        and label_columns
        and (not 0 <= overlay_on < columns or overlay_on in label_columns)
    ):
        raise PlotInputError(
            PLOT, f"overlay_on {overlay_on}: choose an image column, not a label one"
        )
    if not 0.0 <= alpha <= 1.0:
        raise PlotInputError(PLOT, f"alpha must lie in [0, 1], got {alpha}")
    if scale not in ("each", "row"):
        raise PlotInputError(PLOT, f"scale {scale!r}: use 'each' or 'row'")
    return label_columns


def _check_rows(rows: Any, *, titles: Any, row_titles: Any) -> list[list[Any]]:
    if isinstance(rows, np.ndarray) or not isinstance(rows, Sequence) or len(rows) == 0:
        raise PlotInputError(PLOT, "rows must be a non-empty list of rows of images")
    grid = []
    for r, row in enumerate(rows):
        if isinstance(row, np.ndarray) or not isinstance(row, Sequence) or len(row) == 0:
            raise PlotInputError(PLOT, f"row {r} must be a non-empty list of images")
        grid.append(list(row))
    widths = {len(row) for row in grid}
    if len(widths) > 1:
        told = ", ".join(f"row {r} has {len(row)}" for r, row in enumerate(grid))
        raise PlotInputError(PLOT, f"rows differ in their number of images: {told}")
    columns = len(grid[0])
    if titles is not None and len(titles) != columns:
        raise PlotInputError(PLOT, f"{len(titles)} titles for {columns} columns")
    if row_titles is not None and len(row_titles) != len(grid):
        raise PlotInputError(PLOT, f"{len(row_titles)} row titles for {len(grid)} rows")
    return grid


def _label_map(image: Any, where: str) -> np.ndarray:
    try:
        data = np.asarray(image)
    except (TypeError, ValueError):
        raise PlotInputError(PLOT, f"{where}: not an array of labels") from None
    if data.ndim == 3 and 1 in (data.shape[0], data.shape[-1]):
        data = data.reshape([n for n in data.shape if n != 1] if data.size > 1 else (1, 1))
    if data.ndim != 2 or 0 in data.shape:
        raise PlotInputError(
            PLOT, f"{where}: a label map must be 2D (y, x), got shape {data.shape}"
        )
    if data.dtype == bool:
        return data.astype(np.int64)
    if data.dtype.kind == "f" and np.all(np.isfinite(data)) and np.all(data == np.round(data)):
        data = data.astype(np.int64)
    if data.dtype.kind not in "iu" or data.min() < 0:
        raise PlotInputError(PLOT, f"{where}: a label map must hold whole numbers ≥ 0")
    return data.astype(np.int64)


def _row_limits(row: list[np.ndarray], label_columns: list[int]) -> tuple[float, float] | None:
    grey = [data for c, data in enumerate(row) if c not in label_columns and data.ndim == 2]
    if not grey:
        return None
    return float(min(g.min() for g in grey)), float(max(g.max() for g in grey))


def _draw_image(axes: Any, data: np.ndarray, limits: tuple[float, float] | None) -> None:
    if data.ndim == 3:
        axes.imshow(data, interpolation="nearest")
        return
    low, high = limits if limits is not None else (float(data.min()), float(data.max()))
    if high <= low:
        high = low + 1.0
    axes.imshow(data, cmap="gray", vmin=low, vmax=high, interpolation="nearest")


def _draw_labels(
    axes: Any, labels: np.ndarray, base: np.ndarray | None, *, colours: np.ndarray, alpha: float
) -> None:
    if base is None:
        axes.imshow(np.zeros((*labels.shape, 3)), interpolation="nearest")
        opacity = 1.0
    else:
        _draw_image(axes, base, None)
        opacity = alpha
    rgba = np.zeros((*labels.shape, 4))
    inside = labels > 0
    rgba[inside, :3] = colours[labels[inside] - 1]
    rgba[inside, 3] = opacity
    axes.imshow(rgba, interpolation="nearest")
