"""The six verbs as command groups whose subcommands are the installed tasks.

Subcommands are built on demand: ``medtk --help`` loads no plugin, and ``medtk train
--help`` imports only the task classes, never torch.
"""

from __future__ import annotations

import contextlib
import difflib
import sys
from typing import Any, ClassVar

import typer
from typer.core import TyperGroup

from medtk.cli.output import warn
from medtk.cli.state import AppState
from medtk.errors import BadInputError, MedtkError, UnknownNameError
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
        """The class registered as ``name`` that supports this verb, else any so named."""
        registries = self.state.plugins.registries
        found = [
            validate_task_class(registries.of(kind).load(name), name)
            for kind in self.kinds
            if name in registries.of(kind)
        ]
        supporting = [task_cls for task_cls in found if self.verb in task_cls.options]
        return (supporting or found or [None])[0]

    def _registered_names(self) -> list[str]:
        """Names in this verb's registries, read without importing any task."""
        registries = self.state.plugins.registries
        return sorted({name for kind in self.kinds for name in registries.of(kind).names()})

    def list_commands(self, ctx: typer.Context) -> list[str]:  # noqa: ARG002 (Click's API)
        names = []
        for name in self._registered_names():
            try:
                task_cls = self._task_class(name)
            except MedtkError as exc:
                warn(str(exc), self.state.console)
                continue
            if task_cls is not None and self.verb in task_cls.options:
                names.append(name)
        return names

    def _may_offer_verb(self, name: str) -> bool:
        """False only for a task that loads and lacks this verb: hints name what can run."""
        try:
            task_cls = self._task_class(name)
        except MedtkError:
            return True
        return task_cls is None or self.verb in task_cls.options

    def get_command(self, ctx: typer.Context, cmd_name: str) -> Any:  # noqa: ARG002
        if cmd_name in self._built:
            return self._built[cmd_name]
        task_cls = self._task_class(cmd_name)
        if task_cls is None:
            known = [name for name in self._registered_names() if self._may_offer_verb(name)]
            close = difflib.get_close_matches(cmd_name, known, n=3, cutoff=0.6)
            hint = (
                f"; did you mean: {', '.join(close)}?"
                if close
                else f"; installed: {', '.join(known)}"
                if known
                else "; no installed plugin provides one"
            )
            raise UnknownNameError(
                f"no task {cmd_name!r} can {self.verb}{hint} (see 'medtk {self.verb} --help')"
            )
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
    app = typer.Typer(
        cls=group_cls,
        name=verb,
        help=VERB_HELP[verb],
        short_help=VERB_HELP[verb],
        epilog=VERB_EPILOG,
        rich_markup_mode="rich",
    )
    app.callback(invoke_without_command=True)(help_on_stderr_without_command)
    return app


def help_on_stderr_without_command(ctx: typer.Context) -> None:
    """A group called without a command is bad usage: its help goes to stderr, exit 2.

    (Click would print the help on stdout, where a script expects data.)
    """
    if ctx.invoked_subcommand is not None or ctx.resilient_parsing:
        return
    with contextlib.redirect_stdout(sys.stderr):
        text = ctx.get_help()  # Typer's rich help prints itself; plain help is returned
    if text:
        print(text, file=sys.stderr)
    raise typer.Exit(2)
