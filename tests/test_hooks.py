"""One test per hookspec (test_docs.py checks that none is missing)."""

from __future__ import annotations

from collections import Counter, OrderedDict
from pathlib import Path
from typing import ClassVar

from medtk import hookimpl
from medtk.config import TaskConfig, option
from medtk.plugins import load_plugins
from medtk.tasks import Task, TaskResult


def registered(plugin, kind):
    loaded = load_plugins(entry_points=False, extra=[("p", plugin)], env={}, warn=print)
    assert loaded.failures == []
    return loaded.registries.of(kind)


def test_hook_register_models():
    class Plugin:
        @hookimpl
        def register_models(self, register):
            register("tiny-mlp", "torch.nn:Linear", description="a layer", family="mlp")

    entry = registered(Plugin(), "models").get("tiny-mlp")
    model = entry.load()(3, 2)
    assert tuple(model.weight.shape) == (2, 3)
    assert entry.metadata == {"family": "mlp"}


def test_hook_register_losses():
    import torch

    class Plugin:
        @hookimpl
        def register_losses(self, register):
            register("l1", "torch.nn:L1Loss")

    loss = registered(Plugin(), "losses").load("l1")()
    assert float(loss(torch.tensor([1.0, 3.0]), torch.tensor([0.0, 0.0]))) == 2.0


def test_hook_register_tasks(cli):
    class Options(TaskConfig):
        name: str = option("world", "Who to greet.")

    class Greet(Task):
        """Greets."""

        options: ClassVar = {"evaluate": Options}

        def evaluate(self, config, ctx):
            return TaskResult(record={"greeting": f"hello {config.name}"})

    class Plugin:
        @hookimpl
        def register_tasks(self, register):
            register("greet", Greet)

    assert registered(Plugin(), "tasks").load("greet") is Greet
    result = cli("evaluate", "greet", "--name", "medtk", "--json", plugins=[("p", Plugin())])
    assert result.code == 0
    assert '"greeting": "hello medtk"' in result.out


def test_hook_register_readers():
    class Plugin:
        @hookimpl
        def register_readers(self, register):
            register("nrrd", "collections:OrderedDict", suffixes=[".nrrd", ".nhdr"])

    entry = registered(Plugin(), "readers").get("nrrd")
    assert entry.metadata["suffixes"] == (".nrrd", ".nhdr")  # frozen: no caller can edit it
    assert entry.load() is OrderedDict


def test_hook_register_metrics():
    class Plugin:
        @hookimpl
        def register_metrics(self, register):
            register("count", Counter, description="counts")

    assert registered(Plugin(), "metrics").load("count") is Counter


def test_hook_register_renderers(cli, tmp_path):
    class Options(TaskConfig):
        out: Path = option(..., "PNG to write.", short="-o")

    class Slices(Task):
        """Orthogonal slices."""

        options: ClassVar = {"render": Options}

        def render(self, config, ctx):
            config.out.write_bytes(b"\x89PNG\r\n")
            return TaskResult(path=config.out)

    class Plugin:
        @hookimpl
        def register_renderers(self, register):
            register("slices", Slices)

    assert registered(Plugin(), "renderers").load("slices") is Slices
    out = tmp_path / "s.png"
    result = cli("render", "slices", "-o", str(out), plugins=[("p", Plugin())])
    assert (result.code, result.out.strip()) == (0, str(out))
    assert out.read_bytes().startswith(b"\x89PNG")
