"""The four NAFLD targets and how raw pathology scores merge into classes.

NASH CRN scores (Kleiner et al., Hepatology 2005): steatosis 0–3, lobular inflammation
0–3, hepatocyte ballooning 0–2 and fibrosis stage 0–4 (the source data also holds 3.5,
a stage between bridging fibrosis and cirrhosis). Small cohorts have few patients at the
extremes, so the source merges neighbouring scores into two or three classes; the
merging is configurable as a string such as ``"0|1-2|3-4"`` — groups separated by ``|``,
each a value or an inclusive range.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from medtk.errors import BadInputError

TARGETS: tuple[str, ...] = ("fibrosis", "steatosis", "lobular", "ballooning")

#: The source's merging of each target's raw scores into classes.
DEFAULT_MERGES: dict[str, str] = {
    "fibrosis": "0|1-2|3-4",
    "steatosis": "0-1|2-3",
    "lobular": "0|1|2-3",
    "ballooning": "0|1|2",
}


@dataclass(frozen=True)
class Merge:
    """Raw scores → class indices: ``groups[k]`` is the inclusive range of class ``k``."""

    text: str
    groups: tuple[tuple[float, float], ...]

    @property
    def classes(self) -> int:
        return len(self.groups)

    def names(self) -> list[str]:
        """Readable class names such as ``"1-2"``."""
        return [part.strip() for part in self.text.split("|")]

    def __call__(self, score: float) -> int:
        """The class of a raw score; a score in no group is bad input."""
        for index, (low, high) in enumerate(self.groups):
            if low <= score <= high:
                return index
        raise BadInputError(f"score {score:g} falls in no class of the merging {self.text!r}")


def parse_merge(text: str) -> Merge:
    """``"0|1-2|3-4"`` → a :class:`Merge`; groups must not overlap and need two or more."""
    groups: list[tuple[float, float]] = []
    for part in text.split("|"):
        bounds = [b.strip() for b in part.strip().split("-")]
        try:
            values = [float(b) for b in bounds]
        except ValueError:
            values = []
        if len(values) not in (1, 2) or any(math.isnan(v) for v in values):
            raise BadInputError(
                f"merging {text!r}: {part.strip()!r} is not a score or a range like 1-2"
            )
        low, high = values[0], values[-1]
        if low > high:
            raise BadInputError(f"merging {text!r}: range {part.strip()!r} runs backwards")
        groups.append((low, high))
    if len(groups) < 2:
        raise BadInputError(f"merging {text!r} makes fewer than two classes")
    ordered = sorted(groups)
    for (_, high), (low, _) in itertools.pairwise(ordered):
        if low <= high:
            raise BadInputError(f"merging {text!r}: groups overlap")
    return Merge(text=text, groups=tuple(groups))


def merge_for(target: str, override: str | None = None) -> Merge:
    """The merging of ``target``: ``override`` if given, else the source's."""
    if target not in TARGETS:
        raise BadInputError(f"unknown target {target!r}; choose from {', '.join(TARGETS)}")
    return parse_merge(override or DEFAULT_MERGES[target])


def class_labels(scores: Sequence[float], merge: Merge) -> list[int]:
    """Every raw score's class."""
    return [merge(float(score)) for score in scores]
