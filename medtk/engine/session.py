"""``medtk train TASK`` for any task: a new run, a resumed run, or k-fold cross-validation.

A task hands over a ``setup(config, ctx, fold)`` that builds, for one fold (or ``None``
for a single run), the model, the training dataset, the batch loss and the validation
function; everything else — seeding, run folders, resuming, folds, summaries — is here,
so every family trains the same way.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medtk.errors import BadInputError, Interrupted
from medtk.tasks import TaskResult

if TYPE_CHECKING:
    from rich.progress import Progress

    from medtk.engine.options import TrainOptions
    from medtk.engine.trainer import FitResult
    from medtk.tasks import TaskContext

PREDICTIONS_FILE = "predictions.csv"


@dataclass
class TrainSetup:
    """What a task builds for one run: the model, its data and how it is scored.

    :ivar batch_loss: ``(model, batch on device) → scalar loss``.
    :ivar validate: ``model → {metric: value}`` after each epoch.
    :ivar predict: ``model → rows`` of held-out predictions (e.g. ``label``, ``score``),
        written to ``predictions.csv`` with the best epoch's weights for ``medtk evaluate``.
    """

    model: Any
    train_set: Any
    batch_loss: Callable[..., Any]
    validate: Callable[..., Mapping[str, float]]
    predict: Callable[[Any], Sequence[Mapping[str, Any]]] | None = None


#: ``(config, ctx, fold or None) → TrainSetup``.
Setup = Callable[["TrainOptions", "TaskContext", "int | None"], TrainSetup]


def check_run_target(config: TrainOptions) -> Path:
    """Exactly one of ``-o`` and ``--resume``; a new run's folder must be free."""
    from medtk.atomic import check_new_output

    if (config.out is None) == (config.resume is None):
        raise BadInputError("give either -o RUN (a new run) or --resume RUN")
    if config.out is not None:
        check_new_output(config.out, overwrite=config.overwrite, directory=True)
        return Path(config.out)
    assert config.resume is not None
    return Path(config.resume)


def train_task(config: TrainOptions, ctx: TaskContext, setup: Setup) -> TaskResult:
    """Train one run, or one per fold, into ``-o`` or ``--resume``; returns the summary."""
    from medtk.runs import create_run, resume_run

    target = check_run_target(config)
    invocation = f"medtk train {ctx.task}"
    if config.resume is not None:
        opened = resume_run(target, config=config, invocation=invocation)
    else:
        opened = create_run(
            target,
            config=config,
            invocation=invocation,
            overwrite=config.overwrite,
            keep_interrupted=True,
        )
    try:
        with opened as run, ctx.progress() as progress:
            if config.folds:
                summary = _cross_validate(config, ctx, setup, run.path, progress)
            else:
                result = _fit(
                    config,
                    ctx,
                    setup,
                    fold=None,
                    folder=run.path,
                    progress=progress,
                    resume_from=config.resume,
                )
                summary = result.summary(config.monitor)
                _report(ctx, config, result, "")
            run.write_summary(summary)
    except (Interrupted, KeyboardInterrupt) as exc:
        kind = type(exc) if isinstance(exc, Interrupted) else Interrupted
        message = str(exc) if isinstance(exc, Interrupted) else "interrupted"
        fresh = config.resume is None
        raise kind(_how_to_continue(message, target, ctx.task, fresh=fresh)) from None
    return TaskResult(path=target, record=summary)


def _how_to_continue(message: str, target: Path, task: str, *, fresh: bool) -> str:
    """The interruption's message, with the command that continues the run; a new run that
    finished no epoch holds nothing to continue and is removed."""
    from medtk.engine.checkpoint import STATE_DIR

    if any(target.glob(f"**/{STATE_DIR}")):
        return f"{message}; continue with 'medtk train {task} --resume {target}'"
    if fresh:
        import shutil

        shutil.rmtree(target, ignore_errors=True)
    return f"{message}; nothing was kept"


def _fit(
    config: TrainOptions,
    ctx: TaskContext,
    setup: Setup,
    *,
    fold: int | None,
    folder: Path,
    progress: Progress,
    resume_from: Path | None,
) -> FitResult:
    """Seed, build, restore (when resuming) and train one run into ``folder``."""
    from medtk.engine.trainer import Trainer, seed_everything, write_rows

    seed_everything(config.seed)
    built = setup(config, ctx, fold)
    trainer = Trainer(built.model, config, batch_loss=built.batch_loss, validate=built.validate)
    if resume_from is not None:
        trainer.resume(resume_from)
        if trainer.start_epoch >= config.epochs:
            raise BadInputError(
                f"{str(resume_from)!r} already trained {trainer.start_epoch} epochs; "
                f"pass --epochs above {trainer.start_epoch} to extend it"
            )
    result = trainer.fit(built.train_set, folder, progress)
    if built.predict is not None:
        write_rows(folder / PREDICTIONS_FILE, trainer.best_predictions(folder, built.predict))
    _plot_epochs(folder, config)
    return result


def _cross_validate(
    config: TrainOptions, ctx: TaskContext, setup: Setup, root: Path, progress: Progress
) -> dict[str, Any]:
    from medtk.engine.checkpoint import STATE_DIR
    from medtk.engine.crossval import cross_validate
    from medtk.runs import RunFolder, write_config

    def train_fold(fold: int, folder: Path) -> dict[str, Any]:
        write_config(folder, config, f"medtk train {ctx.task} (fold {fold + 1})")
        resume_from = folder if (folder / STATE_DIR).is_dir() else None
        result = _fit(
            config, ctx, setup, fold=fold, folder=folder, progress=progress, resume_from=resume_from
        )
        _report(ctx, config, result, f"fold {fold + 1}: ")
        summary = {"fold": fold + 1, **result.summary(config.monitor)}
        RunFolder(path=folder, final_path=folder).write_summary(summary)
        return summary

    return cross_validate(root, config.folds, train_fold, monitor=config.monitor, log=ctx.log)


def _report(ctx: TaskContext, config: TrainOptions, result: FitResult, prefix: str) -> None:
    ctx.log(
        f"{prefix}best {config.monitor} {result.best_value:.4f} at epoch {result.best_epoch} "
        f"of {len(result.rows)} ({result.device}, {result.precision})"
    )


def _plot_epochs(folder: Path, config: TrainOptions) -> None:
    """``metrics.png``: the metrics per epoch, best epoch marked."""
    from medtk.viz import metric_per_epoch

    with (folder / "metrics.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    mode = "min" if config.minimise() else "max"
    metric_per_epoch(folder / "metrics.png", rows, monitor=config.monitor, mode=mode)
