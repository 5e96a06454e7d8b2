"""``medtk train|predict|evaluate em``: semantic segmentation of EM volumes with 3D U-Nets.

- **train**: a U-Net learns the classes of a label image from random patches of the
  volume (class-balanced on request, augmented), validated on the held-out slab at the
  end of z after every epoch (``val_loss``, ``val_f1`` = mean per-class F1 at 0.5, and
  ``val_f1_NAME`` per class). ``--mode multiclass`` trains one network with an output per
  class; ``--mode binary`` trains one-vs-rest networks, one per class, each an ordinary
  run folder ``RUN/class-NAME``, with their summary in ``RUN/summary.json`` and
  ``RUN/classes.csv``.
- **predict**: the run over a whole store, tile by tile (the engine's tiled inference),
  into a prediction store of per-class probabilities and the label image (argmax); a
  binary run's networks run stacked, one probability channel each.
- **evaluate**: per-class F1 with thresholds chosen on a validation slab and scored on the
  rest, threshold–F1 curves, confusion matrix, and the table comparing two predictions
  (binary against multiclass), computed block by block.
"""

from __future__ import annotations

import csv
import shutil
import statistics
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from medtk.engine.predicting import PredictOptions
from medtk.errors import BadInputError, Interrupted
from medtk.tasks import Task, TaskContext, TaskResult
from medtk_em.config import EmEvaluateOptions, EmTrainOptions

if TYPE_CHECKING:
    import torch

    from medtk.engine.session import TrainSetup
    from medtk_em.data import ClassInfo

CLASSES_FILE = "classes.csv"


class EmTask(Task):
    """Semantic segmentation of EM volumes: multi-class or one-vs-rest 3D U-Nets."""

    options: ClassVar = {
        "train": EmTrainOptions,
        "predict": PredictOptions,
        "evaluate": EmEvaluateOptions,
    }

    def train(self, config: EmTrainOptions, ctx: TaskContext) -> TaskResult:
        """Train a 3D U-Net on patches of STORE's label image (--labels) into a run folder:
        config, model.safetensors, metrics.csv (val_loss, val_f1, val_f1_CLASS), state/ for
        --resume, summary.json. The last --val-fraction along z is the validation slab.
        --mode binary trains one network per class into RUN/class-NAME.
        """
        from medtk.engine.session import check_run_target, train_task
        from medtk_em.data import check_patch, class_info, em_data

        if config.folds:
            raise BadInputError(
                "--folds: em validates on a held-out slab of the volume (--val-fraction)"
            )
        if config.binary_class is not None and config.mode != "binary":
            raise BadInputError("--binary-class trains one class's network: add --mode binary")
        check_run_target(config)
        check_patch(config)
        info = class_info(config.store, config.labels, config.classes)
        if config.binary_class is not None and config.binary_class >= info.count:
            raise BadInputError(
                f"--binary-class {config.binary_class}: the labels hold classes 0–{info.count - 1}"
            )
        config = config.model_copy(update={"classes": info.count})
        em_data(config)  # the store, labels and split fit the patch: fail before any folder
        if config.mode == "binary" and config.binary_class is None:
            return _train_binary(config, ctx, info)
        return train_task(config, ctx, em_setup)

    def predict(self, config: PredictOptions, ctx: TaskContext) -> TaskResult:
        """Segment STORE with a run of 'medtk train em' (-r RUN), tile by tile: writes
        per-class probabilities and the label image (labels/prediction). A binary run's
        networks (RUN/class-NAME) run stacked. Tiles default to the training patch.
        """
        return _predict(config, ctx)

    def evaluate(self, config: EmEvaluateOptions, ctx: TaskContext) -> TaskResult:
        """Score a prediction store against --truth: per-class F1 at thresholds chosen on the
        last --val-fraction along z and scored on the rest, threshold–F1 curves, confusion
        matrix, and with --compare a second prediction in the same table and plot. Writes
        metrics.json, table.csv, table.md, f1_thresholds.png and confusion.png.
        """
        from medtk_em.evaluate import evaluate_predictions

        return evaluate_predictions(config, ctx)


# --------------------------------------------------------------------------------------
# Training


def loss_function(config: EmTrainOptions) -> torch.nn.Module:
    """The loss named by ``--loss``, for class-index targets of one batch.

    Multi-class: multi-label soft margin on one-hot targets, cross-entropy, or soft Dice
    over the softmax (summed over the batch). A binary network: binary cross-entropy (the
    multi-label soft margin of one class; what cross-entropy means for one output) or
    soft Dice over the sigmoid.
    """
    from medtk.nn.losses import CrossEntropyLoss, DiceLoss, MultiLabelSoftMarginLoss

    binary = config.binary_class is not None
    if config.loss == "dice":
        return DiceLoss(multiclass=not binary, batch=True)
    if config.loss == "cross-entropy" and not binary:
        return CrossEntropyLoss()
    return MultiLabelSoftMarginLoss()


def activation(config: EmTrainOptions) -> str:
    """How logits become probabilities: a sigmoid per class, or a softmax over classes."""
    if config.binary_class is not None or config.mode == "binary":
        return "sigmoid"
    return "sigmoid" if config.loss == "multilabel-soft-margin" else "softmax"


def em_setup(  # noqa: PLR0915 (the closures share the run's data)
    config: EmTrainOptions,
    ctx: TaskContext,
    fold: int | None,  # noqa: ARG001 (em has no folds: it holds out a slab)
) -> TrainSetup:
    """The patches, the U-Net, the loss and the per-epoch validation of one run."""
    import math

    import torch
    import torch.nn.functional as F  # noqa: N812
    from torch.utils.data import DataLoader

    from medtk.engine.sampling import PatchAugment
    from medtk.engine.session import TrainSetup
    from medtk_em.data import em_data
    from medtk_em.models import build_network

    data = em_data(config)
    model = build_network(config)
    loss_fn = loss_function(config)
    augment = PatchAugment(data.dims) if config.augment else None
    target_class = config.binary_class
    classes = config.classes
    one_hot = target_class is None and config.loss == "multilabel-soft-margin"
    sigmoid = activation(config) == "sigmoid"
    names = (
        [data.classes.names[target_class]] if target_class is not None else list(data.classes.names)
    )
    ctx.log(
        f"em: {classes} classes ({', '.join(data.classes.names)}), "
        f"{'binary network for ' + names[0] if target_class is not None else 'multiclass'}, "
        f"{data.dims}D patches {tuple(data.train.patch)}, {len(data.val)} validation patches"
    )

    def targets(labels: torch.Tensor) -> torch.Tensor:
        if target_class is not None:
            return (labels == target_class).unsqueeze(1).float()
        if one_hot:
            return F.one_hot(labels, classes).movedim(-1, 1).float()
        return labels

    def batch_loss(net: torch.nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        images, labels = batch
        if augment is not None:
            images, labels = augment(images, labels)
        return loss_fn(net(images), targets(labels))

    def validate(net: torch.nn.Module) -> dict[str, float]:
        device = next(net.parameters()).device
        outputs = 1 if target_class is not None else classes
        tp = torch.zeros(outputs, dtype=torch.float64)
        fp = torch.zeros_like(tp)
        fn = torch.zeros_like(tp)
        total, count = 0.0, 0
        for batch_images, batch_labels in DataLoader(data.val, batch_size=config.batch_size):
            images, labels = batch_images.to(device), batch_labels.to(device)
            logits = net(images).float()
            total += float(loss_fn(logits, targets(labels))) * len(images)
            count += len(images)
            scores = torch.sigmoid(logits) if sigmoid else torch.softmax(logits, dim=1)
            called = scores >= 0.5
            if target_class is not None:
                truth = (labels == target_class).unsqueeze(1)
            else:
                truth = F.one_hot(labels, classes).movedim(-1, 1).bool()
            axes = [0, *range(2, called.dim())]
            tp += (called & truth).sum(dim=axes).double().cpu()
            fp += (called & ~truth).sum(dim=axes).double().cpu()
            fn += (~called & truth).sum(dim=axes).double().cpu()
        denominator = 2 * tp + fp + fn
        f1 = [float(2 * t / d) if d > 0 else math.nan for t, d in zip(tp, denominator, strict=True)]
        scored = [v for v in f1 if not math.isnan(v)]
        row = {
            "val_loss": total / max(count, 1),
            "val_f1": statistics.fmean(scored) if scored else 0.0,
        }
        if target_class is None:
            row.update({f"val_f1_{name}": value for name, value in zip(names, f1, strict=True)})
        return row

    return TrainSetup(model=model, train_set=data.train, batch_loss=batch_loss, validate=validate)


def _train_binary(config: EmTrainOptions, ctx: TaskContext, info: ClassInfo) -> TaskResult:
    """One-vs-rest: a binary run per class in ``RUN/class-NAME``, then their summary.

    Finished classes are kept when an interrupted run is resumed; a class interrupted
    after an epoch continues from its saved state.
    """
    from medtk.engine.checkpoint import STATE_DIR
    from medtk.engine.crossval import finished_summary
    from medtk.engine.session import check_run_target, train_task
    from medtk.runs import create_run, resume_run, write_config

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
    key = f"best_{config.monitor}"
    rows: list[dict[str, Any]] = []
    try:
        with opened as run:
            for value in range(info.count):
                name = info.names[value]
                folder = run.path / info.folder(value)
                done = finished_summary(folder)
                if done is not None:
                    ctx.log(
                        f"class {name}: already trained (best {config.monitor} "
                        f"{done[key]:.4f}), kept"
                    )
                else:
                    resume = folder if (folder / STATE_DIR).is_dir() else None
                    if resume is None and folder.exists():
                        shutil.rmtree(folder)  # a start that finished no epoch
                    ctx.log(f"class {name} ({value + 1} of {info.count}): one-vs-rest network")
                    sub = config.model_copy(
                        update={
                            "out": None if resume else folder,
                            "resume": resume,
                            "binary_class": value,
                            "overwrite": False,
                        }
                    )
                    done = dict(train_task(sub, ctx, em_setup).record)
                    final = config.model_copy(
                        update={
                            "out": Path(target) / folder.name,
                            "resume": None,
                            "binary_class": value,
                            "overwrite": False,
                        }
                    )
                    write_config(folder, final, f"{invocation} (class {name})")
                rows.append({"class": name, "value": value, **done})
            summary = _binary_summary(rows, key)
            _write_classes(run.path / CLASSES_FILE, rows, key)
            run.write_summary(summary)
    except (Interrupted, KeyboardInterrupt):
        raise Interrupted(
            f"interrupted; classes finished so far are kept; continue with "
            f"'medtk train {ctx.task} {config.store} --mode binary --resume {target}'"
        ) from None
    ctx.log(
        f"one-vs-rest: mean best {config.monitor} {summary[f'mean_{key}']:.4f} "
        f"over {info.count} classes"
    )
    return TaskResult(path=Path(target), record=summary)


def _binary_summary(rows: list[dict[str, Any]], key: str) -> dict[str, Any]:
    values = [float(row[key]) for row in rows]
    return {
        "mode": "binary",
        "classes": [row["class"] for row in rows],
        key: values,
        f"mean_{key}": statistics.fmean(values),
        "best_epochs": [int(row["best_epoch"]) for row in rows],
        "runs": {
            row["class"]: {k: v for k, v in row.items() if k not in ("class", "last")}
            for row in rows
        },
    }


def _write_classes(path: Path, rows: list[dict[str, Any]], key: str) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["class", "value", "best_epoch", key])
        for row in rows:
            writer.writerow([row["class"], row["value"], row["best_epoch"], row[key]])


# --------------------------------------------------------------------------------------
# Prediction


def binary_runs(run: Path, classes: int) -> list[Path]:
    """The run folder of each class of a binary run, in class order; one line if one lacks."""
    from medtk.engine.predicting import read_run_config

    found: dict[int, Path] = {}
    for folder in sorted(Path(run).glob("class-*")):
        if (folder / "config.yaml").is_file():
            trained = read_run_config(folder, EmTrainOptions)
            if trained.binary_class is not None:
                found[trained.binary_class] = folder
    missing = [v for v in range(classes) if v not in found]
    if missing:
        raise BadInputError(
            f"binary run {str(run)!r} has no network for class value(s) "
            f"{', '.join(map(str, missing))} (RUN/class-NAME); finish it with --resume"
        )
    return [found[v] for v in range(classes)]


def _predict(config: PredictOptions, ctx: TaskContext) -> TaskResult:
    from medtk.engine.predicting import load_run_model, predict_store, read_run_config
    from medtk.engine.sampling import NormalisedInput, intensity_affine
    from medtk.io.store import Store
    from medtk_em.models import BinaryStack, build_network

    trained = read_run_config(config.run, EmTrainOptions)
    store = Store.open(Path(config.store))
    names = _class_names(trained)
    if trained.mode == "binary" and trained.binary_class is None:
        folders = binary_runs(Path(config.run), trained.classes)
        nets = [
            load_run_model(folder, build_network, read_run_config(folder, EmTrainOptions))
            for folder in folders
        ]
        net: torch.nn.Module = BinaryStack(nets)
        values = list(range(trained.classes))
    else:
        net = load_run_model(Path(config.run), build_network, trained)
        values = (
            [trained.binary_class]
            if trained.binary_class is not None
            else list(range(trained.classes))
        )
    if config.level != trained.level:
        ctx.log(
            f"note: the run was trained on level {trained.level}; predicting level {config.level}"
        )
    scale, shift = intensity_affine(store, trained.normalise)
    model = NormalisedInput(net, scale, shift).eval()
    how = activation(trained)
    described = {
        "mode": trained.mode,
        "loss": trained.loss,
        "activation": how,
        "classes": values,
        "names": [names.get(v, str(v)) for v in values],
        "run": str(config.run),
    }
    result = predict_store(
        config,
        ctx,
        model,
        default_tile=tuple(trained.patch),
        activation=how,  # type: ignore[arg-type]
        record={
            "mode": trained.mode,
            "activation": how,
            "class_values": values,
            "class_names": described["names"],
        },
    )
    _describe_prediction(Path(result.path), described)  # type: ignore[arg-type]
    return result


def _class_names(trained: EmTrainOptions) -> dict[int, str]:
    """Class names as the run saw them (from its store's label metadata, if still there)."""
    from medtk.engine.sampling import label_names
    from medtk.io.store import Store

    try:
        return label_names(Store.open(trained.store).label(trained.labels))
    except BadInputError:
        return {}


def _describe_prediction(path: Path, described: dict[str, Any]) -> None:
    """Record what the channels of a prediction store are (``medtk.em`` attributes)."""
    import zarr

    group = zarr.open_group(str(path), mode="r+")
    medtk = dict(group.attrs.get("medtk", {}))
    medtk["em"] = described
    group.attrs["medtk"] = medtk
