"""`medtk evaluate`: scores, intervals, tables and plots from predictions."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

import medtk.builtin

CORE = [("core", medtk.builtin)]


def write_predictions(path, labels, scores):
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        if scores.ndim == 1:
            writer.writerow(["sample", "label", "score"])
            writer.writerows(zip(range(len(labels)), labels, scores, strict=True))
        else:
            writer.writerow(["label", *(f"score_{k}" for k in range(scores.shape[1]))])
            writer.writerows([label, *row] for label, row in zip(labels, scores, strict=True))


def noisy_binary(seed, n=120):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    return labels, np.clip(labels * 0.35 + rng.uniform(0, 0.65, n), 0, 1)


def test_a_predictions_file_gets_reference_scores_and_plots(cli, tmp_path):
    labels, scores = noisy_binary(0)
    write_predictions(tmp_path / "preds.csv", labels, scores)
    result = cli("evaluate", "predictions", str(tmp_path / "preds.csv"), "--bootstrap", "200",
                 plugins=CORE)  # fmt: skip
    assert result.code == 0, result.err
    out = tmp_path / "preds.evaluation"
    assert result.out.strip() == str(out)
    assert "AUC with 95% bootstrap interval" in result.err
    metrics = json.loads((out / "metrics.json").read_text())
    fold = metrics["folds"]["preds"]
    assert fold["auc"] == pytest.approx(roc_auc_score(labels, scores))
    assert fold["auc_low"] < fold["auc"] < fold["auc_high"]
    predicted = (scores >= 0.5).astype(int)
    assert fold["accuracy"] == pytest.approx(accuracy_score(labels, predicted))
    assert fold["f1"] == pytest.approx(f1_score(labels, predicted))
    assert np.sum(fold["confusion"]) == len(labels)
    for image in ("roc.png", "confusion.png"):
        with Image.open(out / image) as png:
            assert png.size[0] > 300
    rows = list(csv.DictReader((out / "metrics.csv").read_text().splitlines()))
    assert [r["fold"] for r in rows] == ["preds", "mean", "std"]


def test_folds_get_a_row_each_and_mean_and_std(cli, tmp_path):
    aucs = []
    for fold in (1, 2, 3):
        labels, scores = noisy_binary(fold)
        aucs.append(roc_auc_score(labels, scores))
        write_predictions(tmp_path / "cv" / f"fold-{fold}" / "predictions.csv", labels, scores)
    result = cli("evaluate", "predictions", str(tmp_path / "cv"), "--json", "--bootstrap", "100",
                 plugins=CORE)  # fmt: skip
    assert result.code == 0, result.err
    record = json.loads(result.out)
    assert list(record["folds"]) == ["fold-1", "fold-2", "fold-3"]
    assert record["mean_auc"] == pytest.approx(np.mean(aucs))
    assert record["std_auc"] == pytest.approx(np.std(aucs, ddof=1))
    assert (tmp_path / "cv" / "evaluation" / "roc.png").is_file()


def test_multiclass_scores_use_one_vs_rest_auc_and_argmax(cli, tmp_path):
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 3, 150)
    scores = rng.dirichlet(np.ones(3), 150) + np.eye(3)[labels] * 0.5
    scores /= scores.sum(1, keepdims=True)
    write_predictions(tmp_path / "p.csv", labels, scores)
    result = cli("evaluate", "predictions", str(tmp_path / "p.csv"), "--json", "--bootstrap",
                 "100", plugins=CORE)  # fmt: skip
    assert result.code == 0, result.err
    fold = json.loads(result.out)["folds"]["p"]
    assert fold["auc"] == pytest.approx(roc_auc_score(labels, scores, multi_class="ovr"))
    assert fold["accuracy"] == pytest.approx(accuracy_score(labels, scores.argmax(1)))
    assert np.array(fold["confusion"]).shape == (3, 3)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("sample,score\n1,0.5\n", "no 'label' column"),
        ("label,prob\n1,0.5\n", "no 'score' or 'score_0', 'score_1' … columns"),
        ("label,score\n1,high\n", "a label or score is not a number"),
        ("label,score\n", "has no rows"),
    ],
)
def test_bad_predictions_exit_2_with_one_line_and_no_output(cli, tmp_path, content, message):
    (tmp_path / "p.csv").write_text(content)
    result = cli("evaluate", "predictions", str(tmp_path / "p.csv"), plugins=CORE)
    assert result.code == 2
    assert len(result.err_lines) == 1
    assert message in result.err_lines[0]
    assert not (tmp_path / "p.evaluation").exists()


def test_a_trained_run_evaluates(cli, tmp_path):
    run = tmp_path / "run"
    trained = cli("train", "shapes", "-o", str(run), "--samples", "64", "--epochs", "2",
                  plugins=CORE)  # fmt: skip
    assert trained.code == 0, trained.err
    rows = list(csv.DictReader((run / "predictions.csv").read_text().splitlines()))
    assert len(rows) == 32 and set(rows[0]) == {"sample", "label", "score"}
    result = cli("evaluate", "shapes", str(run), "--bootstrap", "100", plugins=CORE)
    assert result.code == 0, result.err
    assert (run / "evaluation" / "metrics.json").is_file()
    again = cli("evaluate", "shapes", str(run), plugins=CORE)
    assert again.code == 2
    assert "already exists" in again.err


def test_a_fold_that_lacks_a_class_is_scored_over_the_classes_it_holds(tmp_path):
    """Small cohorts leave a class out of some validation fold: that fold's one-vs-rest AUC
    covers the classes it holds, a one-class fold is NaN, and the others still plot."""
    import numpy as np

    from medtk.engine.evaluation import evaluate_tables
    from medtk.metrics.roc import roc_auc

    rng = np.random.default_rng(0)

    def table(labels):
        scores = rng.dirichlet([1, 1, 1], len(labels))
        rows = [
            {"label": int(y), **{f"score_{k}": float(v) for k, v in enumerate(p)}}
            for y, p in zip(labels, scores, strict=True)
        ]
        return rows, np.array(labels), scores

    two, labels, scores = table([1, 2] * 5)
    three, _, _ = table([0, 1, 2] * 4)
    one, _, _ = table([2] * 6)
    summary = evaluate_tables({"a": two, "b": three, "c": one}, tmp_path, iterations=50)
    assert summary["folds"]["a"]["auc"] == pytest.approx(roc_auc(labels == 2, scores[:, 2]))
    assert np.isnan(summary["folds"]["c"]["auc"])
    assert summary["roc_folds"] == ["b"]
    assert (tmp_path / "roc.png").is_file()
    valid = [summary["folds"][k]["auc"] for k in ("a", "b")]
    assert summary["mean_auc"] == pytest.approx(np.mean(valid))
