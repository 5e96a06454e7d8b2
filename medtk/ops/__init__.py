"""Array operations on dask and numpy: the pixel work every task family shares.

Whole images stay lazy: operations take a dask array (numpy is wrapped), work chunk by
chunk and return dask arrays; only small results (statistics, masks of a thumbnail level,
per-patch or per-slice means, fold tables) are computed. No torch, nothing from the CLI;
scikit-image and scikit-learn are imported inside the functions that use them.
"""

from medtk.ops.folds import assign_folds, fold_summary
from medtk.ops.intensity import (
    channel_stats,
    minmax_normalise,
    percentile_key,
    percentile_normalise,
    window,
    zscore_normalise,
)
from medtk.ops.patches import PatchGrid, drop_background, grid_rows, patch_grid, patch_means
from medtk.ops.resample import resample_to_spacing, resampled_shape
from medtk.ops.slices import axial_slices, drop_dark_slices, slice_along, slice_means
from medtk.ops.tissue import grey_level, mean_intensity_mask, otsu_mask

__all__ = [
    "PatchGrid",
    "assign_folds",
    "axial_slices",
    "channel_stats",
    "drop_background",
    "drop_dark_slices",
    "fold_summary",
    "grey_level",
    "grid_rows",
    "mean_intensity_mask",
    "minmax_normalise",
    "otsu_mask",
    "patch_grid",
    "patch_means",
    "percentile_key",
    "percentile_normalise",
    "resample_to_spacing",
    "resampled_shape",
    "slice_along",
    "slice_means",
    "window",
    "zscore_normalise",
]
