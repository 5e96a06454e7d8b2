"""What the renderers check and choose before drawing: stores, label images, windows.

Every check raises :class:`~medtk.errors.BadInputError` with one line naming the option
or the store, before anything is read or drawn.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from medtk.errors import BadInputError

if TYPE_CHECKING:
    from medtk.io.store import Store
    from medtk.viz.render.region import Sampling

#: Units as the notes under a picture write them.
UNITS = {"millimeter": "mm", "micrometer": "µm", "nanometer": "nm", "meter": "m"}


def open_volume(path: Path, what: str) -> tuple[Store, tuple[int, int, int]]:
    """A store and its level-0 ``(z, y, x)`` shape; a 2D store is refused."""
    from medtk.io.store import Store
    from medtk.viz.render.region import require_volume

    store = Store.open(path)
    return store, require_volume(store, what)


def check_channel(store: Store, channel: int) -> None:
    """Refuse a ``--channel`` the store does not have."""
    if "c" in store.axes:
        count = store.levels[0].shape[store.axes.index("c")]
        if not 0 <= channel < count:
            raise BadInputError(
                f"--channel {channel}: {str(store.path)!r} has channels 0 to {count - 1}"
            )
    elif channel != 0:
        raise BadInputError(f"--channel {channel}: {str(store.path)!r} has no channels")


def is_label_image(store: Store) -> bool:
    """True when the store's image itself holds labels (a label image, a prediction)."""
    if not np.issubdtype(np.dtype(store.levels[0].dtype), np.integer):
        return False
    prediction = store.medtk.get("prediction") or {}
    return "image-label" in store.ome or prediction.get("output") == "labels"


def pick_label(store: Store, name: str | None, option: str, *, required: bool) -> Store | None:
    """The label image to draw: ``name`` under labels/, else the only one there, else (when
    ``required``) the store itself if its image holds labels; None when there is none and
    none is ``required``."""
    if name:
        return store.label(name)
    names = store.labels
    if len(names) == 1:
        return store.label(names[0])
    if len(names) > 1:
        raise BadInputError(
            f"store {str(store.path)!r} has label images {', '.join(names)}; "
            f"choose one with {option}"
        )
    if not required:
        return None
    if is_label_image(store):
        return store
    raise BadInputError(
        f"store {str(store.path)!r} has no label image under labels/ and its image is not "
        "one (ingest one with --label, or render the label store itself)"
    )


def same_grid(a: Store, b: Store, what: str) -> None:
    """Refuse two stores whose level-0 volumes differ in shape."""
    from medtk.viz.render.region import require_volume

    shape_a, shape_b = require_volume(a, what), require_volume(b, what)
    if shape_a != shape_b:
        raise BadInputError(
            f"{what} {str(b.path)!r} has shape {shape_b}, but {str(a.path)!r} has "
            f"{shape_a}; both must cover the same voxels"
        )


def colour_ramp(name: str) -> np.ndarray:
    """16 RGB (0–1) steps of a matplotlib colour map; an unknown name is one line."""
    from matplotlib import colormaps

    try:
        cmap = colormaps[name]
    except KeyError:
        raise BadInputError(
            f"--cmap {name!r} is not a matplotlib colour map (e.g. bone, gray, magma, viridis)"
        ) from None
    return np.asarray(cmap(np.linspace(0.0, 1.0, 16)))[:, :3]


def check_window(given: tuple[float, float] | None) -> None:
    """Refuse a ``--window`` whose LOW is not below its HIGH."""
    if given is not None and not given[0] < given[1]:
        raise BadInputError(f"--window {given[0]:g} {given[1]:g}: LOW must be below HIGH")


def window(
    given: tuple[float, float] | None, values: np.ndarray, percentiles: tuple[float, float]
) -> tuple[float, float]:
    """``given``, else the ``percentiles`` of ``values`` (their range where those tie)."""
    if given is not None:
        check_window(given)
        return float(given[0]), float(given[1])
    finite = values[np.isfinite(values)] if values.dtype.kind == "f" else values.ravel()
    if finite.size == 0:
        return 0.0, 1.0
    low, high = (float(v) for v in np.percentile(finite, percentiles))
    if not high > low:
        low, high = float(finite.min()), float(finite.max())
    if not high > low:
        high = low + 1.0
    return low, high


def parse_point(text: str | None, sampling: Sampling) -> tuple[int, int, int]:
    """``"z,y,x"`` in level-0 voxels, inside the region (default: its centre)."""
    if text is None or not text.strip():
        c = [(lo + hi - 1) // 2 for lo, hi in sampling.roi]
        return c[0], c[1], c[2]
    parts = [p.strip() for p in text.split(",")]
    try:
        if len(parts) != 3:
            raise ValueError
        point = [int(p) for p in parts]
    except ValueError:
        raise BadInputError(f"--point {text!r}: give z,y,x as three whole numbers") from None
    for axis, value, (lo, hi) in zip("zyx", point, sampling.roi, strict=True):
        if not lo <= value < hi:
            raise BadInputError(
                f"--point {text!r}: {axis} = {value} is outside the region's {lo}:{hi}"
            )
    return point[0], point[1], point[2]


def display_name(store: Store) -> str:
    """``ct.zarr``, or ``ct.zarr/labels/mask`` for a label image."""
    path = store.path
    if path.parent.name == "labels":
        return f"{path.parent.parent.name}/labels/{path.name}"
    return path.name


def note(store: Store, sampling: Sampling, extra: str = "") -> str:
    """What a picture shows, for the line under it: store, level, voxels and their size."""
    from medtk.viz.render.region import level_factors

    nz, ny, nx = sampling.shape
    sz, sy, sx = sampling.spacing
    unit = UNITS.get(store.unit, store.unit)
    reduced = sampling.factors != level_factors(store, sampling.level)
    level = f"level {sampling.level}" + (" reduced" if reduced else "")
    text = (
        f"{display_name(store)} · {level} · {nz}×{ny}×{nx} voxels of "
        f"{sz:.3g}×{sy:.3g}×{sx:.3g} {unit}"
    ).rstrip()
    return f"{text} · {extra}" if extra else text
