"""``medtk preprocess window``: a Hounsfield-windowed 8-bit copy of a CT store."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from medtk.errors import BadInputError
from medtk.preprocess.config import WindowConfig
from medtk.preprocess.ingest import _Bar, kept_for_resume
from medtk.tasks import Task, TaskContext, TaskResult
from medtk.threads import default_workers


def windowed_name(store: Path, low: float, high: float) -> Path:
    """``ct.zarr`` → ``ct.hu-200_250.zarr`` beside it."""
    stem = store.name.removesuffix(".zarr")
    return store.with_name(f"{stem}.hu{low:g}_{high:g}.zarr")


class WindowTask(Task):
    """Clip a CT store to a Hounsfield window and scale it to 0–255."""

    options: ClassVar = {"preprocess": WindowConfig}

    def preprocess(self, config: WindowConfig, ctx: TaskContext) -> TaskResult:
        """Window a CT store: clip to [LOW, HIGH] HU and scale linearly to 0–255 (uint8),
        chunk by chunk, into a new store with its own pyramid. Label images (such as a
        liver mask) are carried over, so the windowed store is ready for training.
        """
        from medtk.atomic import check_new_output
        from medtk.io.ingest import IngestOptions, write_store
        from medtk.io.store import Store
        from medtk.ops.intensity import window

        low, high = config.hu
        if low >= high:
            raise BadInputError(f"--hu {low:g} {high:g}: LOW must be below HIGH")
        store = Store.open(config.store)
        rescale = store.medtk.get("rescale", {})
        modality = store.medtk.get("modality")
        if modality not in (None, "CT") or rescale.get("unit", "HU") not in ("HU", ""):
            raise BadInputError(
                f"{str(config.store)!r} holds {modality or 'unknown'} data, not CT in "
                "Hounsfield units; windowing by HU would be meaningless"
            )
        if "c" in store.axes:
            raise BadInputError(f"{str(config.store)!r} has channels; a CT store has none")
        done = store.medtk.get("window")
        if done:
            raise BadInputError(
                f"{str(config.store)!r} is already windowed ({done['low']:g} to "
                f"{done['high']:g} HU, scaled to 0-255); window the original CT store"
            )
        out = config.out or windowed_name(store.path, low, high)
        check_new_output(out, overwrite=config.overwrite, directory=True)
        source = store.source(0, window(store.dask(0), low, high, out_dtype="uint8"))
        source.metadata["window"] = {"low": low, "high": high, "unit": "HU", "scale": "0-255"}
        source.metadata["derived_from"] = {
            "store": str(store.path.resolve()),
            "source": store.medtk.get("source"),
            "step": "medtk preprocess window",
        }
        source.metadata.pop("rescale", None)
        labels = {name: store.label(name).source(0) for name in store.labels}
        options = IngestOptions(workers=default_workers(config.workers), overwrite=config.overwrite)
        with ctx.progress() as progress, kept_for_resume(out, "run the same command again"):
            result = write_store(
                source, out, labels=labels, options=options, progress=_Bar(progress)
            )
        return TaskResult(
            path=result.path,
            record={"window": [low, high], "levels": result.levels, "labels": result.labels},
        )
