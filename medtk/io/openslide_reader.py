"""Whole-slide images of the scanner vendors' formats via OpenSlide (SVS, NDPI, MRXS, SCN …).

OpenSlide hides each vendor's layout (JPEG tiles in TIFF pages, MIRAX's index and data
files, Hamamatsu's JPEG restart markers) behind one call, ``read_region``, which decodes
only the tiles a region touches. Its handles are thread-safe, so one handle serves every
reader thread. Generic tiled TIFFs, which OpenSlide also opens, are left to the TIFF
reader: tifffile reads them faster and keeps their dtype and spacing tags.

Pixels come back as RGBA. Areas the scanner never imaged are fully transparent; they are
composited onto white, so that they look like the glass around the tissue.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from medtk.io.sniff import describe, input_error, is_regular_file
from medtk.io.source import MICROMETER, ImageSource, Region, metadata_from
from medtk.io.wsi_metadata import objective_power, positive_float, tidy

#: Tile size ``tile`` suggests when the slide states none.
DEFAULT_TILE = 512
#: OpenSlide's vendor name for TIFFs with no vendor layout (left to the TIFF reader).
GENERIC_TIFF = "generic-tiff"


class OpenSlideReader:
    """Whole-slide images of any vendor format OpenSlide knows, read as 8-bit RGB."""

    def sniff(self, path: Path) -> bool:
        """True when OpenSlide recognises a vendor format (not a generic TIFF)."""
        try:
            if not is_regular_file(path):
                return False
            import openslide

            vendor = openslide.OpenSlide.detect_format(str(path))
        except Exception:  # sniffing must never raise
            return False
        return vendor is not None and vendor != GENERIC_TIFF

    def open(self, path: Path) -> ImageSource:
        """Open an OpenSlide handle and describe level 0; pixels are read per region."""
        import openslide

        path = Path(path)
        if not is_regular_file(path):
            raise input_error(path, "not a whole-slide image file")
        try:
            slide = openslide.OpenSlide(str(path))
        except openslide.OpenSlideUnsupportedFormatError:
            raise input_error(
                path, "not a slide OpenSlide can read (unknown format, or a damaged file)"
            ) from None
        except Exception as exc:
            raise input_error(path, f"unreadable slide ({describe(exc)})") from None
        try:
            return _describe(path, slide)
        except Exception as exc:
            slide.close()
            raise input_error(path, f"unreadable slide ({describe(exc)})") from None


def _describe(path: Path, slide: Any) -> ImageSource:
    """The ``ImageSource`` for level 0 of an open slide."""
    properties = dict(slide.properties)
    width, height = (int(n) for n in slide.dimensions)
    if width <= 0 or height <= 0:
        raise ValueError(f"level 0 is {width}×{height} pixels")
    mpp_y = positive_float(properties.get("openslide.mpp-y"))
    mpp_x = positive_float(properties.get("openslide.mpp-x"))
    mpp_y, mpp_x = mpp_y or mpp_x, mpp_x or mpp_y  # one stated: pixels are square
    known = mpp_y is not None and mpp_x is not None
    tile_h = int(positive_float(properties.get("openslide.level[0].tile-height")) or DEFAULT_TILE)
    tile_w = int(positive_float(properties.get("openslide.level[0].tile-width")) or DEFAULT_TILE)
    vendor = properties.get("openslide.vendor")
    metadata = {
        "modality": "WSI",
        "mpp": [float(tidy(mpp_y)), float(tidy(mpp_x))] if known else None,
        "magnification": objective_power(properties.get("openslide.objective-power")),
        "vendor": vendor,
        "native_levels": int(slide.level_count),
        "native_downsamples": [float(tidy(d)) for d in slide.level_downsamples],
        "associated_images": sorted(slide.associated_images.keys()) or None,
        "bounds": _bounds(properties),
    }

    def read(region: Region) -> np.ndarray:
        c, y, x = region
        try:
            image = slide.read_region((x.start, y.start), 0, (x.stop - x.start, y.stop - y.start))
            rgba = np.asarray(image)
        except Exception as exc:
            raise input_error(
                path,
                f"cannot read slide region y {y.start}:{y.stop}, x {x.start}:{x.stop} "
                f"({describe(exc)})",
            ) from None
        rgb = on_white(rgba)
        return np.ascontiguousarray(np.moveaxis(rgb, -1, 0)[c])

    return ImageSource(
        path=path,
        format="openslide",
        axes=("c", "y", "x"),
        shape=(3, height, width),
        dtype=np.dtype(np.uint8),
        spacing=(float(tidy(mpp_y)), float(tidy(mpp_x))) if known else (1.0, 1.0),
        unit=MICROMETER if known else "",
        read=read,
        tile=(3, min(tile_h, height), min(tile_w, width)),
        metadata=metadata_from(metadata),
        files=_files(path, vendor),
        close=slide.close,
    )


def on_white(rgba: np.ndarray) -> np.ndarray:
    """RGB from (not premultiplied) RGBA, composited onto white where alpha < 255.

    :param rgba: ``(h, w, 4)`` uint8 as OpenSlide's Python binding returns it.
    """
    rgb = rgba[..., :3]
    alpha = rgba[..., 3:]
    if alpha.size == 0 or bool((alpha == 255).all()):
        return np.array(rgb)
    a = alpha.astype(np.uint32)
    blended = (rgb.astype(np.uint32) * a + 255 * (255 - a) + 127) // 255
    return blended.astype(np.uint8)


def _bounds(properties: dict[str, str]) -> dict[str, int] | None:
    """The scanned area's bounding box in level-0 pixels, when the slide states it."""
    keys = ("x", "y", "width", "height")
    values = [properties.get(f"openslide.bounds-{k}") for k in keys]
    if any(v is None for v in values):
        return None
    try:
        return {k: int(v) for k, v in zip(keys, values, strict=True)}  # type: ignore[arg-type]
    except ValueError:
        return None


def _files(path: Path, vendor: str | None) -> tuple[Path, ...]:
    """The slide file, and for MIRAX the data folder beside it, whose bytes are the image."""
    if vendor == "mirax":
        folder = path.with_suffix("")
        if folder.is_dir():
            return (path, *sorted(p for p in folder.iterdir() if p.is_file()))
    return (path,)
