"""The six verbs as command groups whose subcommands are the installed tasks.

Subcommands are built on demand: ``medtk --help`` loads no plugin, and ``medtk train
--help`` imports only the task classes, never torch.
"""

from __future__ import annotations

from typing import Any, ClassVar

import typer
from typer.core import TyperGroup

from medtk.cli.state import AppState
from medtk.errors import BadInputError, MedtkError
from medtk.tasks import Task, validate_task_class

VERB_HELP: dict[str, str] = {
    "preprocess": "Bring images into medtk: ingest into OME-Zarr stores, patch grids, cohorts.",
    "train": "Train a task's model; writes a run folder and prints its path.",
    "predict": "Apply a trained run to new images; writes predictions and prints their path.",
    "evaluate": "Score a run or predictions against references: metrics, tables and plots.",
    "superres": "Zero-shot super-resolution of images and volumes.",
    "render": "Pictures of volumes and results: renderings, orthogonal slices, overlays.",
}
VERB_EPILOG = "Tasks come from installed plugins: `medtk plugins` lists them."


class VerbGroup(TyperGroup):
    """A verb; each subclass is bound to one verb and one invocation's state."""

    verb: ClassVar[str]
    state: ClassVar[AppState]
    #: Registries whose entries are subcommands of this verb.
    kinds: ClassVar[tuple[str, ...]] = ("tasks",)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._built: dict[str, Any] = {}

    def _task_class(self, name: str) -> type[Task] | None:
        registries = self.state.plugins.registries
        for kind in self.kinds:
            registry = registries.of(kind)
            if name in registry:
                return validate_task_class(registry.load(name), name)
        return None

    def list_commands(self, ctx: typer.Context) -> list[str]:  # noqa: ARG002
        names = set()
        registries = self.state.plugins.registries
        for kind in self.kinds:
            for name in registries.of(kind).names():
                try:
                    task_cls = self._task_class(name)
                except MedtkError as exc:
                    self.state.console.print(f"medtk: warning: {exc}", style="yellow")
                    continue
                if task_cls is not None and self.verb in task_cls.options:
                    names.add(name)
        return sorted(names)

    def get_command(self, ctx: typer.Context, cmd_name: str) -> Any:  # noqa: ARG002
        if cmd_name in self._built:
            return self._built[cmd_name]
        task_cls = self._task_class(cmd_name)
        if task_cls is None:
            return None
        if self.verb not in task_cls.options:
            supported = ", ".join(task_cls.verbs()) or "nothing"
            raise BadInputError(f"task {cmd_name!r} cannot {self.verb}; it supports: {supported}")
        from medtk.cli.task_command import build_task_command  # pydantic, only when needed

        command = build_task_command(self.state, self.verb, cmd_name, task_cls)
        self._built[cmd_name] = command
        return command


def verb_app(verb: str, state: AppState) -> typer.Typer:
    """The Typer sub-app for one verb, bound to ``state``."""
    kinds = ("tasks", "renderers") if verb == "render" else ("tasks",)
    group_cls = type(
        f"{verb.title()}Group", (VerbGroup,), {"verb": verb, "state": state, "kinds": kinds}
    )
    return typer.Typer(
        cls=group_cls,
        name=verb,
        help=VERB_HELP[verb],
        short_help=VERB_HELP[verb],
        epilog=VERB_EPILOG,
        no_args_is_help=True,
        rich_markup_mode="rich",
    )
