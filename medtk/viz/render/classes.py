"""Colours and names of label classes, and the three colours of a comparison.

A class keeps the colour its store gives it: the NGFF ``image-label`` ``colors`` entry
that medtk writes for every label value at ingest (the colours napari shows), else the
same golden-angle colour medtk would have written. Names come from the label image's
metadata when it has them: NGFF ``image-label`` ``properties`` (``{"label-value": 1,
"class": "liver"}``; keys ``class``, ``name`` or ``label``), or medtk's own ``classes``
(a list indexed by value, or a mapping value → name).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from medtk.errors import BadInputError

if TYPE_CHECKING:
    from medtk.io.store import Store

#: The outcome colours of ``medtk render compare``: fixed, so pictures compare across runs.
#: Okabe–Ito bluish green, vermillion and blue (told apart with colour-vision deficiencies).
TRUE_POSITIVE = "#009E73"
FALSE_POSITIVE = "#D55E00"
FALSE_NEGATIVE = "#0072B2"
#: value in the outcome volume → (short name, legend text, colour).
OUTCOMES = {
    1: ("TP", "true positive (both)", TRUE_POSITIVE),
    2: ("FP", "false positive (prediction only)", FALSE_POSITIVE),
    3: ("FN", "false negative (truth only)", FALSE_NEGATIVE),
}
_NAME_KEYS = ("class", "name", "label")
#: Classes a legend lists at most; the rest are summed up in one line.
LEGEND_MAX = 16


@dataclass(frozen=True)
class ClassStyle:
    """How one class is drawn: its value, colour (RGB, 0–1) and legend text."""

    value: int
    rgb: tuple[float, float, float]
    name: str

    @property
    def hex(self) -> str:
        """``#RRGGBB``."""
        return "#" + "".join(f"{round(c * 255):02X}" for c in self.rgb)


def hex_rgb(colour: str) -> tuple[float, float, float]:
    """``"#009E73"`` → RGB floats 0–1."""
    text = colour.lstrip("#")
    r, g, b = (int(text[i : i + 2], 16) / 255.0 for i in (0, 2, 4))
    return r, g, b


def outcome_styles() -> list[ClassStyle]:
    """TP, FP and FN as classes 1, 2 and 3 of an outcome volume."""
    return [
        ClassStyle(value, hex_rgb(colour), f"{short}: {text}")
        for value, (short, text, colour) in OUTCOMES.items()
    ]


def label_values(store: Store) -> list[int]:
    """The label values a label image's metadata records (ingest and predict write them)."""
    medtk = store.medtk
    values = medtk.get("values")
    if values is None:
        values = (medtk.get("prediction") or {}).get("values")
    return sorted(int(v) for v in values or [])


def class_styles(store: Store | None, values: Iterable[int]) -> list[ClassStyle]:
    """Colour and name of every non-zero value in ``values``, as ``store`` describes them."""
    from medtk.io.store import _label_colour

    colours: dict[int, tuple[float, float, float]] = {}
    names: dict[int, str] = {}
    if store is not None:
        colours, names = _described(store)
    styles = []
    for value in sorted({int(v) for v in values} - {0}):
        rgb = colours.get(value) or tuple(c / 255.0 for c in _label_colour(value)[:3])
        name = names.get(value, f"class {value}")
        styles.append(ClassStyle(value, (rgb[0], rgb[1], rgb[2]), name))
    return styles


def _described(store: Store) -> tuple[dict[int, tuple[float, float, float]], dict[int, str]]:
    """Colours and names from a label image's NGFF and medtk metadata (where present)."""
    image_label: Mapping[str, Any] = store.ome.get("image-label") or {}
    colours = {}
    for entry in image_label.get("colors") or []:
        try:
            value = int(entry["label-value"])
            r, g, b = (float(c) / 255.0 for c in list(entry["rgba"])[:3])
        except (KeyError, TypeError, ValueError):
            continue
        colours[value] = (r, g, b)
    names: dict[int, str] = {}
    for entry in image_label.get("properties") or []:
        if not isinstance(entry, Mapping) or "label-value" not in entry:
            continue
        name = next((entry[k] for k in _NAME_KEYS if isinstance(entry.get(k), str)), None)
        if name:
            names[int(entry["label-value"])] = name
    classes = store.medtk.get("classes")
    if isinstance(classes, list):
        names.update({i: str(n) for i, n in enumerate(classes) if isinstance(n, str)})
    elif isinstance(classes, Mapping):
        for key, name in classes.items():
            if str(key).isdigit() and isinstance(name, str):
                names[int(key)] = name
    return colours, names


def check_class(value: int, known: Iterable[int], where: str) -> None:
    """Refuse class ``value`` unless it is a foreground class ``known`` holds."""
    known = sorted(set(known) - {0})
    if value <= 0:
        raise BadInputError(f"--class-id {value}: class 0 is the background; choose a class ≥ 1")
    if value not in known:
        listed = ", ".join(map(str, known[:20])) or "none"
        raise BadInputError(f"--class-id {value}: no class {value} in {where} (classes: {listed})")
