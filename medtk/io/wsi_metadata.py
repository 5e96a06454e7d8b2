"""Physical units, microns per pixel and objective power as slide and microscope files state them.

The TIFF and OpenSlide readers meet the same facts written many ways: ``"µm"``,
``"micron"``, ``"\\u00B5m"`` or ``"um"``; ``"20"``, ``"20.0"`` or ``"20x"``; pixels per
centimetre or per inch. These helpers turn them into what medtk stores: NGFF unit names,
plain floats and µm per pixel, and drop what cannot be parsed (a wrong number is worse
than none).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from medtk.io.source import MICROMETER

#: Unit spellings found in OME-XML, ImageJ descriptions and vendor metadata → NGFF names.
UNIT_NAMES: dict[str, str] = {
    "pm": "picometer",
    "picometer": "picometer",
    "å": "angstrom",
    "angstrom": "angstrom",
    "nm": "nanometer",
    "nanometer": "nanometer",
    "µm": MICROMETER,
    "um": MICROMETER,
    "micron": MICROMETER,
    "microns": MICROMETER,
    "micrometer": MICROMETER,
    "micrometre": MICROMETER,
    "mm": "millimeter",
    "millimeter": "millimeter",
    "millimetre": "millimeter",
    "cm": "centimeter",
    "centimeter": "centimeter",
    "centimetre": "centimeter",
    "m": "meter",
    "meter": "meter",
    "metre": "meter",
    "in": "inch",
    "inch": "inch",
}
#: Size of each NGFF length unit in micrometres.
MICROMETERS_PER: dict[str, float] = {
    "picometer": 1e-6,
    "angstrom": 1e-4,
    "nanometer": 1e-3,
    MICROMETER: 1.0,
    "millimeter": 1e3,
    "centimeter": 1e4,
    "meter": 1e6,
    "inch": 25400.0,
}
_MICRO_SIGNS = ("\\u00b5", "\u03bc", "\u00b5")  # ImageJ's escaped µ, Greek mu, micro sign


def unit_name(text: object) -> str | None:
    """The NGFF name of a length unit as a file spells it; ``None`` for pixels or unknown.

    :param text: e.g. ``"µm"``, ``"micron"``, ``"\\u00B5m"``, ``"nm"``, ``"mm"``.
    """
    if not isinstance(text, str):
        return None
    flat = text.strip().lower()
    for sign in _MICRO_SIGNS:
        flat = flat.replace(sign, "µ")
    return UNIT_NAMES.get(flat)


def positive_float(value: object) -> float | None:
    """``value`` as a finite float > 0, or ``None``: files write ``0`` or junk for unknown.

    :param value: a number or its text, possibly with a trailing ``x`` (``"20x"``).
    """
    if isinstance(value, bool):
        return None
    try:
        number = float(str(value).strip().rstrip("xX").strip())
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number > 0 else None


def tidy(number: float) -> float | int:
    """A float without binary noise (10 significant digits); integral magnifications as int.

    Spacings computed from rationals (``1 / (10000 / 0.499)``) otherwise end in
    ``…0000001``, which then shows in every store's metadata.
    """
    value = float(f"{number:.10g}")
    return int(value) if value.is_integer() and abs(value) < 1e6 else value


def objective_power(value: object) -> float | int | None:
    """The objective magnification (``20``, ``40``, ``2.5``) from its text, or ``None``."""
    number = positive_float(value)
    return None if number is None else tidy(number)


def common_unit(
    found: Mapping[str, tuple[float, str]],
) -> tuple[dict[str, float], str]:
    """Spacings that a file gave in possibly different units, brought to one unit.

    When every axis uses the same unit it is kept (a CT in millimetres stays in
    millimetres); mixed units are converted to micrometres, so that the pyramid planner
    compares like with like.

    :param found: axis → ``(value, NGFF unit name)`` for the axes the file states.
    :returns: axis → value in the common unit, and that unit (``""`` when none is known).
    """
    if not found:
        return {}, ""
    units = {unit for _, unit in found.values()}
    if len(units) == 1:
        (unit,) = units
        return {axis: float(tidy(value)) for axis, (value, _) in found.items()}, unit
    return {
        axis: float(tidy(value * MICROMETERS_PER[unit])) for axis, (value, unit) in found.items()
    }, MICROMETER


def to_micrometers(value: float, unit: str) -> float | None:
    """``value`` in ``unit`` (an NGFF name) as micrometres; ``None`` for unknown units."""
    factor = MICROMETERS_PER.get(unit)
    return None if factor is None else float(tidy(value * factor))


def aperio_fields(description: str) -> dict[str, str]:
    """The ``key = value`` fields of an Aperio ImageDescription (``…|AppMag = 20|MPP = 0.499``).

    Aperio (and scanners imitating it) write the first line as free text, then fields
    separated by ``|``; anything without `` = `` is skipped.
    """
    fields: dict[str, str] = {}
    for part in description.split("|"):
        key, sep, value = part.partition("=")
        if sep and key.strip():
            fields.setdefault(key.strip(), value.strip())
    return fields


_APERIO = re.compile(r"^\s*Aperio", re.IGNORECASE)


def is_aperio(description: str) -> bool:
    """True for an Aperio-style ImageDescription (SVS, and TIFFs that copy its header)."""
    return bool(_APERIO.match(description)) and "|" in description


def aperio_mpp_and_power(description: str) -> tuple[float | None, float | int | None]:
    """``(µm per pixel, objective power)`` from Aperio-style fields, each ``None`` if absent.

    Converters and generators copy Aperio's ``|AppMag = 20|MPP = 0.5`` fields without its
    header line (OpenSlide then calls the file generic TIFF), so the fields are read
    wherever they appear after a ``|``.
    """
    if "|" not in description:
        return None, None
    fields = aperio_fields(description)
    mpp = positive_float(fields.get("MPP"))
    return (None if mpp is None else float(tidy(mpp))), objective_power(fields.get("AppMag"))
