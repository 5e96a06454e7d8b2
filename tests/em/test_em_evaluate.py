"""``medtk evaluate em``: block-wise counts equal whole-array counts, F1 at thresholds chosen
on the validation slab equals scikit-learn's on the test part, the confusion matrix,
the binary-against-multiclass table and plots, and bad input as one line (exit 2)."""

from __future__ import annotations

import csv
import itertools
import json
from pathlib import Path

import medtk_em.plugin
import numpy as np
import pytest
import zarr
from medtk_em.evaluate import block_counts, threshold_grid
from sklearn.metrics import confusion_matrix, f1_score

import medtk.builtin
from medtk.io.ingest import IngestOptions, write_store
from medtk.io.source import array_source

PLUGINS = [("core", medtk.builtin), ("em", medtk_em.plugin)]
SHAPE = (20, 24, 28)
CUT = 16  # --val-fraction 0.2 of 20 planes: z 16–19 chooses thresholds, z 0–15 is scored
RNG_SEED = 5


def scores_for(labels: np.ndarray, classes: int, rng: np.random.Generator, sharp: float):
    """Softmax of noisy one-hot logits: informative, imperfect probabilities."""
    logits = rng.normal(0.0, 1.0, (classes, *labels.shape))
    logits += sharp * (np.arange(classes)[:, None, None, None] == labels[None])
    exp = np.exp(logits - logits.max(axis=0))
    return (exp / exp.sum(axis=0)).astype(np.float32)


def store(path: Path, image: np.ndarray, axes, labels: np.ndarray | None = None) -> Path:
    spatial = tuple(a for a in axes if a != "c")
    source = array_source(image, path=path, axes=axes, spacing=(1.0,) * 3, unit="")
    named = {}
    if labels is not None:
        named["classes"] = array_source(
            labels,
            path=path.with_name(f"{path.stem}-labels"),
            axes=spatial,
            spacing=(1.0,) * 3,
            unit="",
        )
    options = IngestOptions(workers=1, min_size=8, chunk_z=8, chunk_xy=16)
    return write_store(source, path, labels=named, options=options).path


def describe(path: Path, mode: str, names: list[str]) -> None:
    """What ``medtk predict em`` records about a prediction's channels."""
    group = zarr.open_group(str(path), mode="r+")
    medtk = dict(group.attrs["medtk"])
    medtk["em"] = {"mode": mode, "classes": list(range(len(names))), "names": names}
    group.attrs["medtk"] = medtk


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    rng = np.random.default_rng(RNG_SEED)
    folder = tmp_path_factory.mktemp("em-evaluate")
    labels = rng.choice(4, SHAPE, p=[0.55, 0.25, 0.15, 0.05]).astype(np.uint8)
    image = rng.integers(0, 256, SHAPE, dtype=np.uint8)
    truth = store(folder / "truth.zarr", image, ("z", "y", "x"), labels)
    multi = scores_for(labels, 4, rng, sharp=2.0)
    binary = scores_for(labels, 4, rng, sharp=1.2)
    multi_path = store(folder / "multi.zarr", multi, ("c", "z", "y", "x"))
    binary_path = store(folder / "binary.zarr", binary, ("c", "z", "y", "x"))
    names = ["cytosol", "membranes", "mitochondria", "synapses"]
    describe(multi_path, "multiclass", names)
    describe(binary_path, "binary", names)
    return {
        "labels": labels,
        "truth": truth,
        "multi": (multi_path, multi),
        "binary": (binary_path, binary),
        "names": names,
    }


def test_block_counts_add_up_to_the_whole_array_and_to_direct_counts(rng):
    labels = rng.integers(0, 3, (12, 10, 9))
    scores = rng.random((3, 12, 10, 9)).astype(np.float32)
    scores[0, :2] = 0.5  # scores exactly at a threshold count as called
    thresholds = threshold_grid(11)
    whole = block_counts(scores, labels, thresholds=thresholds, values=[0, 1, 2], val_from=8)
    total = None
    edges = [(0, 5, 8, 12), (0, 4, 10), (0, 3, 9)]
    for (z0, z1), (y0, y1), (x0, x1) in itertools.product(
        *(list(itertools.pairwise(e)) for e in edges)
    ):
        part = block_counts(
            scores[:, z0:z1, y0:y1, x0:x1],
            labels[z0:z1, y0:y1, x0:x1],
            thresholds=thresholds,
            values=[0, 1, 2],
            val_from=8 - z0,
        )
        total = part if total is None else total + part
    np.testing.assert_array_equal(total.positives, whole.positives)
    np.testing.assert_array_equal(total.negatives, whole.negatives)
    np.testing.assert_array_equal(total.confusion, whole.confusion)
    for region, planes in ((0, slice(0, 8)), (1, slice(8, 12))):
        tp, fp, fn = whole.at_thresholds(region)
        for c, (k, t) in itertools.product(range(3), enumerate(thresholds)):
            called = scores[c, planes] >= t
            truth = labels[planes] == c
            assert tp[c, k] == np.count_nonzero(called & truth)
            assert fp[c, k] == np.count_nonzero(called & ~truth)
            assert fn[c, k] == np.count_nonzero(~called & truth)
        expected = confusion_matrix(
            labels[planes].ravel(), scores[:, planes].argmax(axis=0).ravel(), labels=[0, 1, 2]
        )
        np.testing.assert_array_equal(whole.confusion[region], expected)


def best_threshold(truth: np.ndarray, score: np.ndarray, thresholds: np.ndarray) -> float:
    """The threshold maximising F1 (the highest of tied maxima), by brute force."""
    values = [f1_score(truth, score >= t, zero_division=0.0) for t in thresholds]
    best = max(values)
    return float(max(t for t, v in zip(thresholds, values, strict=True) if v == best))


def test_f1_uses_validation_thresholds_and_equals_sklearn_on_the_test_part(data, tmp_path, cli):
    path, scores = data["multi"]
    out = tmp_path / "scores"
    done = cli(
        "evaluate",
        "em",
        str(path),
        "--truth",
        str(data["truth"]),
        "-o",
        str(out),
        "--thresholds",
        "21",
        plugins=PLUGINS,
    )
    assert done.code == 0, done.err
    assert done.out.strip() == str(out)
    assert "F1 multiclass" in done.err  # the table, on stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["split"]["validation"] == [CUT, SHAPE[0]]
    labels = data["labels"]
    thresholds = threshold_grid(21)
    result = metrics["modes"]["multiclass"]
    f1_values = []
    for value, name in enumerate(data["names"]):
        entry = result["classes"][name]
        chosen = best_threshold(
            (labels[CUT:] == value).ravel(), scores[value, CUT:].ravel(), thresholds
        )
        assert entry["threshold"] == pytest.approx(chosen)
        test_truth = (labels[:CUT] == value).ravel()
        test_called = (scores[value, :CUT] >= chosen).ravel()
        assert entry["f1"] == pytest.approx(f1_score(test_truth, test_called), abs=1e-12)
        assert entry["percent"] == pytest.approx(100 * test_truth.mean())
        f1_values.append(entry["f1"])
    assert result["mean_f1"] == pytest.approx(np.mean(f1_values))
    assert min(f1_values) > 0.5  # the probabilities carry the labels
    expected = confusion_matrix(labels[:CUT].ravel(), scores[:, :CUT].argmax(axis=0).ravel())
    np.testing.assert_array_equal(result["confusion"]["counts"], expected)
    normalised = np.asarray(result["confusion"]["normalised"])
    np.testing.assert_allclose(normalised, expected / expected.sum(axis=1, keepdims=True))
    for name in ("metrics.json", "table.csv", "table.md", "f1_thresholds.png", "confusion.png"):
        assert (out / name).is_file(), name


def test_binary_and_multiclass_share_one_table_and_plot(data, tmp_path, cli):
    (binary, _), (multi, _) = data["binary"], data["multi"]
    out = tmp_path / "compare"
    done = cli(
        "evaluate",
        "em",
        str(binary),
        "--truth",
        str(data["truth"]),
        "--compare",
        str(multi),
        "-o",
        str(out),
        "--json",
        plugins=PLUGINS,
    )
    assert done.code == 0, done.err
    record = json.loads(done.out)
    assert set(record["modes"]) == {"binary", "multiclass"}
    assert "F1 multiclass" not in done.err  # --json: no table
    with (out / "table.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["class", "percent", "f1 binary", "f1 multiclass"]
    assert [r["class"] for r in rows] == [*data["names"], "mean"]
    for row in rows[:-1]:
        for mode in ("binary", "multiclass"):
            expected = record["modes"][mode]["classes"][row["class"]]["f1"]
            assert float(row[f"f1 {mode}"]) == pytest.approx(expected, abs=1e-4)
    # the sharper probabilities score higher for every class
    assert all(float(r["f1 multiclass"]) > float(r["f1 binary"]) for r in rows)
    markdown = (out / "table.md").read_text().splitlines()
    assert markdown[0] == "| class | % of voxels | F1 binary | F1 multiclass |"
    assert len(markdown) == 2 + len(rows)
    for name in ("f1_thresholds.png", "confusion.png", "confusion_2.png"):
        assert (out / name).stat().st_size > 1000


def test_bad_evaluation_input_is_one_line(data, tmp_path, cli):
    path, _ = data["multi"]
    labels_only = store(tmp_path / "labels.zarr", data["labels"], ("z", "y", "x"))
    smaller = store(
        tmp_path / "small.zarr",
        np.zeros((4, 9, 12, 14), np.float32),
        ("c", "z", "y", "x"),
    )
    cases = [
        ([str(labels_only), "--truth", str(data["truth"])], "holds no probabilities"),
        ([str(smaller), "--truth", str(data["truth"])], "matches no level of the true labels"),
        ([str(path), "--truth", str(data["truth"]), "--compare", str(smaller)], "does not match"),
        ([str(path), "--truth", str(data["truth"]), "--labels", "cells"], "has no label 'cells'"),
        ([str(tmp_path / "none.zarr"), "--truth", str(data["truth"])], "does not exist"),
    ]
    for args, message in cases:
        failed = cli("evaluate", "em", *args, "-o", str(tmp_path / "out"), plugins=PLUGINS)
        assert failed.code == 2, failed.err
        assert len(failed.err_lines) == 1 and message in failed.err_lines[0], failed.err
        assert not (tmp_path / "out").exists()
