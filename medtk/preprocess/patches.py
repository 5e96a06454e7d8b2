"""``medtk preprocess patches``: the tissue patch grid of a slide, as a table and a picture."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from medtk.errors import BadInputError
from medtk.preprocess.config import PatchesConfig
from medtk.tasks import Task, TaskContext, TaskResult

if TYPE_CHECKING:
    from medtk.io.store import Store
    from medtk.ops.patches import PatchGrid

#: The tissue mask and thumbnail come from the finest level no larger than this.
THUMBNAIL_SIZE = 2048
TABLE = "patches.csv"
THUMBNAIL = "thumbnail.png"
SUMMARY = "patches.json"
#: The table's columns, as ``medtk.ops.patches.grid_rows`` names them.
COLUMNS = (
    "row", "col", "x", "y", "width", "height", "level", "level_x", "level_y",
    "level_size", "size", "tissue", "mean",
)  # fmt: skip


def thumbnail_level(store: Store, limit: int = THUMBNAIL_SIZE) -> int:
    """The finest level whose height and width are both at most ``limit`` (else the last)."""
    for index, level in enumerate(store.levels):
        if max(level.shape[-2:]) <= limit:
            return index
    return len(store.levels) - 1


def draw_thumbnail(
    rgb: np.ndarray, mask: np.ndarray, grid: PatchGrid, downsample: tuple[float, float]
) -> Any:
    """The level as a picture: tissue outline in green, kept patches boxed in blue."""
    from PIL import Image, ImageDraw
    from scipy.ndimage import binary_closing, binary_opening
    from skimage.morphology import disk
    from skimage.segmentation import find_boundaries

    picture = np.moveaxis(rgb, 0, -1).copy()
    smooth = binary_opening(binary_closing(mask, disk(2)), disk(2))  # an outline, not lace
    edge = find_boundaries(smooth, mode="inner")
    picture[edge] = (0, 170, 0)
    image = Image.fromarray(picture)
    draw = ImageDraw.Draw(image)
    dy, dx = downsample
    for x, y, w, h in zip(grid.x, grid.y, grid.width, grid.height, strict=True):
        box = (x / dx, y / dy, (x + w) / dx - 1, (y + h) / dy - 1)
        draw.rectangle(box, outline=(30, 60, 220))
    return image


class PatchesTask(Task):
    """Tissue patch grid of a whole-slide image store."""

    options: ClassVar = {"preprocess": PatchesConfig}

    def preprocess(self, config: PatchesConfig, ctx: TaskContext) -> TaskResult:
        """Lay a grid of SIZE × SIZE patches over a slide at a magnification (from the
        slide's own magnification or µm per pixel) and keep the tissue: patches whose mean
        intensity is above --background are dropped (the NAFLD rule), optionally also
        patches an Otsu tissue mask covers less than --min-tissue. Writes coordinates, not
        pixels: patches.csv (level-0 box, pyramid level and box to read, tissue fraction,
        mean), patches.json (the grid's resolution and counts) and thumbnail.png.
        """
        from medtk.atomic import check_new_output, written_aside
        from medtk.io.store import Store
        from medtk.ops.patches import drop_background, grid_rows, patch_grid
        from medtk.ops.tissue import mean_intensity_mask, otsu_mask

        store = Store.open(config.store)
        if store.axes != ("c", "y", "x") or store.levels[0].shape[0] != 3:
            raise BadInputError(
                f"{str(config.store)!r} is not an RGB slide (axes {''.join(store.axes)}, "
                f"shape {store.levels[0].shape}); patches need a cyx store with 3 channels"
            )
        out = config.out or store.path.with_name(f"{store.path.name.removesuffix('.zarr')}.patches")
        check_new_output(out, overwrite=config.overwrite, directory=True)

        low = thumbnail_level(store)
        rgb = np.asarray(store.array(low)[...])
        use_otsu = config.tissue in ("otsu", "both")
        mask = otsu_mask(rgb) if use_otsu else mean_intensity_mask(rgb, config.background)
        downsample = store.downsample(low)[-2:]
        grid = patch_grid(
            [level.shape for level in store.levels],
            [store.downsample(i)[-1] for i in range(len(store.levels))],
            store.medtk.get("mpp"),
            store.medtk.get("magnification"),
            size=config.size,
            magnification=None if config.mpp else config.magnification,
            mpp=config.mpp,
            stride=config.stride,
            tissue_mask=mask,
            mask_downsample=downsample,
            min_tissue=config.min_tissue if use_otsu else 0.0,
        )
        candidates = len(grid)
        if config.tissue in ("mean", "both"):
            ctx.log(f"{candidates} patches on the grid; measuring their mean intensity …")
            grid = drop_background(store.dask(grid.level), grid, config.background)
        rows = grid_rows(grid)
        summary = {
            "store": str(store.path.resolve()),
            "patches": len(grid),
            "candidates": candidates,
            "size": grid.size,
            "stride": grid.stride,
            "magnification": grid.magnification,
            "mpp": grid.mpp,
            "level": grid.level,
            "level_size": grid.level_size,
            "level_downsample": grid.level_downsample,
            "downsample": grid.downsample,
            "tissue_rule": config.tissue,
            "background": config.background,
            "min_tissue": config.min_tissue if use_otsu else None,
        }
        with written_aside(out, overwrite=config.overwrite, directory=True) as folder:
            self._write_table(folder / TABLE, rows)
            (folder / SUMMARY).write_text(json.dumps(summary, indent=2) + "\n")
            draw_thumbnail(rgb, mask, grid, downsample).save(folder / THUMBNAIL)
        ctx.log(
            f"{len(grid)} of {candidates} patches kept ({grid.size} px at "
            f"{_resolution(grid)}, read from level {grid.level})"
        )
        return TaskResult(path=Path(out), record=summary)

    @staticmethod
    def _write_table(path: Path, rows: list[dict[str, Any]]) -> None:
        header = list(rows[0]) if rows else list(COLUMNS)
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=header)
            writer.writeheader()
            writer.writerows(rows)


def _resolution(grid: PatchGrid) -> str:
    if grid.magnification:
        return f"{grid.magnification:g}×"
    if grid.mpp:
        return f"{grid.mpp:g} µm/px"
    return f"downsample {grid.downsample:g}"
