"""Input checks shared by the plots, and the one error type they raise.

Every plot checks its input before it draws or writes anything, so bad input costs no
time and leaves no file. The error is one line that names the plot and the problem.
"""

from __future__ import annotations

from collections.abc import Sized
from pathlib import Path

import numpy as np
import numpy.typing as npt

from medtk.atomic import check_new_output
from medtk.errors import BadInputError

__all__ = ["PlotInputError", "as_vector", "check_output", "same_length"]


class PlotInputError(BadInputError, ValueError):
    """A plot cannot draw its input: wrong shapes, lengths or values (exit 2).

    A ``ValueError`` too, so code that calls the plots as plain Python functions can catch
    the usual type.
    """

    def __init__(self, plot: str, problem: str) -> None:
        message = f"{plot}: {problem}"
        super().__init__(" ".join(message.split()))  # one line, whatever went in


def check_output(plot: str, path: object, *, overwrite: bool) -> None:
    """Refuse, before any work, an output that is not ``.png`` or may not be written.

    An existing file is refused unless ``overwrite``; a folder is always refused.
    """
    suffix = str(path).rsplit(".", 1)[-1].lower() if "." in str(path) else ""
    if suffix != "png":
        raise PlotInputError(plot, f"the output {str(path)!r} must end in .png (plots are PNG)")
    check_new_output(Path(str(path)), overwrite=overwrite)


def as_vector(plot: str, what: str, values: npt.ArrayLike) -> np.ndarray:
    """A 1D float array of finite values, or a one-line error naming ``what``."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise PlotInputError(plot, f"{what} must be numbers") from None
    if array.ndim != 1:
        raise PlotInputError(plot, f"{what} must be one-dimensional, got shape {array.shape}")
    if array.size == 0:
        raise PlotInputError(plot, f"{what} is empty")
    if not np.all(np.isfinite(array)):
        raise PlotInputError(plot, f"{what} holds NaN or infinite values")
    return array


def same_length(plot: str, **named: Sized) -> None:
    """Refuse sequences whose lengths differ, naming each with its length."""
    lengths = {name: len(values) for name, values in named.items()}
    if len(set(lengths.values())) > 1:
        told = ", ".join(f"{name} has {n}" for name, n in lengths.items())
        raise PlotInputError(plot, f"lengths differ: {told}")
