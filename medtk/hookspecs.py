"""The hooks a medtk plugin implements.

Every hook receives one ``register`` callback and returns nothing. A plugin calls
``register(name, target, description="", **metadata)`` once per thing it provides; the
target is the object itself or, better, a lazy ``"package.module:attr"`` string, so that
listing plugins imports nothing heavy. Every implementation is called (none is
``firstresult``); each plugin's registrations land together or, if one of its hooks
raises, not at all.
"""

from __future__ import annotations

from typing import Any, Protocol

import pluggy

PROJECT_NAME = "medtk"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
#: Decorate a plugin's hook functions with this (``from medtk import hookimpl`` also works).
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


class Register(Protocol):
    """The callback every ``register_*`` hook receives."""

    def __call__(
        self, name: str, target: Any, /, *, description: str = "", **metadata: Any
    ) -> None:
        """Register ``target`` under ``name``."""


@hookspec
def register_models(register: Register) -> None:
    """Register model constructors.

    :param register: call ``register(name, target)`` per model; ``target`` is a callable
        returning a ``torch.nn.Module`` (keyword arguments are the model's options).
    """


@hookspec
def register_losses(register: Register) -> None:
    """Register loss functions.

    :param register: call ``register(name, target)`` per loss; ``target`` is a
        ``torch.nn.Module`` class or a factory returning one.
    """


@hookspec
def register_tasks(register: Register) -> None:
    """Register tasks, the units the CLI exposes as ``medtk <verb> <task>``.

    :param register: call ``register(name, target)`` per task; ``target`` is a
        ``Task`` subclass whose ``options`` map each verb it supports to
        its typed config model.
    """


@hookspec
def register_readers(register: Register) -> None:
    """Register image readers that turn a file format into a medtk store.

    :param register: call ``register(name, target, suffixes=[...])`` per format.
    """


@hookspec
def register_metrics(register: Register) -> None:
    """Register evaluation metrics.

    :param register: call ``register(name, target)`` per metric; ``target`` computes a
        score from predictions and references.
    """


@hookspec
def register_renderers(register: Register) -> None:
    """Register renderers, the pictures ``medtk render <renderer>`` can make.

    :param register: call ``register(name, target)`` per renderer.
    """
