"""The study table: every variant × every target, as the source's Table II.

A study folder holds one cross-validated run per target and variant,
``STUDY/<target>/<variant>`` with variants ``ct``, ``he``, ``mid-single``, ``mid-multi``,
``late-single``, ``late-multi`` and ``patch`` (the patch-level baseline). Each run is
scored like any run (per fold: AUC with a bootstrap interval), and the table shows the
mean ± standard deviation of the fold AUCs, rows by variant and columns by target.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medtk.errors import BadInputError
from medtk_nas.targets import TARGETS

if TYPE_CHECKING:
    from medtk.tasks import TaskContext, TaskResult
    from medtk_nas.options import StudyOptions

#: Row order and names of the table.
VARIANTS: dict[str, str] = {
    "ct": "CT",
    "he": "H&E",
    "mid-single": "Mid fusion, single loss",
    "mid-multi": "Mid fusion, multi loss",
    "late-single": "Late fusion, single loss",
    "late-multi": "Late fusion, multi loss",
    "patch": "Patch-level baseline (H&E)",
}


def study_runs(source: Path) -> dict[tuple[str, str], Path]:
    """``(target, variant) → run folder`` for every run present in a study folder."""
    return {
        (target, variant): source / target / variant
        for target in TARGETS
        for variant in VARIANTS
        if (source / target / variant).is_dir()
    }


def is_study(source: Path) -> bool:
    """A folder of ``TARGET/VARIANT`` runs (rather than one run)."""
    return Path(source).is_dir() and bool(study_runs(Path(source)))


def cell(summary: dict[str, Any]) -> str:
    """``0.873 ± 0.041`` from a run's evaluation summary."""
    if math.isnan(summary["mean_auc"]):
        return "–"
    return f"{summary['mean_auc']:.3f} ± {summary['std_auc']:.3f}"


def write_tables(folder: Path, results: dict[tuple[str, str], dict[str, Any]]) -> list[list[str]]:
    """``table.csv`` and ``table.md``: variants × targets; returns the rows."""
    targets = [t for t in TARGETS if any(key[0] == t for key in results)]
    rows = [["model", *targets]]
    for variant, name in VARIANTS.items():
        if any((t, variant) in results for t in targets):
            rows.append(
                [name, *(cell(results[t, variant]) if (t, variant) in results else "–"
                         for t in targets)]
            )  # fmt: skip
    with (folder / "table.csv").open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(row) + " |" for row in rows[1:]]
    caption = "Mean AUC ± standard deviation over cross-validation folds"
    (folder / "table.md").write_text(f"{caption}\n\n" + "\n".join(lines) + "\n", encoding="utf-8")
    return rows


def evaluate_study(config: StudyOptions, ctx: TaskContext) -> TaskResult:
    """Score every run of a study folder; write the table and the per-fold AUC plot."""
    from medtk.atomic import check_new_output, written_aside
    from medtk.engine.evaluation import evaluate_tables, run_tables
    from medtk.tasks import TaskResult
    from medtk.viz import auc_forest

    source = Path(config.source)
    runs = study_runs(source)
    out = config.out or source / "evaluation"
    check_new_output(out, overwrite=config.overwrite, directory=True)
    results: dict[tuple[str, str], dict[str, Any]] = {}
    with written_aside(out, overwrite=config.overwrite, directory=True) as folder:
        with ctx.progress(transient=True) as progress:
            task = progress.add_task("runs", total=len(runs), status="")
            for (target, variant), run in runs.items():
                try:
                    tables = run_tables(run)
                except BadInputError as exc:
                    raise BadInputError(f"study run {target}/{variant}: {exc}") from None
                results[target, variant] = evaluate_tables(
                    tables,
                    folder / target / variant,
                    threshold=config.threshold,
                    iterations=config.bootstrap,
                    confidence=config.confidence,
                    seed=config.seed,
                )
                progress.update(task, advance=1, status=f"{target}/{variant}")
        rows = write_tables(folder, results)
        entries = [
            (f"{VARIANTS[variant]} · {fold}", s["auc"], s["auc_low"], s["auc_high"], target)
            for (target, variant), summary in results.items()
            for fold, s in summary["folds"].items()
            if not math.isnan(s["auc"])
        ]
        auc_forest(
            folder / "auc_folds.png",
            entries,
            title=f"AUC per fold with {round(100 * config.confidence)}% bootstrap interval",
        )
        record = {
            "runs": len(results),
            "table": rows,
            "results": {
                f"{t}/{v}": {k: s[k] for k in ("mean_auc", "std_auc")}
                for (t, v), s in results.items()
            },
        }
        (folder / "study.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    if not ctx.json:
        _print(rows)
    return TaskResult(path=Path(out), record=record)


def _print(rows: list[list[str]]) -> None:
    from rich.table import Table

    from medtk.consoles import unwrapped_console

    table = Table(title="AUC, mean ± std over folds", title_justify="left")
    for index, name in enumerate(rows[0]):
        table.add_column(name, justify="left" if index == 0 else "right")
    for row in rows[1:]:
        table.add_row(*row)
    unwrapped_console(stderr=True, highlight=False, markup=False).print(table)
