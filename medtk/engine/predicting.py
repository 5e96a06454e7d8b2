"""``medtk predict TASK STORE -r RUN`` for any dense task: a trained run over a whole store.

A task hands over how to rebuild its network from the run's saved config; everything else
— reading the run, tiling, blending, the dask scheduler, the output store, progress and
resuming an interrupted prediction — is the engine's :func:`~medtk.engine.inference.infer`,
so every family predicts the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import BaseModel

from medtk.config import TaskConfig, argument, option
from medtk.engine.options import Precision
from medtk.errors import BadInputError

if TYPE_CHECKING:
    import torch

    from medtk.tasks import TaskContext, TaskResult

Config = TypeVar("Config", bound=BaseModel)


class PredictOptions(TaskConfig):
    """Options of predicting a store with a trained run, shared by every dense task."""

    store: Path = argument(..., "image store to predict (from 'medtk preprocess ingest')")
    run: Path = option(..., "run folder of the trained model ('medtk train …')", short="-r")
    out: Path | None = option(
        None, "prediction store to write (default: beside the store, STEM.TASK.zarr)", short="-o"
    )
    level: int = option(0, "pyramid level of the store to predict", ge=0)
    tile: list[int] = option(
        [], "tile size: one value for every axis or one per axis (default: the task's)"
    )
    overlap: float = option(0.25, "overlap of neighbouring tiles, as a fraction", ge=0, lt=1)
    blend: Literal["gaussian", "constant", "pyramidal"] = option(
        "gaussian", "weights that blend overlapping tiles"
    )
    batch_size: int = option(4, "tiles per forward pass", gt=0)
    output: Literal["probabilities", "labels", "both"] = option(
        "both", "probabilities per class, the label image (argmax), or both"
    )
    scheduler: str | None = option(
        None,
        "dask.distributed scheduler address (tcp://host:8786) to run the tiles on a "
        "cluster; default: local threads",
    )
    device: str = option("auto", "auto, cpu, cuda, cuda:N or mps")
    precision: Precision = option(Precision.auto, "arithmetic: auto, 32, 16 or bf16")
    workers: int = option(0, "local threads running tiles (0: one per core)", ge=0)
    overwrite: bool = option(False, "replace an existing prediction store")


def read_run_config(run: Path, options: type[Config]) -> Config:
    """The training config saved in ``run``, validated as ``options``; one line if not."""
    from pydantic import ValidationError

    from medtk.config import read_config_file
    from medtk.runs import CONFIG_FILE

    run = Path(run)
    if not (run / CONFIG_FILE).is_file():
        folds = sorted(p.name for p in run.glob("fold-*") if (p / CONFIG_FILE).is_file())
        if folds:
            raise BadInputError(
                f"{str(run)!r} is a cross-validation; predict with one fold's run, "
                f"e.g. {str(run / folds[0])!r}"
            )
        raise BadInputError(f"{str(run)!r} is not a run folder (no {CONFIG_FILE})")
    data = read_config_file(run / CONFIG_FILE)
    try:
        return options.model_validate(data)
    except ValidationError as exc:
        raise BadInputError(
            f"{str(run)!r} was not trained by this task: {exc.errors()[0]['msg']}"
        ) from None


def load_run_model(run: Path, build: Callable[[Any], torch.nn.Module], config: Any) -> Any:
    """The network ``build(config)`` with the run's best weights, in evaluation mode."""
    from medtk.engine.checkpoint import load_weights

    weights = Path(run) / "model.safetensors"
    if not weights.is_file():
        raise BadInputError(f"run {str(run)!r} has no model.safetensors (did training finish?)")
    model = build(config)
    load_weights(model, weights)
    return model.eval()


def default_output(store: Path, task: str) -> Path:
    """``STEM.TASK.zarr`` beside the input store."""
    return store.with_name(f"{store.name.removesuffix('.zarr')}.{task}.zarr")


def predict_store(
    config: PredictOptions,
    ctx: TaskContext,
    model: torch.nn.Module,
    *,
    default_tile: Sequence[int],
    activation: Literal["softmax", "sigmoid"] | None,
    record: dict[str, Any] | None = None,
) -> TaskResult:
    """Run ``model`` tile by tile over ``config.store`` into a prediction store.

    :param default_tile: the tile when ``--tile`` is not given (usually the training patch).
    :param activation: turns each tile's logits into probabilities before blending.
    :param record: extra fields for the ``--json`` record.
    """
    from medtk.engine.inference import check_scheduler, infer, progress_bar
    from medtk.tasks import TaskResult

    check_scheduler(config.scheduler)
    store = Path(config.store)
    out = Path(config.out) if config.out is not None else default_output(store, ctx.task)
    tile: Sequence[int] = config.tile or default_tile
    ctx.log(f"predicting {store} with {config.run} → {out}")
    options = {
        "tile": tuple(tile) if len(tile) > 1 else tile[0],
        "overlap": config.overlap,
        "blending": config.blend,
        "batch_size": config.batch_size,
        "output": config.output,
        "activation": activation,
        "device": config.device,
        "precision": config.precision.value,
        "workers": config.workers,
        "label_name": "prediction",
        "overwrite": config.overwrite,
    }
    with progress_bar(f"predict {ctx.task}") as bar:
        result = infer(
            store,
            model,
            out,
            level=config.level,
            scheduler=config.scheduler,
            progress=bar,
            **options,
        )
    return TaskResult(
        path=result.path,
        record={
            "store": str(store),
            "run": str(config.run),
            "shape": list(result.shape),
            "classes": result.classes,
            "tiles": result.tiles,
            "resumed_blocks": result.resumed,
            **(record or {}),
        },
    )
