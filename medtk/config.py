"""Typed task configs: declaring them, reading config files, and resolving precedence.

A task declares its options once, as a ``TaskConfig`` (a pydantic model). The CLI
turns the model into command-line options; values are resolved with a fixed precedence:

    model defaults  <  ``--config`` file (YAML or JSON)  <  command-line options

and the resolved config is saved with every run (``config.yaml``), so a run can be
repeated with ``--config RUN/config.yaml``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from medtk.errors import ConfigError

#: Key under ``json_schema_extra`` where a field keeps its CLI hints.
CLI_KEY = "medtk_cli"


class TaskConfig(BaseModel):
    """Base of every task's options: unknown keys are errors, defaults are validated."""

    model_config = ConfigDict(extra="forbid", validate_default=True)


def option(
    default: Any = ..., description: str = "", *, short: str | None = None, **kw: Any
) -> Any:
    """A config field shown as ``--name``; ``short`` adds an alias such as ``"-o"``."""
    extra = {CLI_KEY: {"short": short}} if short else None
    return Field(default, description=description, json_schema_extra=extra, **kw)


def argument(default: Any = ..., description: str = "", **kw: Any) -> Any:
    """A config field given positionally on the command line (``medtk preprocess ingest SRC``)."""
    return Field(
        default, description=description, json_schema_extra={CLI_KEY: {"argument": True}}, **kw
    )


def read_config_file(path: Path) -> dict[str, Any]:
    """Read a YAML or JSON mapping; any problem is one ``ConfigError`` line naming the file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {str(path)!r} does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {str(path)!r} is a directory") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {str(path)!r}: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "not valid YAML or JSON"
        raise ConfigError(
            f"config file {str(path)!r} is not valid YAML or JSON{where}: {problem}"
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"config file {str(path)!r} must hold a mapping of option names to values, "
            f"not a {type(data).__name__}"
        )
    return data


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` on top of ``base``; nested mappings merge key by key."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def resolve_config(
    model: type[TaskConfig],
    *,
    file_values: Mapping[str, Any] | None = None,
    cli_values: Mapping[str, Any] | None = None,
    source: str | None = None,
    cli_names: Mapping[tuple[str, ...], str] | None = None,
) -> TaskConfig:
    """Validate defaults < file < command line into one config; errors become one line.

    :param source: the config file's name, to say where a bad value came from.
    :param cli_names: field path → option name (``("epochs",) → "--epochs"``) for messages.
    """
    merged = deep_merge(file_values or {}, cli_values or {})
    try:
        return model.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(
            _first_error(exc, file_values or {}, cli_values or {}, source, cli_names or {})
        ) from None


def _first_error(
    exc: ValidationError,
    file_values: Mapping[str, Any],
    cli_values: Mapping[str, Any],
    source: str | None,
    cli_names: Mapping[tuple[str, ...], str],
) -> str:
    error = exc.errors()[0]
    loc = tuple(str(p) for p in error["loc"])
    dotted = ".".join(loc) or "config"
    option_name = cli_names.get(loc)
    if error["type"] == "missing":
        if option_name is None:
            return f"missing value for {dotted!r}: set it in the --config file"
        return f"missing value for {option_name} (give it on the command line or in --config)"
    if error["type"] == "extra_forbidden":
        where = f" in {source!r}" if source else ""
        return f"unknown option {dotted!r}{where}"
    from_file = source is not None and not _has(cli_values, loc)
    value = _lookup(file_values if from_file else cli_values, loc)
    where = f" in {source!r}" if from_file else ""
    message = error["msg"][0].lower() + error["msg"][1:]
    shown = repr(dotted) if from_file or option_name is None else option_name
    return f"invalid value {value!r} for {shown}{where}: {message}"


_MISSING = object()


def _lookup(data: Any, loc: tuple[str, ...], default: Any = None) -> Any:
    """``data[loc[0]][loc[1]]…`` through mappings and lists; ``default`` where absent."""
    for key in loc:
        if isinstance(data, Mapping) and key in data:
            data = data[key]
        elif isinstance(data, list | tuple) and key.isdigit() and int(key) < len(data):
            data = data[int(key)]
        else:
            return default
    return data


def _has(data: Any, loc: tuple[str, ...]) -> bool:
    return _lookup(data, loc, _MISSING) is not _MISSING


def dump_config(config: BaseModel, *, as_json: bool = False) -> str:
    """The resolved config as YAML (or JSON), in a form ``--config`` reads back."""
    data = config.model_dump(mode="json")
    if as_json:
        return json.dumps(data, indent=2)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
