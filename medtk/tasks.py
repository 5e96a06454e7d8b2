"""Tasks: the units the CLI exposes as ``medtk <verb> <task>``.

A task is a class. Its ``options`` map each verb it supports to a typed config model,
and it has a method of the same name per verb taking ``(config, context)`` and returning
a ``TaskResult``. Heavy imports (torch, zarr, …) belong inside those methods, so
that building the CLI stays fast.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from medtk.errors import PluginError

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

    from medtk.config import TaskConfig
    from medtk.registry import Registries

#: The CLI's verbs, in the order help shows them.
VERBS: tuple[str, ...] = ("preprocess", "train", "predict", "evaluate", "superres", "render")


@dataclass
class TaskResult:
    """What a task made: the path printed on stdout and a JSON-ready record for ``--json``.

    A task that makes several outputs (one store per input) lists them in ``paths``;
    stdout then gets one per line, so ``xargs`` and ``while read`` can chain them.
    """

    path: Path | None = None
    record: dict[str, Any] = field(default_factory=dict)
    paths: list[Path] = field(default_factory=list)

    def as_record(self) -> dict[str, Any]:
        """The record with the path(s) included, as ``--json`` prints it."""
        record: dict[str, Any] = {"path": str(self.path) if self.path is not None else None}
        if self.paths:
            record["paths"] = [str(p) for p in self.paths]
        record.update(self.record)
        return record

    def lines(self) -> list[str]:
        """What stdout gets without ``--json``: every output path, one per line."""
        if self.paths:
            return [str(p) for p in self.paths]
        return [str(self.path)] if self.path is not None else []


@dataclass
class TaskContext:
    """What a running task may use: registries, and a console on stderr for logs and bars."""

    registries: Registries
    console: Console
    verb: str
    task: str
    #: True under ``--json``: stdout carries only the JSON record, so print nothing there.
    json: bool = False

    def log(self, message: str) -> None:
        """One line of progress for people, on stderr."""
        self.console.print(message, highlight=False)

    def progress(self, *, transient: bool = False) -> Progress:
        """A rich progress bar on stderr with bar, count, rate and ETA columns."""
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        return _quiet_on_error_progress()(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=transient,
        )


def _quiet_on_error_progress() -> type:
    """A rich ``Progress`` that drops its bars when the block fails, so a log or a
    terminal gets the one error line, not a half-finished bar before it."""
    from rich.progress import Progress

    class QuietOnErrorProgress(Progress):
        def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
            if exc_type is not None:
                for task in list(self.task_ids):
                    self.remove_task(task)
            super().__exit__(exc_type, exc, tb)  # type: ignore[arg-type]

    return QuietOnErrorProgress


class Task:
    """Base class of every task; subclass it and set ``options``."""

    #: One line shown in ``medtk <verb> --help``; defaults to the docstring's first line.
    summary: ClassVar[str] = ""
    #: verb → config model, for every verb this task supports.
    options: ClassVar[Mapping[str, type[TaskConfig]]] = {}

    @classmethod
    def verbs(cls) -> list[str]:
        """The verbs this task supports, in CLI order."""
        return [v for v in VERBS if v in cls.options]

    @classmethod
    def help_for(cls, verb: str) -> str:
        """Help text for ``medtk <verb> <task>``: the verb method's docstring, else the class's."""
        method_doc = inspect.getdoc(getattr(cls, verb, None))
        return method_doc or inspect.getdoc(cls) or cls.summary

    @classmethod
    def short_help(cls) -> str:
        """The one-line summary for listings."""
        return cls.summary or (inspect.getdoc(cls) or "").split("\n", 1)[0]


def _nested_models(model: type) -> list[type]:
    """Pydantic models used as field types inside ``model``, recursively."""
    import typing

    from pydantic import BaseModel

    found: list[type] = []
    for info in model.model_fields.values():
        candidates = [info.annotation, *typing.get_args(info.annotation)]
        for candidate in candidates:
            if inspect.isclass(candidate) and issubclass(candidate, BaseModel):
                found += [candidate, *_nested_models(candidate)]
    return found


def validate_task_class(obj: Any, name: str) -> type[Task]:
    """Check a registered task target before the CLI uses it; explain what is wrong."""
    from medtk.config import TaskConfig  # pydantic: loaded only once a task is used

    if not (inspect.isclass(obj) and issubclass(obj, Task)):
        raise PluginError(f"task {name!r} is {obj!r}, not a subclass of medtk.tasks.Task")
    for verb, model in obj.options.items():
        if verb not in VERBS:
            raise PluginError(
                f"task {name!r} declares options for unknown verb {verb!r}; "
                f"verbs are {', '.join(VERBS)}"
            )
        if not (inspect.isclass(model) and issubclass(model, TaskConfig)):
            raise PluginError(f"task {name!r}: options[{verb!r}] must be a TaskConfig subclass")
        for nested in _nested_models(model):
            if nested.model_config.get("extra") != "forbid":
                raise PluginError(
                    f"task {name!r}: nested config {nested.__name__} must derive from "
                    "TaskConfig, or a typo in a config file would be silently ignored"
                )
        if not callable(getattr(obj, verb, None)):
            raise PluginError(f"task {name!r} declares {verb!r} but has no {verb}() method")
    return obj
