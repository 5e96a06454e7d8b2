"""In-process plugins and tasks for the tests: small, fast, no install needed."""

from __future__ import annotations

import json
import os
import signal
import time
import types
from enum import StrEnum
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field

from medtk import hookimpl
from medtk.config import TaskConfig, argument, option
from medtk.runs import create_run
from medtk.tasks import Task, TaskContext, TaskResult


class Fusion(StrEnum):
    ct = "ct"
    he = "he"
    mid = "mid"
    late = "late"


class Optim(TaskConfig):
    lr: float = Field(1e-4, description="Learning rate.", gt=0)
    weight_decay: float = Field(0.01, description="Weight decay.")


class ToyTrain(TaskConfig):
    """Every kind of field the CLI generator supports."""

    out: Path = option(Path("runs/toy"), "Run folder.", short="-o")
    fusion: Fusion = option(Fusion.mid, "How to fuse modalities.")
    loss: Literal["single", "multi"] = option("single", "Which heads are trained.")
    epochs: int = option(3, "Epochs.", gt=0)
    pretrained: bool = option(False, "Start from ImageNet weights.")
    folds: list[int] = option([0, 1, 2], "Folds to run (repeat the option).")
    hu: tuple[float, float] = option((-200.0, 250.0), "Hounsfield window.")
    optim: Optim = Field(default_factory=Optim)
    fail: bool = option(False, "Raise an unexpected error while running.")
    signal: Literal["SIGINT", "SIGTERM"] | None = option(None, "Signal itself while writing.")


class ToyIngest(TaskConfig):
    src: list[Path] = argument(..., "Input files.")
    out: Path = option(..., "Output store.", short="-o")


class ToyTask(Task):
    """A toy task with a train and a preprocess verb."""

    options: ClassVar = {"train": ToyTrain, "preprocess": ToyIngest}

    def train(self, config: ToyTrain, ctx: TaskContext) -> TaskResult:
        """Train the toy: writes a run folder with the resolved config."""
        with create_run(config.out, config=config, invocation="medtk train toy") as run:
            (run.path / "half-written.bin").write_bytes(b"\0" * 1024)
            if config.fail:
                raise RuntimeError("the toy broke")
            if config.signal:
                os.kill(os.getpid(), getattr(signal, config.signal))
                time.sleep(5)  # the signal arrives before this ends
            run.write_summary({"epochs": config.epochs})
        ctx.log("toy trained")
        return TaskResult(path=config.out, record={"epochs": config.epochs})

    def preprocess(self, config: ToyIngest, ctx: TaskContext) -> TaskResult:
        """Pretend to ingest: writes the list of sources."""
        config.out.write_text(json.dumps([str(s) for s in config.src]))
        return TaskResult(path=config.out, record={"inputs": len(config.src)})


class ToyPlugin:
    """Registers one thing of every kind, eagerly and lazily."""

    @hookimpl
    def register_tasks(self, register):
        register("toy", ToyTask, description="A toy task")

    @hookimpl
    def register_models(self, register):
        register("toy-net", "tests_toy_models:build", description="lazy, never imported")
        register("toy-linear", "torch.nn:Linear", description="torch's Linear")

    @hookimpl
    def register_losses(self, register):
        register("toy-l1", "torch.nn:L1Loss")


def one_entry_plugin(kind: str, name: str, target: object, plugin: str = "p"):
    """A plugin registering one ``kind`` entry, as the cli fixture's ``plugins=`` takes it."""

    @hookimpl(specname=f"register_{kind}")
    def register_one(register):
        register(name, target)

    module = types.ModuleType(f"medtk_test_plugin_{plugin}")
    module.register_one = register_one
    return [(plugin, module)]
