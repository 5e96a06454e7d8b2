"""``medtk train|predict|evaluate nas-liver``: 2D liver segmentation of CT, the first step
of the NAFLD pipeline (liver masks for the CT branch, whose slices are masked to the liver
and dropped when dark).

A 2D U-Net segments the liver in axial slices windowed to [-200, 250] HU and resampled to
``--size``² (see :mod:`medtk_nas.liver_data` for the pipeline). Training holds whole
patients out for validation (a slab of slices when there is one volume) and picks the
epoch by the validation Dice; prediction runs the network slice by slice over a whole
store through the engine's tiled inference; evaluation scores Dice and Jaccard per volume.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from medtk.config import TaskConfig, argument, option
from medtk.engine.options import Precision, TrainOptions
from medtk.engine.predicting import PredictOptions
from medtk.errors import BadInputError
from medtk.tasks import Task, TaskContext, TaskResult

if TYPE_CHECKING:
    import numpy as np
    import torch

    from medtk.engine.session import TrainSetup
    from medtk_nas.liver_data import Volume

Loss = Literal["dice+bce", "dice", "bce", "cross-entropy"]
Norm = Literal["batch", "instance", "group", "none"]
#: Per-volume scores of the held-out volumes, written with the best epoch's weights.
PREDICTIONS_FILE = "predictions.csv"


class LiverTrainOptions(TrainOptions):
    """Options of ``medtk train nas-liver``: the engine's, the data's and the U-Net's."""

    stores: list[Path] = argument(
        [], "CT stores (HU, or windowed by 'medtk preprocess window') with a liver label"
    )
    label: str = option("liver", "name of the label image that marks the liver")
    label_value: int | None = option(
        None, "value of the liver in the label image (default: every non-zero value)", ge=1
    )
    hu: tuple[float, float] = option(
        (-200.0, 250.0), "Hounsfield window LOW HIGH, mapped to 0-255 (the NAFLD liver window)"
    )
    size: int = option(256, "slices are resampled to SIZE x SIZE (a multiple of 2^(depth-1))", ge=8)
    slices_per_volume: int = option(
        0, "slices drawn at random per volume and epoch (0: every slice once)", ge=0
    )
    liver_fraction: float | None = option(
        None,
        "with --slices-per-volume: share of the draws from slices with liver (default 0.5)",
        ge=0,
        le=1,
    )
    val_fraction: float = option(
        0.2,
        "share of the patients held out for validation (one volume: a slab of its slices)",
        gt=0,
        lt=1,
    )
    depth: int = option(4, "U-Net levels, counting the bottleneck", ge=1, le=8)
    width: int = option(32, "channels of the U-Net's first level", gt=0)
    norm: Norm = option("batch", "normalisation in the U-Net: batch, instance, group or none")
    dropout: float = option(0.0, "dropout in the U-Net's two deepest levels", ge=0, lt=1)
    loss: Loss = option(
        "dice+bce",
        "dice+bce, dice, bce (one sigmoid channel) or cross-entropy (two softmax channels)",
    )
    augment: bool = option(True, "augment slices (rotation, zoom, contrast, optional flips)")
    flip: float = option(
        0.0,
        "probability of a left-right flip (off: the liver's side tells it from the spleen)",
        ge=0,
        le=1,
    )
    rotate: float = option(10.0, "largest rotation in degrees", ge=0, le=180)
    zoom: float = option(0.1, "largest relative change of scale", ge=0, lt=1)
    jitter: float = option(0.1, "largest relative change of contrast (half as brightness)", ge=0)
    monitor: str = option("val_dice", "metric that picks the best epoch and stops early")

    @property
    def classes(self) -> int:
        """Output channels: two (background, liver) for cross-entropy, else one."""
        return 2 if self.loss == "cross-entropy" else 1


class LiverPredictOptions(PredictOptions):
    """Options of ``medtk predict nas-liver``."""

    largest_component: bool = option(
        False, "keep only the largest connected piece of the predicted liver (labels only)"
    )


class LiverEvaluateOptions(TaskConfig):
    """Options of ``medtk evaluate nas-liver``."""

    source: Path = argument(
        ...,
        "a prediction store ('medtk predict nas-liver'), or a run folder (or cross-validation) "
        "to score on its held-out volumes",
    )
    truth: Path | None = option(
        None, "store with the true liver label (default: the store that was predicted)"
    )
    label: str = option("liver", "name of the true label image in the truth store")
    label_value: int | None = option(
        None, "value of the liver in the label image (default: every non-zero value)", ge=1
    )
    out: Path | None = option(
        None,
        "output folder (default: STEM.evaluation beside a store, RUN/evaluation for a run)",
        short="-o",
    )
    slices: int = option(4, "slices shown in the image grid", ge=1)
    device: str = option("auto", "runs: where to predict (auto, cpu, cuda, cuda:N or mps)")
    precision: Precision = option(Precision.auto, "runs: arithmetic (auto, 32, 16 or bf16)")
    batch_size: int = option(4, "runs: slices per forward pass", gt=0)
    workers: int = option(0, "runs: local threads running tiles (0: one per core)", ge=0)
    overwrite: bool = option(False, "replace an existing output folder")


class LiverTask(Task):
    """2D U-Net liver segmentation of CT slices (the NAFLD pipeline's first step)."""

    options: ClassVar = {
        "train": LiverTrainOptions,
        "predict": LiverPredictOptions,
        "evaluate": LiverEvaluateOptions,
    }

    def train(self, config: LiverTrainOptions, ctx: TaskContext) -> TaskResult:
        """Train a 2D U-Net to segment the liver in axial CT slices (window -200..250 HU,
        resampled to --size). Whole patients are held out for validation (one volume: a
        slab of slices); the best epoch by val_dice is kept. Writes a run folder (config,
        model.safetensors, metrics.csv, predictions.csv with each held-out volume's Dice,
        state/ for --resume), or with --folds K one run per fold.
        """
        from medtk.engine.session import check_run_target, train_task

        check_run_target(config)
        if config.resume is not None:
            config = resumed_config(config)
        config = config.model_copy(update={"stores": [Path(p).resolve() for p in config.stores]})
        check_train_options(config)
        volumes = load_volumes(config, ctx)
        if config.folds:
            check_split(volumes, config.folds)
        return train_task(config, ctx, partial(setup, volumes=volumes))

    def predict(self, config: LiverPredictOptions, ctx: TaskContext) -> TaskResult:
        """Segment the liver in a CT store with a trained run, slice by slice: writes a store
        with the liver's probabilities and a label image (liver = 1), beside the input
        as STEM.nas-liver.zarr unless -o says otherwise.
        """
        return predict_liver(config, ctx)

    def evaluate(self, config: LiverEvaluateOptions, ctx: TaskContext) -> TaskResult:
        """Score liver masks against the truth: a prediction store against its CT store's
        label, or a run on its held-out volumes (predicted again with the best weights).
        Writes metrics.json, metrics.csv (Dice and Jaccard per volume) and slices.png
        (input, prediction, truth); prints a table.
        """
        return evaluate_liver(config, ctx)


# --------------------------------------------------------------------------------------
# Training


def resumed_config(config: LiverTrainOptions) -> LiverTrainOptions:
    """The run's saved options, with what this command gave on top (``--epochs`` …)."""
    from medtk.engine.predicting import read_run_config

    assert config.resume is not None
    saved = read_run_config(config.resume, LiverTrainOptions)
    given = {name: getattr(config, name) for name in config.model_fields_set}
    merged = {**saved.model_dump(), **given, "out": None, "resume": config.resume}
    return LiverTrainOptions.model_validate(merged)


def check_train_options(config: LiverTrainOptions) -> None:
    """Everything that can be checked before reading a volume."""
    from medtk_nas.liver_data import check_ct_store, store_window

    if not config.stores:
        raise BadInputError("give the CT stores to train on (with a liver label)")
    divisor = 2 ** (config.depth - 1)
    if config.size % divisor:
        raise BadInputError(
            f"--size {config.size} is not a multiple of {divisor} (2^(depth-1) for "
            f"--depth {config.depth})"
        )
    if config.liver_fraction is not None and not config.slices_per_volume:
        raise BadInputError("--liver-fraction needs --slices-per-volume")
    for path in config.stores:
        store_window(check_ct_store(path, config.label), config.hu)


def load_volumes(config: LiverTrainOptions, ctx: TaskContext) -> list[Volume]:
    """Every store's slices at the training size; one line per volume."""
    from medtk_nas.liver_data import read_volume

    volumes = []
    for path in config.stores:
        volume = read_volume(
            path,
            label=config.label,
            hu=config.hu,
            size=config.size,
            label_value=config.label_value,
        )
        ctx.log(
            f"{path.name}: {volume.shape[0]} slices of {volume.shape[1]} x {volume.shape[2]}, "
            f"{len(volume.liver_slices)} with liver"
        )
        volumes.append(volume)
    if not any(len(v.liver_slices) for v in volumes):
        raise BadInputError(f"label {config.label!r} marks no liver in any of the stores")
    return volumes


def check_split(volumes: Sequence[Volume], folds: int) -> None:
    """Enough patients (or, for one volume, slices) for ``folds`` folds."""
    from medtk.engine.crossval import check_folds

    if len(volumes) == 1:
        check_folds(folds, volumes[0].shape[0])
    else:
        check_folds(folds, len(volumes))


def held_out(
    volumes: Sequence[Volume], *, val_fraction: float, folds: int, fold: int | None, seed: int
) -> list[tuple[int, int] | None]:
    """Per volume, the slices ``(start, stop)`` held out for validation, or ``None``.

    Several volumes: whole patients (the stores' subjects; the volumes themselves when all
    share one subject) go to validation, by --folds (patient-grouped folds) or as about
    --val-fraction of the volumes. One volume: a slab of its slices, one of --folds equal
    slabs, or --val-fraction of the slices centred on the liver.
    """
    import numpy as np

    from medtk.ops.folds import assign_folds

    if len(volumes) == 1:
        depth = volumes[0].shape[0]
        if fold is not None:
            slab = np.array_split(np.arange(depth), folds)[fold]
            return [(int(slab[0]), int(slab[-1]) + 1)]
        count = min(depth - 1, max(1, math.ceil(depth * val_fraction)))
        if count < 1:
            raise BadInputError("one volume of one slice cannot be split for validation")
        liver = volumes[0].liver_slices
        centre = float(liver.mean()) + 0.5 if len(liver) else depth / 2
        start = int(np.clip(round(centre - count / 2), 0, depth - count))
        return [(start, start + count)]
    subjects = [v.subject for v in volumes]
    groups = subjects if len(set(subjects)) > 1 else [str(i) for i in range(len(volumes))]
    if fold is not None:
        assigned = assign_folds([0] * len(groups), groups, folds, seed)
        chosen = {g for g, f in zip(groups, assigned, strict=True) if f == fold}
    else:
        order = list(dict.fromkeys(groups))
        rng = np.random.default_rng(seed)
        order = [order[i] for i in rng.permutation(len(order))]
        wanted = max(1, round(len(volumes) * val_fraction))
        chosen = set()
        for group in order[:-1]:  # at least one patient stays for training
            if sum(g in chosen for g in groups) >= wanted:
                break
            chosen.add(group)
    return [(0, v.shape[0]) if g in chosen else None for v, g in zip(volumes, groups, strict=True)]


def build_unet(config: LiverTrainOptions) -> torch.nn.Module:
    """The 2D U-Net of a run's options."""
    from medtk.nn.models.unet import UNet

    return UNet(
        dims=2,
        in_channels=1,
        classes=config.classes,
        depth=config.depth,
        width=config.width,
        norm=config.norm,
        dropout=config.dropout,
    )


def build_loss(name: str) -> Any:
    """``(logits (B, K, S, S), mask (B, 1, S, S)) → loss`` for --loss ``name``."""
    from medtk.nn.losses import BinaryCrossEntropyLoss, CrossEntropyLoss, DiceLoss

    if name == "cross-entropy":
        entropy = CrossEntropyLoss()
        return lambda logits, mask: entropy(logits, mask[:, 0].long())
    dice = DiceLoss(multiclass=False, batch=True)
    bce = BinaryCrossEntropyLoss()
    if name == "dice":
        return dice
    if name == "bce":
        return bce
    return lambda logits, mask: dice(logits, mask) + bce(logits, mask)


def setup(
    config: LiverTrainOptions, ctx: TaskContext, fold: int | None, *, volumes: list[Volume]
) -> TrainSetup:
    """The slices split for ``fold`` (or by --val-fraction), the U-Net, loss and scores."""
    import numpy as np
    import torch

    from medtk.engine.session import TrainSetup
    from medtk.metrics import dice, jaccard
    from medtk_nas.liver_data import Augment, LiverSlices, predicted_liver

    held = held_out(
        volumes, val_fraction=config.val_fraction, folds=config.folds, fold=fold, seed=config.seed
    )
    train_slices = [
        np.setdiff1d(np.arange(v.shape[0]), np.arange(*h) if h else [])
        for v, h in zip(volumes, held, strict=True)
    ]
    validation = [(v, h) for v, h in zip(volumes, held, strict=True) if h is not None]
    augment = (
        Augment(flip=config.flip, rotate=config.rotate, zoom=config.zoom, jitter=config.jitter)
        if config.augment
        else None
    )
    train_set = LiverSlices(
        volumes,
        train_slices,
        per_volume=config.slices_per_volume,
        liver_fraction=0.5 if config.liver_fraction is None else config.liver_fraction,
        augment=augment,
    )
    prefix = "" if fold is None else f"fold {fold + 1}: "
    ctx.log(
        f"{prefix}training on {sum(map(len, train_slices))} slices of "
        f"{sum(1 for s in train_slices if len(s))} volume(s), validating on "
        f"{sum(h[1] - h[0] for _, h in validation)} slices of {len(validation)}"
    )
    model = build_unet(config)
    loss = build_loss(config.loss)

    def batch_loss(net: torch.nn.Module, batch: tuple) -> torch.Tensor:
        x, y = batch
        return loss(net(x), y)

    def scores(net: torch.nn.Module) -> tuple[float, list[dict[str, Any]]]:
        """The loss over all held-out slices, and each held-out volume's scores."""
        device = next(net.parameters()).device
        total, count, rows = 0.0, 0, []
        for volume, (start, stop) in validation:
            predicted = []
            for first in range(start, stop, config.batch_size):
                last = min(first + config.batch_size, stop)
                x = torch.from_numpy(volume.images[first:last, None]).to(device).float() / 255
                y = torch.from_numpy(volume.masks[first:last, None]).to(device).float()
                logits = net(x).float()
                total += float(loss(logits, y)) * (last - first)
                count += last - first
                predicted.append(predicted_liver(logits).cpu().numpy())
            truth = volume.masks[start:stop].astype(bool)
            found = np.concatenate(predicted)
            rows.append(
                {
                    "store": str(volume.path),
                    "subject": volume.subject,
                    "z_start": start,
                    "z_stop": stop,
                    "dice": dice(truth, found),
                    "jaccard": jaccard(truth, found),
                    "truth_pixels": int(truth.sum()),
                    "predicted_pixels": int(found.sum()),
                }
            )
        return total / max(count, 1), rows

    def validate(net: torch.nn.Module) -> dict[str, float]:
        value, rows = scores(net)
        return {
            "val_loss": value,
            "val_dice": float(np.mean([r["dice"] for r in rows])),
            "val_jaccard": float(np.mean([r["jaccard"] for r in rows])),
        }

    def predict(net: torch.nn.Module) -> list[dict[str, Any]]:
        return scores(net)[1]

    return TrainSetup(model, train_set, batch_loss, validate, predict)


# --------------------------------------------------------------------------------------
# Prediction


def predict_liver(config: LiverPredictOptions, ctx: TaskContext) -> TaskResult:
    """Run a trained run slice by slice over a store (the ``predict`` verb)."""
    from medtk.engine.predicting import load_run_model, predict_store, read_run_config
    from medtk_nas.liver_data import LiverSliceNet, check_ct_store, store_window

    if config.largest_component and config.output == "probabilities":
        raise BadInputError("--largest-component needs labels: use --output labels or both")
    trained = read_run_config(config.run, LiverTrainOptions)
    store = check_ct_store(config.store, label=None)
    if not 0 <= config.level < len(store.levels):
        raise BadInputError(
            f"store {str(config.store)!r} has levels 0 to {len(store.levels) - 1}, "
            f"not {config.level}"
        )
    window = store_window(store, trained.hu)
    net = load_run_model(config.run, build_unet, trained)
    _, height, width = store.levels[config.level].shape
    model = LiverSliceNet(
        net,
        window,
        zoom=(trained.size / height, trained.size / width),
        divisor=2 ** (trained.depth - 1),
    )
    result = predict_store(
        config,
        ctx,
        model,
        default_tile=(1, height, width),
        activation="sigmoid" if trained.classes == 1 else "softmax",
        record={"hu": list(trained.hu), "size": trained.size},
    )
    if config.largest_component:
        assert result.path is not None
        keep_largest_component(result.path)
    return result


def keep_largest_component(path: Path) -> int:
    """Keep the largest 26-connected piece of the liver in a prediction store's label
    image (in place); returns how many voxels were removed."""
    import numpy as np
    import zarr
    from scipy import ndimage

    root = zarr.open_group(str(path), mode="r+")
    medtk = dict(root.attrs["medtk"])
    labels = root["0"] if medtk["prediction"]["output"] == "labels" else root["labels/prediction/0"]
    liver = labels[...] == 1
    pieces, count = ndimage.label(liver, structure=np.ones((3, 3, 3)))
    removed = 0
    if count > 1:
        sizes = np.bincount(pieces.ravel())[1:]
        kept = pieces == 1 + int(np.argmax(sizes))
        removed = int(liver.sum() - kept.sum())
        labels[...] = np.where(liver & ~kept, 0, labels[...]).astype(labels.dtype)
    medtk["prediction"] = {**medtk["prediction"], "postprocess": "largest component"}
    root.attrs["medtk"] = medtk
    return removed


# --------------------------------------------------------------------------------------
# Evaluation


def predicted_mask(path: Path) -> np.ndarray:
    """The liver mask (bool ``(Z, Y, X)``) of a prediction store."""
    import numpy as np

    from medtk.io.store import Store

    store = Store.open(path)
    made = store.medtk.get("prediction")
    if not made:
        raise BadInputError(
            f"{str(path)!r} is not a prediction store (from 'medtk predict nas-liver')"
        )
    if "prediction" in store.labels:
        return np.asarray(store.label("prediction").array(0)[...]) == 1
    values = np.asarray(store.array(0)[...])
    if made.get("output") == "labels":
        return values == 1
    return values[0] >= 0.5 if values.shape[0] == 1 else values.argmax(axis=0) == 1


def score_volume(
    name: str, truth: np.ndarray, predicted: np.ndarray, **extra: Any
) -> dict[str, Any]:
    """Dice and Jaccard of one volume, with the sizes behind them."""
    from medtk.metrics import dice, jaccard

    return {
        "volume": name,
        **extra,
        "dice": dice(truth, predicted),
        "jaccard": jaccard(truth, predicted),
        "truth_voxels": int(truth.sum()),
        "predicted_voxels": int(predicted.sum()),
    }


def evaluate_liver(config: LiverEvaluateOptions, ctx: TaskContext) -> TaskResult:
    """Score a prediction store or a run's held-out volumes (the ``evaluate`` verb)."""
    from medtk.atomic import check_new_output, written_aside

    source = Path(config.source)
    if not source.exists():
        raise BadInputError(f"{str(source)!r} does not exist")
    run = source.is_dir() and (
        (source / "config.yaml").is_file() or any(source.glob("fold-*/config.yaml"))
    )
    if run and config.truth is not None:
        raise BadInputError("--truth is for a prediction store; a run knows its volumes")
    out = (
        Path(config.out)
        if config.out
        else (source / "evaluation" if run else source.with_name(f"{source.stem}.evaluation"))
    )
    check_new_output(out, overwrite=config.overwrite, directory=True)
    with written_aside(out, overwrite=config.overwrite, directory=True) as folder:
        if run:
            volumes = _run_volumes(config, ctx, source, folder)
        else:
            volumes = [_store_volume(config, source)]
        summary = _write_evaluation(folder, volumes, config)
    if not ctx.json:
        _print_table(summary)
    return TaskResult(path=out, record=summary)


@dataclass
class _Scored:
    """One scored volume: its row, and what the image grid shows of it.

    :ivar shown: slice index of the store → the slice windowed for display (uint8).
    :ivar truth: the scored slices' true mask; ``predicted`` the predicted one.
    :ivar first: the store's index of the first scored slice.
    """

    row: dict[str, Any]
    shown: Callable[[int], np.ndarray]
    truth: np.ndarray
    predicted: np.ndarray
    first: int = 0


def _truth(
    path: Path, config: LiverEvaluateOptions, hu: Sequence[float] | None = None
) -> tuple[np.ndarray, Any]:
    """The true liver mask of a CT store, and a function windowing its slices for display."""
    import numpy as np
    import torch

    from medtk_nas.liver_data import LIVER_WINDOW, check_ct_store, liver_mask, store_window

    store = check_ct_store(path, config.label)
    window = store_window(store, hu or LIVER_WINDOW)
    truth = liver_mask(np.asarray(store.label(config.label).array(0)[...]), config.label_value)
    image = store.array(0)

    def shown(z: int) -> np.ndarray:
        return window.levels(torch.from_numpy(np.asarray(image[z]))).numpy().astype(np.uint8)

    return truth, shown


def _store_volume(config: LiverEvaluateOptions, source: Path) -> _Scored:
    from medtk.io.store import Store

    predicted = predicted_mask(source)
    truth_path = config.truth
    if truth_path is None:
        made_from = Store.open(source).medtk.get("derived_from", {}).get("store")
        if not made_from:
            raise BadInputError(f"{str(source)!r} does not say what it predicted; give --truth")
        truth_path = Path(made_from)
    truth, shown = _truth(Path(truth_path), config)
    if truth.shape != predicted.shape:
        raise BadInputError(
            f"the prediction {str(source)!r} has shape {predicted.shape}, the truth "
            f"{str(truth_path)!r} {truth.shape}"
        )
    row = score_volume(source.name, truth, predicted, truth_store=str(truth_path))
    return _Scored(row, shown, truth, predicted, 0)


def _run_volumes(
    config: LiverEvaluateOptions, ctx: TaskContext, source: Path, folder: Path
) -> list[_Scored]:
    """Predict and score the held-out volumes of a run, or of every fold of a CV."""
    from medtk.engine.predicting import read_run_config

    folds = sorted(
        source.glob("fold-*"), key=lambda p: int(p.name[5:]) if p.name[5:].isdigit() else 0
    )
    runs = [p for p in folds if p.is_dir()] or [source]
    scored = []
    for run in runs:
        trained = read_run_config(run, LiverTrainOptions)
        table = run / PREDICTIONS_FILE
        if not table.is_file():
            raise BadInputError(
                f"run {str(run)!r} has no {PREDICTIONS_FILE} (did training finish?)"
            )
        with table.open(newline="", encoding="utf-8") as handle:
            held = list(csv.DictReader(handle))
        for number, entry in enumerate(held):
            store = Path(entry["store"])
            name = store.name.removesuffix(".zarr")
            if len(runs) > 1:
                name = f"{run.name}-{name}"
            out = folder / "predictions" / f"{number:02d}-{name}.zarr"
            options = LiverPredictOptions(
                store=store,
                run=run,
                out=out,
                output="labels",
                device=config.device,
                precision=config.precision,
                batch_size=config.batch_size,
                workers=config.workers,
            )
            predict_liver(options, ctx)
            start, stop = int(entry["z_start"]), int(entry["z_stop"])
            truth, shown = _truth(store, config, trained.hu)
            predicted = predicted_mask(out)
            extra = {"fold": run.name} if len(runs) > 1 else {}
            row = score_volume(
                name,
                truth[start:stop],
                predicted[start:stop],
                **extra,
                truth_store=str(store),
                z_start=start,
                z_stop=stop,
            )
            scored.append(_Scored(row, shown, truth[start:stop], predicted[start:stop], start))
    return scored


def _write_evaluation(
    folder: Path, volumes: Sequence[_Scored], config: LiverEvaluateOptions
) -> dict[str, Any]:
    """metrics.json, metrics.csv and slices.png into ``folder``; returns the summary."""
    import numpy as np

    from medtk.engine.trainer import write_rows
    from medtk.viz import image_grid

    rows = [v.row for v in volumes]
    summary = {
        "volumes": len(rows),
        "mean_dice": float(np.mean([r["dice"] for r in rows])),
        "mean_jaccard": float(np.mean([r["jaccard"] for r in rows])),
        "std_dice": float(np.std([r["dice"] for r in rows])),
        "per_volume": rows,
    }
    (folder / "metrics.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    write_rows(folder / "metrics.csv", rows)
    grid, titles = [], []
    each = max(1, config.slices // len(volumes))
    for volume in volumes:
        if len(grid) >= config.slices:
            break
        present = np.flatnonzero((volume.truth | volume.predicted).any(axis=(1, 2)))
        if not len(present):
            present = np.arange(len(volume.truth))
        picks = np.unique(
            present[np.linspace(0, len(present) - 1, each + 2)[1:-1].round().astype(int)]
        )
        for z in picks[: config.slices - len(grid)]:
            grid.append(
                [
                    volume.shown(volume.first + int(z)),
                    volume.predicted[z].astype(np.uint8),
                    volume.truth[z].astype(np.uint8),
                ]
            )
            titles.append(f"{volume.row['volume'].removesuffix('.zarr')} z={volume.first + int(z)}")
    image_grid(
        folder / "slices.png",
        grid,
        titles=("input", "prediction", "truth"),
        row_titles=titles,
        labels=(1, 2),
        class_names=["liver"],
        title=f"mean Dice {summary['mean_dice']:.3f}",
    )
    return summary


def _print_table(summary: dict[str, Any]) -> None:
    from rich.table import Table

    from medtk.consoles import unwrapped_console

    table = Table(title="liver segmentation", title_justify="left")
    for column in ("volume", "Dice", "Jaccard", "truth voxels", "predicted voxels"):
        table.add_column(column, justify="left" if column == "volume" else "right")
    for row in summary["per_volume"]:
        table.add_row(
            row["volume"],
            f"{row['dice']:.4f}",
            f"{row['jaccard']:.4f}",
            str(row["truth_voxels"]),
            str(row["predicted_voxels"]),
        )
    if summary["volumes"] > 1:
        table.add_row(
            "mean", f"{summary['mean_dice']:.4f}", f"{summary['mean_jaccard']:.4f}", "", ""
        )
    unwrapped_console(stderr=True, highlight=False, markup=False).print(table)
