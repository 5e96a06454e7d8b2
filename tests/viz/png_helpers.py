"""Reading the written PNGs back: pixels, colours and where they sit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage


def read_png(path: Path) -> np.ndarray:
    """The PNG's pixels as ``(height, width, 3)`` uint8, after checking it is a PNG."""
    with Image.open(path) as image:
        assert image.format == "PNG"
        image.verify()
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def png_size(path: Path) -> tuple[int, int]:
    """``(width, height)`` in pixels."""
    with Image.open(path) as image:
        return image.size


def rgb(colour: str) -> np.ndarray:
    """``"#0072B2"`` as floats 0–255."""
    colour = colour.lstrip("#")
    return np.array([int(colour[i : i + 2], 16) for i in (0, 2, 4)], dtype=np.float64)


def over(
    colour: str | np.ndarray, alpha: float, background: float | np.ndarray = 255.0
) -> np.ndarray:
    """``colour`` at opacity ``alpha`` over ``background`` (white by default)."""
    front = rgb(colour) if isinstance(colour, str) else np.asarray(colour, dtype=np.float64)
    return alpha * front + (1.0 - alpha) * np.asarray(background, dtype=np.float64)


def near(pixels: np.ndarray, colour: str | np.ndarray, tolerance: float = 3.0) -> np.ndarray:
    """Mask of the pixels within ``tolerance`` (per channel) of ``colour``."""
    target = rgb(colour) if isinstance(colour, str) else np.asarray(colour, dtype=np.float64)
    return np.all(np.abs(pixels.astype(np.float64) - target) <= tolerance, axis=-1)


def largest_blob(mask: np.ndarray) -> tuple[float, float, int]:
    """Centroid ``(y, x)`` and size of the largest connected region of ``mask``."""
    labels, count = ndimage.label(mask)
    assert count > 0, "no pixel of that colour"
    sizes = ndimage.sum(mask, labels, index=range(1, count + 1))
    biggest = int(np.argmax(sizes)) + 1
    y, x = ndimage.center_of_mass(labels == biggest)
    return float(y), float(x), int(sizes[biggest - 1])


def bounding_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    """``(top, bottom, left, right)`` of the true pixels, inclusive."""
    ys, xs = np.nonzero(mask)
    assert ys.size, "empty mask"
    return int(ys.min()), int(ys.max()), int(xs.min()), int(xs.max())
