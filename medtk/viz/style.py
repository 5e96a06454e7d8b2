"""One look for every plot: palette, fonts, figure making and atomic PNG writing.

The plots draw on their own :class:`matplotlib.figure.Figure` with the Agg canvas and
never touch pyplot or the global ``rcParams``: they run headless and may run in several
threads at once. Font sizes and line widths are passed to each artist instead of being
set globally. matplotlib is imported inside the functions, so importing ``medtk.viz``
stays cheap.

The palette is Okabe and Ito's (2008), distinguishable with the common colour-vision
deficiencies; sequential maps are single-hue (``Blues``), readable in grey too.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from medtk.atomic import written_aside

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "BAND_ALPHA",
    "DPI",
    "FONT",
    "GREY",
    "INK",
    "PALETTE",
    "colour",
    "finish_axes",
    "legend",
    "new_figure",
    "save_png",
]

#: Okabe–Ito colours in the order plots use them (black is kept for means and text).
PALETTE = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#D55E00",  # vermillion
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#F0E442",  # yellow
)
INK = "#000000"
GREY = "#7F7F7F"
#: Opacity of confidence bands over a white background.
BAND_ALPHA = 0.2
#: Default resolution of written PNGs, in dots per inch.
DPI = 150
#: Font sizes in points.
FONT = {"title": 11.0, "label": 10.0, "tick": 9.0, "legend": 8.5, "note": 8.0}


def colour(index: int) -> str:
    """The ``index``-th palette colour, cycling."""
    return PALETTE[index % len(PALETTE)]


def new_figure(width: float, height: float) -> Figure:
    """A white figure of ``width`` × ``height`` inches on an Agg canvas, laid out by matplotlib."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), facecolor="white", layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def finish_axes(
    axes: Axes,
    *,
    title: str | None = None,
    xlabel: str | None = None,
    ylabel: str | None = None,
    grid: bool = True,
) -> None:
    """Title, labels, tick sizes, a light grid and no top/right spines."""
    if title:
        axes.set_title(title, fontsize=FONT["title"])
    if xlabel:
        axes.set_xlabel(xlabel, fontsize=FONT["label"])
    if ylabel:
        axes.set_ylabel(ylabel, fontsize=FONT["label"])
    axes.tick_params(labelsize=FONT["tick"])
    axes.spines["top"].set_visible(False)
    axes.spines["right"].set_visible(False)
    if grid:
        axes.grid(True, color="#E5E5E5", linewidth=0.6)
        axes.set_axisbelow(True)


def legend(axes: Axes, **options: Any) -> None:
    """A legend in the plots' font size, on a slightly transparent white box."""
    options.setdefault("fontsize", FONT["legend"])
    options.setdefault("frameon", True)
    options.setdefault("framealpha", 0.9)
    options.setdefault("edgecolor", "#CCCCCC")
    axes.legend(**options)


def save_png(figure: Figure, path: str | Path, *, dpi: int, overwrite: bool) -> Path:
    """Write ``figure`` as PNG aside and rename it onto ``path``; return ``path``.

    A failure while rendering or writing leaves no file (and no temporary one) behind; an
    existing ``path`` is replaced only once the new image is complete, and only if
    ``overwrite``.
    """
    path = Path(path)
    with written_aside(path, overwrite=overwrite) as work:
        figure.savefig(work, format="png", dpi=dpi, facecolor="white")
    return path
