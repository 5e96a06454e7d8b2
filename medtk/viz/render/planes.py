"""Three orthogonal panels of a volume: slices through a point, or maximum projections.

The panels are the xy, xz and yz planes, drawn in physical proportions (a CT's 5 mm
slices look 5 mm thick, not one pixel): xy with x to the right and y downward, xz and yz
with z upward, as the views of :mod:`medtk.viz.render.camera`. Label images are blended
over the grey values in their class colours. Drawn with matplotlib on its own figure,
headless, and written aside then renamed (:func:`medtk.viz.style.save_png`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medtk.viz.render.classes import LEGEND_MAX, ClassStyle
from medtk.viz.style import FONT

#: Panel name → (axis it cuts or projects along, row axis, column axis, rows upward).
PANELS: dict[str, tuple[int, int, int, bool]] = {
    "xy": (0, 1, 2, False),
    "xz": (1, 0, 2, True),
    "yz": (2, 0, 1, True),
}
AXIS_NAMES = "zyx"


@dataclass(frozen=True)
class Panel:
    """One 2D picture: grey values (rows × columns in the panel's own axes) and labels."""

    name: str
    image: np.ndarray
    labels: np.ndarray | None
    title: str


def orient(plane: np.ndarray, name: str) -> np.ndarray:
    """A plane cut from a ``(z, y, x)`` volume across the panel's axis, as displayed:
    row 0 at the top (so z, which points up, is flipped)."""
    _, rows_axis, cols_axis, upward = PANELS[name]
    data = plane if rows_axis < cols_axis else plane.T
    return data[::-1] if upward else data


def blend(
    grey: np.ndarray,
    labels: np.ndarray | None,
    styles: Sequence[ClassStyle],
    *,
    window: tuple[float, float],
    alpha: float,
    colours: np.ndarray | None = None,
) -> np.ndarray:
    """RGB (0–1): ``grey`` through ``window`` (and a colour ramp, grey by default) with
    each labelled pixel mixed ``alpha`` toward its class colour."""
    low, high = window
    t = np.clip((grey.astype(np.float64) - low) / max(high - low, 1e-12), 0.0, 1.0)
    if colours is None:
        rgb = np.repeat(t[..., None], 3, axis=-1)
    else:
        ramp = np.asarray(colours, dtype=np.float64)
        position = t * (len(ramp) - 1)
        rgb = np.stack(
            [np.interp(position, np.arange(len(ramp)), ramp[:, c]) for c in range(3)], axis=-1
        )
    if labels is not None and styles:
        top = max(s.value for s in styles)
        palette = np.zeros((top + 1, 3))
        known = np.zeros(top + 1, dtype=bool)
        for style in styles:
            palette[style.value] = style.rgb
            known[style.value] = True
        index = np.where((labels >= 0) & (labels <= top), labels, 0).astype(np.int64)
        mask = known[index]
        rgb[mask] = (1 - alpha) * rgb[mask] + alpha * palette[index[mask]]
    return rgb


def draw(
    path: Path,
    panels: Sequence[Panel],
    spacing: tuple[float, float, float],
    *,
    window: tuple[float, float],
    colours: np.ndarray | None,
    styles: Sequence[ClassStyle],
    alpha: float,
    point: tuple[float, float, float] | None,
    title: str | None,
    note: str | None,
    size: tuple[int, int],
    legend: bool,
    overwrite: bool,
) -> Path:
    """The panels side by side, ``size`` = (width, height) pixels, as a PNG at ``path``.

    :param point: the sampled ``(z, y, x)`` the slices go through, marked by thin lines
        in every panel (None for projections).
    """
    from matplotlib.patches import Patch

    from medtk.viz.style import new_figure, save_png

    dpi = 100
    figure = new_figure(size[0] / dpi, size[1] / dpi)
    widths = []
    for panel in panels:
        _, rows_axis, cols_axis, _ = PANELS[panel.name]
        widths.append(panel.image.shape[1] * spacing[cols_axis])
    axes_row = figure.subplots(1, len(panels), width_ratios=widths, squeeze=False)[0]
    for axes, panel in zip(axes_row, panels, strict=True):
        _, rows_axis, cols_axis, _ = PANELS[panel.name]
        height = panel.image.shape[0] * spacing[rows_axis]
        width = panel.image.shape[1] * spacing[cols_axis]
        rgb = blend(panel.image, panel.labels, styles, window=window, alpha=alpha, colours=colours)
        axes.imshow(rgb, extent=(0.0, width, height, 0.0), interpolation="nearest", aspect="equal")
        if point is not None:
            _crosshair(axes, panel.name, point, spacing, panel.image.shape)
        axes.set_xticks([])
        axes.set_yticks([])
        axes.set_title(panel.title, fontsize=FONT["label"])
        axes.set_xlabel(f"{AXIS_NAMES[cols_axis]} →", fontsize=FONT["note"])
        up = "↑" if PANELS[panel.name][3] else "↓"
        axes.set_ylabel(f"{AXIS_NAMES[rows_axis]} {up}", fontsize=FONT["note"])
    if legend and styles:
        shown = list(styles[:LEGEND_MAX])
        handles = [Patch(color=s.rgb, label=s.name) for s in shown]
        if len(styles) > LEGEND_MAX:
            handles.append(Patch(color="white", label=f"… {len(styles) - LEGEND_MAX} more"))
        figure.legend(
            handles=handles, loc="outside right upper", fontsize=FONT["legend"], frameon=False
        )
    if title:
        figure.suptitle(title, fontsize=FONT["title"])
    if note:
        figure.supxlabel(note, fontsize=FONT["note"], color="#555555")
    return save_png(figure, path, dpi=dpi, overwrite=overwrite)


def _crosshair(
    axes: object,
    name: str,
    point: tuple[float, float, float],
    spacing: tuple[float, float, float],
    shape: tuple[int, ...],
) -> None:
    """Lines where the two other panels cut this one."""
    _, rows_axis, cols_axis, upward = PANELS[name]
    x = (point[cols_axis] + 0.5) * spacing[cols_axis]
    row = point[rows_axis] + 0.5
    if upward:
        row = shape[0] - row
    y = row * spacing[rows_axis]
    style = {"color": "#FFD54F", "linewidth": 0.6, "alpha": 0.6}
    axes.axvline(x, **style)  # type: ignore[attr-defined]
    axes.axhline(y, **style)  # type: ignore[attr-defined]
