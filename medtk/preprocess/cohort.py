"""``medtk preprocess cohort``: subjects, labels, stores and folds in one table."""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, ClassVar

from medtk.errors import BadInputError
from medtk.preprocess.config import CohortConfig
from medtk.tasks import Task, TaskContext, TaskResult


def read_table(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """The header and rows of a CSV file; problems are one line naming the file."""
    if not path.is_file():
        raise BadInputError(f"labels table {str(path)!r} does not exist or is not a file")
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
            header = list(reader.fieldnames or [])
    except (UnicodeDecodeError, csv.Error) as exc:
        raise BadInputError(f"{str(path)!r} is not a readable CSV table: {exc}") from None
    if not header or not rows:
        raise BadInputError(f"{str(path)!r} has no rows")
    return header, rows


def find_stores(folders: Path | list[Path]) -> dict[str, dict[str, Path]]:
    """Stores in the folder(s) by subject id, then by modality (lower case; ``""`` if
    unknown); a subject may have one store per modality across all the folders."""
    from medtk.io.store import Store

    folders = [folders] if isinstance(folders, Path) else list(folders)
    for folder in folders:
        if not folder.is_dir():
            raise BadInputError(f"--stores {str(folder)!r} is not a folder")
    found: dict[str, dict[str, Path]] = defaultdict(dict)
    for path in sorted(p for folder in folders for p in folder.glob("*.zarr")):
        try:
            store = Store.open(path)
        except BadInputError:
            continue  # a folder that is not a finished store is no subject's store
        subject = str(store.medtk.get("subject") or path.name.removesuffix(".zarr"))
        modality = str(store.medtk.get("modality") or "").lower()
        if modality in found[subject]:
            raise BadInputError(
                f"subject {subject!r} has two {modality or 'unlabelled'} stores: "
                f"{found[subject][modality].name} and {path.name}"
            )
        found[subject][modality] = path
    return found


class CohortTask(Task):
    """Cohort table with patient-grouped, label-stratified folds."""

    options: ClassVar = {"preprocess": CohortConfig}

    def preprocess(self, config: CohortConfig, ctx: TaskContext) -> TaskResult:
        """Build a cohort table: each subject of LABELS with its stores (matched by subject
        id, one column per modality) and a fold number. Folds are grouped (all rows of one
        patient share a fold) and stratified (each fold keeps the label mix), as
        scikit-learn's StratifiedGroupKFold makes them.
        """
        from medtk.atomic import written_aside
        from medtk.ops.folds import assign_folds, fold_summary

        header, rows = read_table(config.labels)
        group_column = config.group_by or config.id_column
        for column in {config.id_column, group_column}:
            if column not in header:
                raise BadInputError(
                    f"{str(config.labels)!r} has no column {column!r} "
                    f"(columns: {', '.join(header)})"
                )
        stratify = config.stratify or next(
            (c for c in header if c not in (config.id_column, group_column)), None
        )
        if stratify is None or stratify not in header:
            raise BadInputError(
                f"{str(config.labels)!r}: no label column {stratify!r} to stratify by "
                f"(columns: {', '.join(header)})"
            )
        ids = [row[config.id_column] for row in rows]
        duplicated = [i for i, n in Counter(ids).items() if n > 1]
        if duplicated:
            raise BadInputError(f"{str(config.labels)!r}: subject ids repeat: {duplicated[:5]}")
        out = config.out or config.labels.with_name(f"{config.labels.stem}.cohort.csv")

        columns: list[str] = []
        if config.stores:
            stores = find_stores(config.stores)
            modalities = sorted({m for by_mod in stores.values() for m in by_mod})
            columns = [f"store_{m}" if m else "store" for m in modalities]
            missing = [i for i in ids if i not in stores]
            if missing and not config.allow_missing:
                raise BadInputError(
                    f"{len(missing)} subject(s) have no store in "
                    f"{', '.join(repr(str(f)) for f in config.stores)}: "
                    f"{', '.join(missing[:5])}{' …' if len(missing) > 5 else ''} "
                    "(pass --allow-missing to keep them)"
                )
            for row in rows:
                by_modality = stores.get(row[config.id_column], {})
                for modality, column in zip(modalities, columns, strict=True):
                    path = by_modality.get(modality)
                    row[column] = str(path) if path else ""

        folds = assign_folds(
            [row[stratify] for row in rows],
            [row[group_column] for row in rows],
            n_folds=config.folds,
            seed=config.seed,
        )
        for row, fold in zip(rows, folds, strict=True):
            row["fold"] = str(int(fold))
        with (
            written_aside(out, overwrite=config.overwrite) as path,
            path.open("w", newline="", encoding="utf-8") as handle,
        ):
            writer = csv.DictWriter(handle, fieldnames=[*header, *columns, "fold"])
            writer.writeheader()
            writer.writerows(rows)
        summary = fold_summary([row[stratify] for row in rows], folds)
        self._show(ctx, summary, stratify)
        record: dict[str, Any] = {
            "subjects": len(rows),
            "folds": config.folds,
            "stratified_by": stratify,
            "grouped_by": group_column,
            "store_columns": columns,
            "summary": summary,
        }
        return TaskResult(path=out, record=record)

    @staticmethod
    def _show(ctx: TaskContext, summary: Any, stratify: str) -> None:
        ctx.log(f"folds by {stratify}: {summary}")
