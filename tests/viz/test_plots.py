"""The plots: each writes a whole PNG of the expected size whose pixels show the data."""

from __future__ import annotations

import csv
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from matplotlib import colormaps
from png_helpers import bounding_box, largest_blob, near, over, png_size, read_png

from medtk.errors import BadInputError
from medtk.viz import (
    PlotInputError,
    auc_forest,
    confusion_matrix,
    image_grid,
    metric_per_epoch,
    roc_curves,
    threshold_f1,
)
from medtk.viz.epochs import best_epoch, read_table
from medtk.viz.style import BAND_ALPHA, GREY, PALETTE

RNG_SEED = 4
BLUE, ORANGE, GREEN = PALETTE[0], PALETTE[1], PALETTE[2]


def scores(rng: np.random.Generator, n: int = 200, signal: float = 1.5):
    """Binary labels and scores that separate them partly."""
    labels = rng.integers(0, 2, n)
    labels[:2] = [0, 1]
    return labels, labels * signal + rng.normal(0, 1, n)


def only_the_png(folder: Path, name: str) -> None:
    """The folder holds the finished PNG and nothing else: no temporary leftovers."""
    assert sorted(p.name for p in folder.iterdir()) == [name]


# ROC curves


def test_roc_png_is_one_square_panel_per_class(tmp_path, rng):
    binary = roc_curves(tmp_path / "binary.png", [scores(rng)], bootstrap=50)
    assert binary == tmp_path / "binary.png"
    assert png_size(binary) == (660, 660)  # 4.4 inches at 150 dpi
    read_png(binary)

    labels = rng.integers(0, 3, 240)
    probabilities = rng.dirichlet([1, 1, 1], 240) + np.eye(3)[labels]
    folds = [(labels, probabilities)] * 2
    each = roc_curves(tmp_path / "each.png", folds, bootstrap=50, class_names="abc", dpi=50)
    assert png_size(each) == (3 * 220, 220 + 15)  # a panel each, and a figure title
    one = roc_curves(tmp_path / "one.png", folds, classes=2, bootstrap=50, dpi=50)
    assert png_size(one) == (220, 220)


def test_roc_band_has_the_fold_colour_at_band_opacity(tmp_path, rng):
    fold = scores(rng, signal=1.0)
    band = read_png(roc_curves(tmp_path / "band.png", [fold], bootstrap=300))
    none = read_png(roc_curves(tmp_path / "none.png", [fold], band="none"))
    shade = over(BLUE, BAND_ALPHA)
    in_band, without = near(band, shade, 2).sum(), near(none, shade, 2).sum()
    assert in_band > 5_000  # a wide area, not the anti-aliased rim of a line
    assert in_band > 20 * max(without, 1)
    assert near(band, BLUE, 2).sum() > 300  # the curve itself, opaque on top


def test_roc_mean_band_is_grey_and_every_fold_has_its_colour(tmp_path, rng):
    folds = [scores(rng, signal=s) for s in (0.8, 1.2, 1.6)]
    mean = read_png(roc_curves(tmp_path / "mean.png", folds, band="mean", bootstrap=200))
    per_fold = read_png(roc_curves(tmp_path / "folds.png", folds, band="folds", bootstrap=200))
    grey = over("#000000", BAND_ALPHA)  # (204, 204, 204)
    assert near(mean, grey, 2).sum() > 10 * max(near(per_fold, grey, 2).sum(), 1)
    for colour in (BLUE, ORANGE, GREEN):
        assert near(mean, colour, 2).sum() > 200


def test_roc_draws_precomputed_curves(tmp_path):
    first = {"fpr": [0.0, 0.0, 0.2, 1.0], "tpr": [0.0, 0.6, 0.9, 1.0]}
    second = {"fpr": [0.0, 0.3, 0.5, 1.0], "tpr": [0.0, 0.5, 0.7, 1.0], "auc": 0.61}
    pixels = read_png(roc_curves(tmp_path / "pre.png", [first, second]))
    assert near(pixels, BLUE, 2).sum() > 200
    assert near(pixels, ORANGE, 2).sum() > 200
    with pytest.raises(PlotInputError, match="precomputed curves have none"):
        roc_curves(tmp_path / "x.png", [first, second], band="mean")


def test_roc_output_is_reproducible(tmp_path, rng):
    folds = [scores(rng), scores(rng)]
    first = roc_curves(tmp_path / "1.png", folds, bootstrap=100, seed=3).read_bytes()
    assert roc_curves(tmp_path / "2.png", folds, bootstrap=100, seed=3).read_bytes() == first


# metric per epoch


def epoch_rows(best: int, epochs: int = 10) -> list[dict[str, str]]:
    """metrics.csv rows, as strings; val_loss is lowest at ``best``, the same values otherwise."""
    losses = np.linspace(0.9, 0.5, epochs)  # the same set of values for every ``best``
    order = [e for e in range(epochs) if e != best - 1]
    values = dict(zip(order, losses[: epochs - 1], strict=True)) | {best - 1: 0.2}
    return [
        {"epoch": str(e + 1), "train_loss": f"{1.0 / (e + 1):.4f}", "val_loss": f"{values[e]:.4f}"}
        for e in range(epochs)
    ]


def test_metric_per_epoch_reads_a_metrics_csv(tmp_path):
    rows = epoch_rows(best=4)
    for e, row in enumerate(rows):
        row["val_auc"] = f"{0.6 + 0.03 * e:.3f}" if e != 7 else ""  # one epoch not evaluated
        row["lr"] = "0.001"
    table = tmp_path / "metrics.csv"
    with table.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with table.open() as source:
        read = list(csv.DictReader(source))
    parsed = read_table(read)
    assert parsed.epochs == list(range(1, 11))
    assert np.isnan(parsed.columns["val_auc"][7])
    assert best_epoch(parsed, "val_loss") == (4.0, 0.2)
    assert best_epoch(parsed, "val_auc") == (10.0, pytest.approx(0.87))
    assert best_epoch(parsed, "val_auc", "min") == (1.0, pytest.approx(0.6))

    written = metric_per_epoch(tmp_path / "curves.png", read)
    assert png_size(written) == (1560, 600)  # losses left, other metrics right
    pixels = read_png(written)
    assert near(pixels, BLUE, 2).sum() > 300  # the loss, train and val
    assert near(pixels, ORANGE, 2).sum() > 300  # the AUC
    only_losses = metric_per_epoch(tmp_path / "loss.png", read, metrics=["val_loss"])
    assert png_size(only_losses) == (780, 600)


class FrameLike:
    """What the table reader uses of a pandas DataFrame (pandas is not a dependency)."""

    def __init__(self, columns: dict[str, list[float]]) -> None:
        self.columns = list(columns)
        self._data = columns

    def to_dict(self, orient: str) -> dict[str, list[float]]:
        assert orient == "list"
        return self._data


def test_metric_tables_may_be_columns_without_an_epoch():
    columns = {"loss/train": [0.9, 0.5, 0.4], "loss/val": [1.0, 0.7, 0.8], "step": [10, 20, 30]}
    for table in (columns, FrameLike(columns)):
        parsed = read_table(table)
        assert parsed.epochs == [1.0, 2.0, 3.0]
        assert best_epoch(parsed, "loss/val") == (2.0, 0.7)


def test_metric_per_epoch_marks_the_best_epoch_where_it_is(tmp_path):
    """The best-epoch line moves with the best epoch, linearly in the epoch number."""

    def grey_columns(best: int, **options) -> np.ndarray:
        written = metric_per_epoch(tmp_path / f"best{best}.png", epoch_rows(best), **options)
        return near(read_png(written), GREY, 12).sum(axis=0)

    first, middle, last = (int(np.argmax(grey_columns(best))) for best in (1, 5, 9))
    assert first < middle < last
    assert abs((middle - first) - (last - middle)) <= 2
    assert grey_columns(5, mark_best=False).max() < 0.2 * grey_columns(5).max()


def test_metric_per_epoch_monitor_must_exist(tmp_path):
    with pytest.raises(PlotInputError, match=r"no numeric column 'val_dice'.*val_loss"):
        metric_per_epoch(tmp_path / "x.png", epoch_rows(3), monitor="val_dice")


# confusion matrix


def cell_centres(
    pixels: np.ndarray, matrix: np.ndarray, top: float
) -> dict[tuple[int, int], tuple[float, float]]:
    """Where each cell's colour forms its largest block: ``{(i, j): (y, x)}``."""
    cmap = colormaps["Blues"]
    return {
        (i, j): largest_blob(near(pixels, np.array(cmap(matrix[i, j] / top)[:3]) * 255, 2))[:2]
        for i in range(matrix.shape[0])
        for j in range(matrix.shape[1])
    }


def test_confusion_cells_sit_where_their_counts_are(tmp_path):
    matrix = np.array([[3, 0, 6], [1, 8, 2], [5, 7, 4]])  # nine distinct counts
    pixels = read_png(confusion_matrix(tmp_path / "counts.png", matrix, normalise="none"))
    centres = cell_centres(pixels, matrix, matrix.max())
    for i in range(3):
        for j in range(3):
            y, x = centres[(i, j)]
            if j < 2:  # columns left to right
                assert x + 40 < centres[(i, j + 1)][1]
            if i < 2:  # rows top to bottom
                assert y + 40 < centres[(i + 1, j)][0]
    # the darkest cell (the end of the colour map) is the largest count, (1, 1)
    darkest = largest_blob(near(pixels, np.array(colormaps["Blues"](1.0)[:3]) * 255, 2))
    assert darkest[:2] == pytest.approx(centres[(1, 1)], abs=3)


def test_confusion_counts_and_row_normalised_side_by_side(tmp_path):
    matrix = np.array([[50, 50], [1, 9]])  # the most counts top; the best recall bottom right
    written = confusion_matrix(tmp_path / "both.png", matrix, ["negative", "positive"])
    pixels = read_png(written)
    width = pixels.shape[1]
    assert (
        png_size(written)[0]
        > 1.8 * png_size(confusion_matrix(tmp_path / "one.png", matrix, normalise="none"))[0]
    )
    cmap = colormaps["Blues"]
    left, right = pixels[:, : width // 2], pixels[:, width // 2 :]
    counts_top = largest_blob(near(left, np.array(cmap(1.0)[:3]) * 255, 2))  # 50 counts
    counts_low = largest_blob(near(left, np.array(cmap(9 / 50)[:3]) * 255, 2))  # 9 counts
    assert counts_top[0] < counts_low[0]
    recall_best = largest_blob(near(right, np.array(cmap(0.9)[:3]) * 255, 2))  # 9/10
    recall_low = largest_blob(near(right, np.array(cmap(0.1)[:3]) * 255, 2))  # 1/10
    assert recall_best[0] > recall_low[0]  # bottom row
    assert recall_best[1] > recall_low[1]  # right column


def test_confusion_empty_row_is_not_a_division_by_zero(tmp_path):
    written = confusion_matrix(tmp_path / "empty.png", [[4, 1], [0, 0]])
    assert near(read_png(written), "#DDDDDD", 1).sum() > 1000  # the empty row, in grey


# threshold–F1


def f1_curve(peak: float) -> tuple[np.ndarray, np.ndarray]:
    thresholds = np.linspace(0.05, 0.95, 19)
    return thresholds, 0.9 * np.exp(-(((thresholds - peak) / 0.2) ** 2))


def test_threshold_f1_marks_the_best_threshold_of_each_class(tmp_path):
    curves = {"early": f1_curve(0.25), "late": f1_curve(0.75)}
    written = threshold_f1(tmp_path / "f1.png", curves)
    pixels = read_png(written)
    # the best-threshold markers (filled, class colour) stick out above each curve's peak
    axes_rows = slice(0, int(pixels.shape[0] * 0.7))  # above the legend
    early = bounding_box(near(pixels[axes_rows], BLUE, 2))
    late = bounding_box(near(pixels[axes_rows], ORANGE, 2))
    early_top_x = np.flatnonzero(near(pixels[early[0]], BLUE, 2)).mean()
    late_top_x = np.flatnonzero(near(pixels[late[0]], ORANGE, 2)).mean()
    assert early_top_x < late_top_x
    assert abs(early[0] - late[0]) <= 2  # same best F1, same height


def test_threshold_f1_compares_modes_in_one_plot(tmp_path):
    curves = {
        "binary": {"mito": f1_curve(0.4), "membrane": f1_curve(0.6)},
        "multiclass": {"mito": f1_curve(0.5), "membrane": f1_curve(0.3)},
    }
    chosen = {"multiclass": {"mito": 0.35}}
    single = threshold_f1(tmp_path / "one.png", curves["binary"])
    both = threshold_f1(tmp_path / "two.png", curves, chosen)
    assert png_size(single) == (960, 675)  # 6.4 × (3.9 + 0.2 per legend row)
    assert png_size(both)[0] > png_size(single)[0]  # a legend column per mode
    assert near(read_png(both), "#FFFFFF", 0).sum() > 0
    with pytest.raises(PlotInputError, match="no curve for class 'nucleus'"):
        threshold_f1(tmp_path / "x.png", curves, {"binary": {"nucleus": 0.5}})


# image grids


def colour_pattern() -> np.ndarray:
    """A 4 × 4 board of distinct colours, 8 pixels a square, as (32, 32, 3) uint8."""
    colours = np.array(
        [
            [(r, g, b) for r, g, b in row]
            for row in np.array(
                [
                    [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200)],
                    [(245, 130, 48), (145, 30, 180), (70, 240, 240), (240, 50, 230)],
                    [(210, 245, 60), (250, 190, 212), (0, 128, 128), (220, 190, 255)],
                    [(170, 110, 40), (255, 250, 200), (128, 0, 0), (170, 255, 195)],
                ]
            )
        ],
        dtype=np.uint8,
    )
    return np.repeat(np.repeat(colours, 8, axis=0), 8, axis=1)


def test_image_grid_reproduces_the_input_pixels(tmp_path):
    pattern = colour_pattern()
    grey = np.zeros((33, 33))
    grey[:, 11:22] = 0.5
    grey[:, 22:] = 1.0
    written = image_grid(tmp_path / "grid.png", [(pattern, grey, pattern)], titles=["a", "b", "c"])
    assert png_size(written) == (3 * 360, 360 + 52)  # 2.4-inch cells and a title row
    pixels = read_png(written)
    width = pixels.shape[1]
    first = pixels[:, : width // 3]
    centres = {}
    for i in range(4):
        for j in range(4):
            y, x, size = largest_blob(near(first, pattern[8 * i, 8 * j], 0))
            assert size > 1000  # a whole square, drawn in its exact colour
            centres[(i, j)] = (y, x)
    for i in range(4):
        for j in range(3):
            assert centres[(i, j)][1] < centres[(i, j + 1)][1]
            assert centres[(j, i)][0] < centres[(j + 1, i)][0]
    middle = pixels[:, width // 3 : 2 * width // 3]  # grey: black, mid-grey and white thirds
    black = largest_blob(near(middle, "#000000", 0))
    mid = largest_blob(near(middle, np.full(3, 127.5), 1))
    assert black[2] > 4000
    assert mid[2] > 4000
    assert black[1] + 80 < mid[1]


def test_image_grid_reads_channel_first_and_last_alike(tmp_path):
    pattern = colour_pattern()
    last = image_grid(tmp_path / "last.png", [[pattern]], titles=None)
    first = image_grid(tmp_path / "first.png", [[np.moveaxis(pattern, -1, 0)]], titles=None)
    assert first.read_bytes() == last.read_bytes()
    floats = image_grid(tmp_path / "floats.png", [[pattern / 255.0]], titles=None)
    assert np.abs(read_png(floats).astype(int) - read_png(last)).max() <= 1


def test_image_grid_overlays_labels_in_class_colours(tmp_path):
    image = np.zeros((40, 40))
    target = np.zeros((40, 40), np.int64)
    target[5:20, 5:20] = 1
    target[25:35, 25:35] = 2
    prediction = np.zeros_like(target)
    written = image_grid(
        tmp_path / "overlay.png",
        [(image, prediction, target)],
        labels=(1, 2),
        class_names=["liver", "lesion"],
    )
    pixels = read_png(written)
    third = pixels.shape[1] // 3
    on_black = {name: over(c, 0.45, 0.0) for name, c in (("liver", BLUE), ("lesion", ORANGE))}
    for name, colour in on_black.items():
        assert near(pixels[:, 2 * third :], colour, 2).sum() > 1000, name
        assert near(pixels[:, :third], colour, 2).sum() == 0, name  # the input stays bare
        assert near(pixels[:, third : 2 * third], colour, 2).sum() == 0, name  # nothing predicted
    alone = read_png(
        image_grid(tmp_path / "alone.png", [(target,)], labels=(0,), titles=None, overlay_on=None)
    )
    assert near(alone, BLUE, 1).sum() > 1000


# AUC forest


def test_auc_forest_places_points_and_whiskers_by_value(tmp_path):
    entries = [
        ("CT", 0.70, 0.60, 0.80, "ct"),  # interval 0.2 wide
        ("H&E", 0.90, 0.85, 0.95, "he"),  # interval 0.1 wide
        ("no interval", 0.80, None, None),
    ]
    written = auc_forest(tmp_path / "forest.png", entries)
    pixels = read_png(written)

    def row_of(colour: str) -> tuple[int, int, int, int]:
        mask = near(pixels, colour, 2)
        y = int(np.median(np.nonzero(mask)[0]))
        return bounding_box(mask[y - 8 : y + 8])

    ct, he = row_of(BLUE), row_of(ORANGE)
    ct_width, he_width = ct[3] - ct[2], he[3] - he[2]
    assert ct_width == pytest.approx(2 * he_width, rel=0.1)
    scale = ct_width / 0.2  # pixels per AUC unit
    assert he[2] - ct[2] == pytest.approx(0.25 * scale, abs=3)  # 0.85 − 0.60
    taller = auc_forest(tmp_path / "taller.png", [*entries, ("more", 0.6, 0.5, 0.7)])
    assert png_size(taller)[1] > png_size(written)[1]


# writing: atomic, no leftovers, no partial file


def test_every_plot_leaves_only_its_png(tmp_path, rng):
    makers = {
        "roc.png": lambda p: roc_curves(p, [scores(rng)], bootstrap=20, dpi=50),
        "epochs.png": lambda p: metric_per_epoch(p, epoch_rows(3), dpi=50),
        "confusion.png": lambda p: confusion_matrix(p, [[3, 1], [2, 5]], dpi=50),
        "f1.png": lambda p: threshold_f1(p, [f1_curve(0.5)], dpi=50),
        "grid.png": lambda p: image_grid(p, [(np.eye(8), np.eye(8), np.eye(8))], dpi=50),
        "forest.png": lambda p: auc_forest(p, [("a", 0.8, 0.7, 0.9)], dpi=50),
    }
    for name, make in makers.items():
        folder = tmp_path / name.removesuffix(".png") / "nested"
        assert make(folder / name) == folder / name
        only_the_png(folder, name)
        read_png(folder / name)


def test_a_failing_write_leaves_no_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    def broken(self, target, **options):
        Path(target).write_bytes(b"\x89PNG half an image")
        raise OSError("disk full")

    target = tmp_path / "confusion.png"
    monkeypatch.setattr(Figure, "savefig", broken)
    with pytest.raises(OSError, match="disk full"):
        confusion_matrix(target, [[1, 2], [3, 4]])
    assert list(tmp_path.iterdir()) == []

    target.write_bytes(b"old")
    with pytest.raises(OSError, match="disk full"):
        confusion_matrix(target, [[1, 2], [3, 4]])
    only_the_png(tmp_path, "confusion.png")
    assert target.read_bytes() == b"old"


def test_overwrite_false_keeps_an_existing_file(tmp_path):
    target = tmp_path / "forest.png"
    target.write_bytes(b"old")
    with pytest.raises(BadInputError, match="already exists"):
        auc_forest(target, [("a", 0.8, 0.7, 0.9)], overwrite=False)
    assert target.read_bytes() == b"old"
    auc_forest(target, [("a", 0.8, 0.7, 0.9)])
    read_png(target)


def test_plots_in_threads_equal_plots_in_turn(tmp_path, rng):
    folds = [scores(rng), scores(rng)]
    jobs = [
        lambda p: roc_curves(p, folds, bootstrap=50, dpi=60),
        lambda p: confusion_matrix(p, [[5, 1, 0], [2, 7, 1], [0, 1, 9]], dpi=60),
        lambda p: metric_per_epoch(p, epoch_rows(6), dpi=60),
        lambda p: image_grid(p, [(colour_pattern(), np.eye(9), np.eye(9))], dpi=60),
    ]
    in_turn = [job(tmp_path / f"turn{i}.png").read_bytes() for i, job in enumerate(jobs)]
    with ThreadPoolExecutor(4) as pool:
        done = list(pool.map(lambda ij: ij[1](tmp_path / f"thread{ij[0]}.png"), enumerate(jobs)))
    assert [p.read_bytes() for p in done] == in_turn


# bad input


BAD_INPUTS = {
    "roc lengths": (
        lambda p: roc_curves(p, [([0, 1, 1], [0.2, 0.4])]),
        "y_true has 3 labels but y_score has 2 rows",
    ),
    "roc one class": (lambda p: roc_curves(p, [([1, 1], [0.2, 0.4])]), "no negatives"),
    "roc fold names": (
        lambda p: roc_curves(p, [([0, 1], [0.2, 0.4])], fold_names=["a", "b"]),
        "folds has 1, fold_names has 2",
    ),
    "roc labels": (lambda p: roc_curves(p, [([0, 3], [[0.2, 0.8], [0.4, 0.6]])]), "outside 0…1"),
    "roc class": (lambda p: roc_curves(p, [([0, 1, 2], np.eye(3))], classes=5), "choose among"),
    "roc band": (lambda p: roc_curves(p, [([0, 1], [0.2, 0.4])], band="wide"), "band 'wide'"),
    "epochs columns": (
        lambda p: metric_per_epoch(p, {"epoch": [1, 2, 3], "loss": [1.0, 0.5]}),
        "epoch has 3, loss has 2",
    ),
    "epochs empty": (lambda p: metric_per_epoch(p, []), "no rows"),
    "confusion shape": (lambda p: confusion_matrix(p, [[1, 2, 3], [4, 5, 6]]), "square"),
    "confusion names": (lambda p: confusion_matrix(p, np.eye(3), ["a", "b"]), "2 class names"),
    "confusion negative": (lambda p: confusion_matrix(p, [[1, -1], [0, 2]]), "counts ≥ 0"),
    "f1 lengths": (lambda p: threshold_f1(p, {"a": ([0.1, 0.5, 0.9], [0.2, 0.3])}), "3 thresholds"),
    "f1 range": (lambda p: threshold_f1(p, {"a": ([0.1, 0.5], [0.2, 1.3])}), "in [0, 1]"),
    "image 4d": (
        lambda p: image_grid(p, [(np.eye(4), np.zeros((2, 3, 4, 5)), np.eye(4))]),
        "row 0, column 1: expected a 2D image",
    ),
    "image 1d": (lambda p: image_grid(p, [(np.arange(5),)], titles=None), "got shape (5,)"),
    "image volume": (lambda p: image_grid(p, [(np.zeros((8, 16, 16)),)], titles=None), "volume"),
    "image rows": (
        lambda p: image_grid(p, [(np.eye(3),) * 3, (np.eye(3),) * 2]),
        "row 0 has 3, row 1 has 2",
    ),
    "image titles": (lambda p: image_grid(p, [(np.eye(3),) * 2]), "3 titles for 2 columns"),
    "image labels": (
        lambda p: image_grid(p, [(np.eye(3), np.full((3, 3), 0.5))], titles=None, labels=(1,)),
        "whole numbers",
    ),
    "image overlay shape": (
        lambda p: image_grid(p, [(np.eye(3), np.zeros((4, 4), int))], titles=None, labels=(1,)),
        "label map in column 1 is (4, 4)",
    ),
    "forest order": (lambda p: auc_forest(p, [("a", 0.8, 0.85, 0.9)]), "low ≤ auc ≤ high"),
    "forest shape": (lambda p: auc_forest(p, [("a", 0.8)]), "expected (name, auc, low, high)"),
    "forest nan": (lambda p: auc_forest(p, [("a", float("nan"), 0.1, 0.9)]), "finite number"),
    "not png": (lambda p: auc_forest(p.with_suffix(".pdf"), [("a", 0.8, 0.7, 0.9)]), "end in .png"),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_is_one_clear_line_and_writes_nothing(tmp_path, case):
    make, message = BAD_INPUTS[case]
    with pytest.raises(ValueError, match=r".*") as raised:
        make(tmp_path / "out.png")
    error = raised.value
    assert isinstance(error, PlotInputError)
    assert isinstance(error, BadInputError)
    assert error.exit_code == 2
    assert message in str(error)
    assert "\n" not in str(error)
    assert list(tmp_path.iterdir()) == []


def test_importing_viz_does_not_import_matplotlib():
    code = (
        "import sys, medtk.viz; "
        "heavy = sorted(m for m in ('matplotlib', 'sklearn', 'PIL', 'torch', 'scipy')"
        " if m in sys.modules); print(heavy)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
