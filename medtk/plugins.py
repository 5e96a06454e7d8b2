"""Finding, loading and isolating plugins.

Every plugin, built-in or third-party, is a module named by an entry point in the group
``medtk``. ``load_plugins`` builds a fresh pluggy manager each call (no module-global
state, so tests make their own), imports each plugin, calls its ``register_*`` hooks and
fills one ``Registries``. A plugin that fails to import, fails
validation, raises in a hook or claims a taken name is reported by name and skipped
whole; the others keep working.

Environment variables (comma-separated entry-point names):

- ``MEDTK_LOAD_PLUGINS``: when set, only these plugins load (empty: none).
- ``MEDTK_DISABLE_PLUGINS``: these plugins do not load.
- ``MEDTK_TRACE_PLUGINS=1``: print every registration to stderr.
"""

from __future__ import annotations

import importlib.metadata
import os
import sys
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import pluggy

from medtk import hookspecs
from medtk.registry import KINDS, Registries, Registry

ENTRY_POINT_GROUP = "medtk"
ENV_LOAD = "MEDTK_LOAD_PLUGINS"
ENV_DISABLE = "MEDTK_DISABLE_PLUGINS"
ENV_TRACE = "MEDTK_TRACE_PLUGINS"

Status = Literal["ok", "failed", "disabled"]
Warn = Callable[[str], None]


@dataclass
class PluginRecord:
    """What happened to one plugin: where it came from and whether it loaded."""

    name: str
    module: str
    distribution: str | None = None
    version: str | None = None
    status: Status = "ok"
    error: str | None = None


@dataclass
class Plugins:
    """The outcome of loading: the pluggy manager, the filled registries, one record each."""

    manager: pluggy.PluginManager
    registries: Registries
    records: list[PluginRecord] = field(default_factory=list)

    @property
    def failures(self) -> list[PluginRecord]:
        """Records of plugins that were found but could not be used."""
        return [r for r in self.records if r.status == "failed"]

    def describe(self) -> list[dict[str, Any]]:
        """One JSON-ready record per plugin, with the names it registered by kind."""
        rows = []
        for record in self.records:
            ok = record.status == "ok"  # a skipped plugin owns nothing, whoever shares its name
            row: dict[str, Any] = {
                "name": record.name,
                "version": record.version,
                "distribution": record.distribution,
                "module": record.module,
                "status": record.status,
                "error": record.error,
            }
            for kind in KINDS:
                row[kind] = self.registries.of(kind).by_plugin(record.name) if ok else []
            rows.append(row)
        return rows


def _names_from_env(env: Mapping[str, str], var: str) -> set[str] | None:
    if var not in env:
        return None
    return {n.strip() for n in env[var].split(",") if n.strip()}


def _default_warn(message: str) -> None:
    print(f"medtk: warning: {message}", file=sys.stderr)


def _describe_exception(exc: BaseException) -> str:
    detail = " ".join(str(exc).split())
    if isinstance(exc, pluggy.PluginValidationError) or type(exc).__module__.startswith("medtk"):
        return detail or type(exc).__name__
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


@dataclass
class _Candidate:
    name: str
    module: str
    load: Callable[[], object]
    distribution: str | None = None
    version: str | None = None


def _entry_point_candidates() -> list[_Candidate]:
    found = []
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        found.append(
            _Candidate(
                name=ep.name,
                module=ep.value,
                load=ep.load,
                distribution=dist.name if dist is not None else None,
                version=dist.version if dist is not None else None,
            )
        )
    return sorted(found, key=lambda c: (c.name, c.distribution or ""))


def load_plugins(
    *,
    entry_points: bool = True,
    distributions: Collection[str] | None = None,
    extra: Iterable[tuple[str, object]] = (),
    env: Mapping[str, str] | None = None,
    warn: Warn | None = None,
) -> Plugins:
    """Build a plugin manager, load plugins and fill fresh registries.

    :param entry_points: discover plugins in the ``medtk`` entry-point group.
    :param distributions: only entry points of these distributions (``{"medtk"}``: the
        built-in families alone, as the generated CLI reference shows them).
    :param extra: ``(name, plugin)`` pairs registered before the entry points; tests and
        embedding applications pass modules or objects with hook implementations here.
    :param env: where to read the ``MEDTK_*_PLUGINS`` variables (default ``os.environ``).
    :param warn: called with one line per plugin that is skipped (default: stderr).
    """
    env = os.environ if env is None else env
    warn = warn or _default_warn
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    plugins = Plugins(manager=manager, registries=Registries())

    candidates = [
        _Candidate(name=name, module=getattr(obj, "__name__", repr(obj)), load=lambda o=obj: o)
        for name, obj in extra
    ]
    if entry_points:
        candidates += [
            c
            for c in _entry_point_candidates()
            if distributions is None or c.distribution in distributions
        ]

    allowed = _names_from_env(env, ENV_LOAD)
    blocked = _names_from_env(env, ENV_DISABLE) or set()
    trace = env.get(ENV_TRACE, "") not in ("", "0")
    seen: dict[str, _Candidate] = {}

    for candidate in candidates:
        record = PluginRecord(
            name=candidate.name,
            module=candidate.module,
            distribution=candidate.distribution,
            version=candidate.version,
        )
        plugins.records.append(record)
        if candidate.name in blocked or (allowed is not None and candidate.name not in allowed):
            record.status = "disabled"
            continue
        if candidate.name in seen:
            first = seen[candidate.name].distribution or seen[candidate.name].module
            _fail(record, f"skipped: its name is already used by {first!r}", warn)
            continue
        seen[candidate.name] = candidate
        try:
            obj = candidate.load()
            manager.register(obj, name=candidate.name)
        except Exception as exc:
            _fail(record, f"cannot be loaded: {_describe_exception(exc)}", warn)
            continue
        try:
            manager.check_pending()
        except Exception as exc:
            manager.unregister(name=candidate.name)
            _fail(record, f"cannot be loaded: {_describe_exception(exc)}", warn)
            continue
        try:
            _call_register_hooks(manager, plugins.registries, candidate.name, trace=trace)
        except Exception as exc:
            for kind in KINDS:
                plugins.registries.of(kind).discard_plugin(candidate.name)
            manager.unregister(name=candidate.name)
            _fail(record, f"skipped: {_describe_exception(exc)}", warn)
    return plugins


def _fail(record: PluginRecord, why: str, warn: Warn) -> None:
    record.status = "failed"
    record.error = why
    warn(f"plugin {record.name!r} {why}")


def _call_register_hooks(
    manager: pluggy.PluginManager, registries: Registries, plugin_name: str, *, trace: bool
) -> None:
    """Call one plugin's ``register_*`` hooks, each with a callback bound to its registry."""
    for kind in KINDS:
        register = _register_callback(registries.of(kind), plugin_name, trace=trace)
        for impl in getattr(manager.hook, f"register_{kind}").get_hookimpls():
            if impl.plugin_name == plugin_name:
                impl.function(register=register)


def _register_callback(registry: Registry, plugin_name: str, *, trace: bool) -> hookspecs.Register:
    def register(name: str, target: Any, /, *, description: str = "", **metadata: Any) -> None:
        registry.add(name, target, plugin=plugin_name, description=description, **metadata)
        if trace:
            print(
                f"medtk: trace: plugin {plugin_name!r} registered {registry.singular} {name!r}",
                file=sys.stderr,
            )

    return register
