"""``medtk evaluate predictions`` (and every task's ``evaluate`` that scores a run):
AUC with bootstrap intervals per fold, classification scores, confusion matrix, plots."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from medtk.config import TaskConfig, argument, option
from medtk.errors import BadInputError
from medtk.tasks import Task, TaskContext, TaskResult


class EvaluateOptions(TaskConfig):
    """Options of evaluating a run, a cross-validation or a predictions file."""

    source: Path = argument(
        ..., "a run folder, a cross-validation folder (fold-N/) or a predictions CSV"
    )
    out: Path | None = option(
        None, "output folder (default: RUN/evaluation, or STEM.evaluation beside a CSV)", short="-o"
    )
    threshold: float = option(0.5, "binary scores at or above this count as class 1", ge=0, le=1)
    bootstrap: int = option(1000, "bootstrap resamples for the AUC intervals", ge=10)
    confidence: float = option(0.95, "confidence level of the intervals", gt=0, lt=1)
    seed: int = option(0, "seed of the bootstrap")
    overwrite: bool = option(False, "replace an existing output folder")


def evaluate_source(config: EvaluateOptions, ctx: TaskContext) -> TaskResult:
    """Score ``config.source`` into its output folder; print a table on stderr."""
    from medtk.atomic import check_new_output, written_aside
    from medtk.engine.evaluation import evaluate_tables, run_tables

    source = Path(config.source)
    if not source.exists():
        raise BadInputError(f"{str(source)!r} does not exist")
    out = config.out or (
        source / "evaluation" if source.is_dir() else source.with_name(f"{source.stem}.evaluation")
    )
    check_new_output(out, overwrite=config.overwrite, directory=True)
    tables = run_tables(source)
    with written_aside(out, overwrite=config.overwrite, directory=True) as folder:
        summary = evaluate_tables(
            tables,
            folder,
            threshold=config.threshold,
            iterations=config.bootstrap,
            confidence=config.confidence,
            seed=config.seed,
        )
    if not ctx.json:
        _print_table(summary)
    return TaskResult(path=Path(out), record=summary)


def _print_table(summary: dict) -> None:
    from rich.table import Table

    from medtk.consoles import unwrapped_console

    level = round(100 * summary["confidence"])
    table = Table(title=f"AUC with {level}% bootstrap interval", title_justify="left")
    for column in ("fold", "n", "AUC", f"{level}% CI", "accuracy", "F1", "sens.", "spec."):
        table.add_column(column, justify="left" if column == "fold" else "right")
    for name, fold in summary["folds"].items():
        table.add_row(
            name,
            str(fold["samples"]),
            f"{fold['auc']:.3f}",
            f"{fold['auc_low']:.3f}–{fold['auc_high']:.3f}",
            f"{fold['accuracy']:.3f}",
            f"{fold['f1']:.3f}",
            f"{fold['recall']:.3f}",
            f"{fold['specificity']:.3f}",
        )
    if len(summary["folds"]) > 1:
        table.add_row(
            "mean ± std",
            "",
            f"{summary['mean_auc']:.3f} ± {summary['std_auc']:.3f}",
            "",
            f"{summary['mean_accuracy']:.3f}",
            f"{summary['mean_f1']:.3f}",
            f"{summary['mean_recall']:.3f}",
            f"{summary['mean_specificity']:.3f}",
        )
    unwrapped_console(stderr=True, highlight=False, markup=False).print(table)


class PredictionsTask(Task):
    """Score predictions: AUC with bootstrap CI per fold, accuracy, F1, confusion, plots."""

    options: ClassVar = {"evaluate": EvaluateOptions}

    def evaluate(self, config: EvaluateOptions, ctx: TaskContext) -> TaskResult:
        """Score the held-out predictions of a run (RUN/predictions.csv), of every fold of a
        cross-validation (RUN/fold-N/predictions.csv) or of a CSV with a 'label' column and
        'score' (binary) or 'score_0', 'score_1' … columns. Writes metrics.json, metrics.csv
        (a row per fold, mean and std), roc.png and confusion.png; prints a table.
        """
        return evaluate_source(config, ctx)
