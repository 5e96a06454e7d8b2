"""A rendered picture written as PNG, with its legend, title and a note of what was read.

The legend sits in a column right of the render (which is rendered that much narrower,
so the legend never hides a surface); the title and the note are drawn over the render,
top left and bottom left. matplotlib draws them, whichever engine rendered the pixels,
in the plots' fonts. The PNG is exactly ``--size`` and is written aside, then renamed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from medtk.viz.render.classes import LEGEND_MAX, ClassStyle
from medtk.viz.style import FONT

DPI = 100
#: Render background and the legend column's: black under volumes, white under surfaces.
DARK, LIGHT = "#000000", "#FFFFFF"


def _figure(width: int, height: int, background: str) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, facecolor=background)
    FigureCanvasAgg(figure)
    return figure


def _legend(figure: Any, styles: Sequence[ClassStyle], *, dark: bool) -> Any:
    from matplotlib.patches import Patch

    shown = list(styles[:LEGEND_MAX])
    handles = [Patch(facecolor=s.rgb, edgecolor="none", label=s.name) for s in shown]
    if len(styles) > LEGEND_MAX:
        more = f"… {len(styles) - LEGEND_MAX} more"
        handles.append(Patch(facecolor="none", edgecolor="none", label=more))
    return figure.legend(
        handles=handles,
        loc="upper right",
        bbox_to_anchor=(1.0, 0.99),
        fontsize=FONT["legend"],
        frameon=False,
        labelcolor="#EEEEEE" if dark else "#222222",
        borderaxespad=0.4,
    )


def legend_width(styles: Sequence[ClassStyle], size: tuple[int, int], *, dark: bool) -> int:
    """Pixels the legend column of ``styles`` takes (0 without styles), at most half the
    picture's width."""
    if not styles:
        return 0
    figure = _figure(size[0], size[1], DARK if dark else LIGHT)
    legend = _legend(figure, styles, dark=dark)
    box = legend.get_window_extent(figure.canvas.get_renderer())
    return min(int(np.ceil(box.width)) + 12, size[0] // 2)


def render_size(
    size: tuple[int, int], styles: Sequence[ClassStyle], *, dark: bool
) -> tuple[int, int]:
    """The size to render at, so that render and legend column make ``size`` together."""
    return size[0] - legend_width(styles, size, dark=dark), size[1]


def write_picture(
    path: Path,
    image: np.ndarray,
    size: tuple[int, int],
    *,
    styles: Sequence[ClassStyle] = (),
    title: str | None = None,
    note: str | None = None,
    dark: bool = False,
    overwrite: bool = False,
) -> Path:
    """A ``size`` PNG: ``image`` (``(H, W', 3)`` uint8, rendered at
    :func:`render_size`) on the left, the legend of ``styles`` in the column right of it,
    ``title`` top left and ``note`` bottom left."""
    from medtk.atomic import written_aside

    width, height = size
    background = DARK if dark else LIGHT
    figure = _figure(width, height, background)
    axes = figure.add_axes((0.0, 0.0, image.shape[1] / width, 1.0))
    axes.imshow(image, interpolation="nearest", aspect="auto")
    axes.set_axis_off()
    if styles:
        _legend(figure, styles, dark=dark)
    ink = "#EEEEEE" if dark else "#222222"
    if title:
        axes.text(
            0.012,
            0.985,
            title,
            transform=axes.transAxes,
            va="top",
            ha="left",
            fontsize=FONT["title"],
            color=ink,
        )
    if note:
        axes.text(
            0.012,
            0.012,
            note,
            transform=axes.transAxes,
            va="bottom",
            ha="left",
            fontsize=FONT["note"],
            color="#AAAAAA" if dark else "#666666",
        )
    with written_aside(Path(path), overwrite=overwrite) as work:
        figure.savefig(work, format="png", dpi=DPI, facecolor=background)
    return Path(path)
