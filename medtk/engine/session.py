"""``medtk train TASK`` for any task: a new run, a resumed run, or k-fold cross-validation.

A task hands over a ``setup(config, ctx, fold)`` that builds, for one fold (or ``None``
for a single run), the model, the training dataset, the batch loss and the validation
function; everything else — seeding, run folders, resuming, folds, summaries — is here,
so every family trains the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medtk.errors import BadInputError
from medtk.tasks import TaskResult

if TYPE_CHECKING:
    from rich.progress import Progress

    from medtk.engine.options import TrainOptions
    from medtk.engine.trainer import FitResult
    from medtk.tasks import TaskContext

#: ``(config, ctx, fold or None) → (model, train_set, batch_loss, validate)``.
Setup = Callable[["TrainOptions", "TaskContext", "int | None"], tuple[Any, Any, Any, Any]]


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
    return TaskResult(path=target, record=summary)


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
    from medtk.engine.trainer import Trainer, seed_everything

    seed_everything(config.seed)
    model, train_set, batch_loss, validate = setup(config, ctx, fold)
    trainer = Trainer(model, config, batch_loss=batch_loss, validate=validate)
    if resume_from is not None:
        trainer.resume(resume_from)
        if trainer.start_epoch >= config.epochs:
            raise BadInputError(
                f"{str(resume_from)!r} already trained {trainer.start_epoch} epochs; "
                f"pass --epochs above {trainer.start_epoch} to extend it"
            )
    return trainer.fit(train_set, folder, progress)


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
