"""Turning a task's typed config model into command-line parameters.

Each field becomes one option (``--epochs``), nested models become dotted options
(``--optim.lr``), enums and ``Literal`` become choices, ``bool`` becomes a
``--flag/--no-flag`` pair, ``list[X]`` a repeatable option, ``tuple[X, Y]`` an option
taking two values, and fields declared with ``argument`` become
positional arguments. Field descriptions become help text. Types with no command-line
form (mappings, unions) stay settable from ``--config`` only.
"""

from __future__ import annotations

import enum
import inspect
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from rich.markup import escape

from medtk.config import CLI_KEY
from medtk.errors import PluginError

#: Options every task command has; task fields may not reuse these names.
RESERVED = frozenset({"config", "dry_run", "json", "debug", "help"})
RESERVED_SHORTS = frozenset({"-c", "-h"})
_SCALARS = (bool, int, float, str, Path)
TASK_PANEL = "Task options"


@dataclass(frozen=True)
class CliField:
    """One config field as the command line sees it."""

    path: tuple[str, ...]
    annotation: Any
    default: Any
    required: bool
    help: str
    argument: bool
    short: str | None

    @property
    def param_name(self) -> str:
        """The Python identifier Typer uses for this parameter."""
        return "__".join(self.path)

    @property
    def flags(self) -> list[str]:
        """Every command-line spelling this field takes (``--x``, ``--no-x``, ``-x``)."""
        if self.argument:
            return []
        flags = [self.option_name]
        if self.annotation is bool:
            flags.append(f"--no-{self.option_name[2:]}")
        if self.short:
            flags.append(self.short)
        return flags

    @property
    def option_name(self) -> str:
        """``--epochs``, ``--weight-decay``, ``--optim.lr``."""
        return "--" + ".".join(part.replace("_", "-") for part in self.path)


def _unwrap_optional(annotation: Any) -> Any:
    """``X | None`` → ``X``; ``Annotated[X, ...]`` → ``X`` (constraints stay with pydantic)."""
    if typing.get_origin(annotation) is Annotated:
        return _unwrap_optional(typing.get_args(annotation)[0])
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _cli_type(annotation: Any) -> Any | None:
    """The Typer-usable form of a field type, or None when it has no command-line form."""
    annotation = _unwrap_optional(annotation)
    origin = typing.get_origin(annotation)
    args = tuple(
        _unwrap_optional(a) if a is not Ellipsis else a for a in typing.get_args(annotation)
    )
    if _is_scalar(annotation):
        return annotation
    if origin is typing.Literal and all(isinstance(a, str | int) for a in args):
        return annotation
    if origin in (list, set, frozenset) and len(args) == 1 and _is_scalar(args[0]):
        return list[args[0]]
    if origin is tuple and args:
        if len(args) == 2 and args[1] is Ellipsis and _is_scalar(args[0]):
            return list[args[0]]
        if Ellipsis not in args and all(_is_scalar(a) for a in args):
            return tuple[args]
    return None


def _is_scalar(annotation: Any) -> bool:
    annotation = _unwrap_optional(annotation)
    return (
        annotation in _SCALARS
        or (inspect.isclass(annotation) and issubclass(annotation, enum.Enum))
        or typing.get_origin(annotation) is typing.Literal
    )


def _is_model(annotation: Any) -> bool:
    annotation = _unwrap_optional(annotation)
    return inspect.isclass(annotation) and issubclass(annotation, BaseModel)


def _field_default(info: FieldInfo) -> Any:
    if info.default_factory is not None:
        return info.default_factory()  # type: ignore[call-arg]
    return None if info.default is PydanticUndefined else info.default


def cli_fields(model: type[BaseModel]) -> list[CliField]:
    """Every field of ``model`` (nested models flattened) that has a command-line form.

    Raises :class:`PluginError` when a field would clash with medtk's own options or with
    another field, so a plugin's mistake is reported by name instead of crashing the CLI.
    """
    fields = _collect(model, (), (model,))
    taken: dict[str, str] = {f"--{name.replace('_', '-')}": "medtk" for name in RESERVED}
    taken.update(dict.fromkeys(RESERVED_SHORTS, "medtk"))
    for field in fields:
        dotted = ".".join(field.path)
        where = f"config model {model.__name__}, field {dotted!r}"
        if field.param_name.startswith("medtk_"):
            raise PluginError(f"{where}: the prefix 'medtk_' is reserved; rename it")
        if any("__" in part for part in field.path):
            raise PluginError(
                f"{where}: names with '__' could clash with nested options; rename it"
            )
        for flag in field.flags:
            owner = taken.setdefault(flag, dotted)
            if owner != dotted:
                raise PluginError(f"{where}: option {flag} is already taken by {owner}; rename it")
    return fields


def config_only_fields(model: type[BaseModel]) -> list[str]:
    """Dotted names of fields that only a ``--config`` file can set (mappings, unions…)."""
    flat = {".".join(f.path) for f in _collect(model, (), (model,))}
    return sorted(set(_all_leaf_paths(model, (), (model,))) - flat)


def _all_leaf_paths(
    model: type[BaseModel], prefix: tuple[str, ...], parents: tuple[type, ...]
) -> list[str]:
    paths = []
    for name, info in model.model_fields.items():
        nested = _unwrap_optional(info.annotation)
        if _is_model(nested) and nested not in parents:
            paths += _all_leaf_paths(nested, (*prefix, name), (*parents, nested))
        else:
            paths.append(".".join((*prefix, name)))
    return paths


def _collect(
    model: type[BaseModel], prefix: tuple[str, ...], parents: tuple[type, ...]
) -> list[CliField]:
    fields: list[CliField] = []
    for name, info in model.model_fields.items():
        path = (*prefix, name)
        if not prefix and name in RESERVED:
            raise PluginError(
                f"config model {model.__name__} uses the reserved option name "
                f"{name!r}; rename the field"
            )
        if _is_model(info.annotation):
            nested = _unwrap_optional(info.annotation)
            if nested in parents:
                continue  # a recursive model has no finite set of options: config file only
            fields += _collect(nested, path, (*parents, nested))
            continue
        cli_type = _cli_type(info.annotation)
        if cli_type is None:
            continue
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        hints = extra.get(CLI_KEY) or {}
        fields.append(
            CliField(
                path=path,
                annotation=cli_type,
                default=_field_default(info),
                required=info.is_required(),
                help=info.description or "",
                argument=bool(hints.get("argument")) and not prefix,
                short=hints.get("short"),
            )
        )
    return fields


def _show_default(field: CliField) -> bool | str:
    if field.required:
        return False
    value = field.default
    return not (value is None or (isinstance(value, list | tuple) and not value))


def typer_parameter(field: CliField) -> inspect.Parameter:
    """The ``inspect.Parameter`` (annotated with a Typer Option or Argument) for one field."""
    help_text = field.help + (" (required)" if field.required and not field.argument else "")
    if field.argument:
        marker: Any = typer.Argument(
            help=escape(field.help),
            show_default=_show_default(field),
            metavar=field.path[-1].upper(),
        )
        default = field.default
        annotation = field.annotation
        if typing.get_origin(annotation) is list:
            default = None
        return inspect.Parameter(
            field.param_name,
            inspect.Parameter.KEYWORD_ONLY,
            default=default,
            annotation=Annotated[annotation | None, marker],
        )
    names = [field.option_name]
    if field.annotation is bool:
        names = [f"{field.option_name}/--no-{field.option_name[2:]}"]
    if field.short:
        names.append(field.short)
    marker = typer.Option(
        *names,
        help=escape(help_text),
        show_default=_show_default(field),
        rich_help_panel=TASK_PANEL,
    )
    default = field.default
    if isinstance(default, set | frozenset):
        default = sorted(default)
    if field.annotation is bool:
        default = bool(default)
    return inspect.Parameter(
        field.param_name,
        inspect.Parameter.KEYWORD_ONLY,
        default=default,
        annotation=Annotated[field.annotation | None, marker]
        if field.annotation is not bool
        else Annotated[bool, marker],
    )


def nest(values: dict[tuple[str, ...], Any]) -> dict[str, Any]:
    """``{("optim", "lr"): 0.1}`` → ``{"optim": {"lr": 0.1}}``."""
    nested: dict[str, Any] = {}
    for path, value in values.items():
        node = nested
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
    return nested
