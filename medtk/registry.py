"""Typed name → object registries filled by plugins.

A registration may point at its object lazily, as a ``"package.module:attr"`` string, so
listing what is installed never imports torch or a plugin's heavy modules. Entries are
frozen: looking one up and building from it can never change what the next caller sees.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from medtk.errors import DuplicateNameError, PluginError, UnknownNameError

#: The kinds of thing plugins register, in the order listings show them.
KINDS: tuple[str, ...] = ("tasks", "models", "losses", "readers", "metrics", "renderers")


def singular(kind: str) -> str:
    """The singular of a registry kind: ``losses`` → ``loss``, ``models`` → ``model``."""
    if kind.endswith("sses"):
        return kind[:-2]
    return kind[:-1] if kind.endswith("s") else kind


@dataclass(frozen=True)
class Entry:
    """One registered name: what it points at, who registered it, and free metadata."""

    kind: str
    name: str
    target: Any
    plugin: str
    description: str = ""
    metadata: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def is_lazy(self) -> bool:
        """True when the target is still an import path, not yet the object."""
        return isinstance(self.target, str)

    @property
    def target_path(self) -> str:
        """The import path of the target, for listings (``module:qualname``)."""
        if self.is_lazy:
            return self.target
        module = getattr(self.target, "__module__", type(self.target).__module__)
        qualname = getattr(self.target, "__qualname__", type(self.target).__qualname__)
        return f"{module}:{qualname}"

    def describe(self) -> dict[str, Any]:
        """A JSON-ready record of the entry, metadata included."""
        return {
            "name": self.name,
            "plugin": self.plugin,
            "target": self.target_path,
            "description": self.description,
            **_thawed(self.metadata),
        }

    def load(self) -> Any:
        """Import and return the target; a bad path is a ``PluginError`` naming the plugin."""
        if not self.is_lazy:
            return self.target
        owner = f"{singular(self.kind)} {self.name!r} of plugin {self.plugin!r}"
        return import_target(self.target, owner=owner)


def _frozen(value: Any) -> Any:
    """A read-only deep copy: mappings become mapping proxies, lists and sets tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({k: _frozen(v) for k, v in value.items()})
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
        return tuple(_frozen(v) for v in items)
    return value


def _thawed(value: Any) -> Any:
    """The plain-JSON form of a frozen value."""
    if isinstance(value, Mapping):
        return {k: _thawed(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_thawed(v) for v in value]
    return value


def import_target(path: str, *, owner: str) -> Any:
    """Resolve ``"package.module:attr.sub"`` to the object it names."""
    module_name, sep, attr_path = path.partition(":")
    if not sep or not module_name or not attr_path:
        raise PluginError(f"{owner}: target {path!r} is not of the form 'package.module:attr'")
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as exc:
        raise PluginError(f"{owner}: cannot import {module_name!r}: {exc}") from exc
    for attr in attr_path.split("."):
        try:
            obj = getattr(obj, attr)
        except AttributeError as exc:
            raise PluginError(f"{owner}: {module_name!r} has no attribute {attr_path!r}") from exc
    return obj


class Registry:
    """Names of one kind (models, losses, …) mapped to ``Entry`` objects."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry] = {}
        self._loaded: dict[str, Any] = {}

    @property
    def singular(self) -> str:
        """``"model"`` for the ``models`` registry, ``"loss"`` for ``losses``: for messages."""
        return singular(self.kind)

    def add(
        self,
        name: str,
        target: Any,
        *,
        plugin: str,
        description: str = "",
        **metadata: Any,
    ) -> Entry:
        """Register ``name``; a name already taken is an error that names both plugins."""
        if not isinstance(name, str) or not name.strip() or name != name.strip():
            raise PluginError(
                f"plugin {plugin!r} registered a {self.singular} with an invalid name {name!r}"
            )
        if target is None or (isinstance(target, str) and ":" not in target):
            raise PluginError(
                f"plugin {plugin!r} registered {self.singular} {name!r} with target "
                f"{target!r}; give an object or a 'package.module:attr' string"
            )
        if name in self._entries:
            first = self._entries[name].plugin
            raise DuplicateNameError(
                f"{self.singular} {name!r} is registered by plugin {first!r} and again by "
                f"plugin {plugin!r}"
            )
        entry = Entry(
            kind=self.kind,
            name=name,
            target=target,
            plugin=plugin,
            description=description,
            metadata=_frozen(metadata),
        )
        self._entries[name] = entry
        return entry

    def discard_plugin(self, plugin: str) -> None:
        """Forget every entry one plugin made: a plugin that fails lands nothing."""
        for name in self.by_plugin(plugin):
            del self._entries[name]
            self._loaded.pop(name, None)

    def get(self, name: str) -> Entry:
        """The entry called ``name``; unknown names raise with the closest valid names."""
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self._unknown_message(name)) from None

    def load(self, name: str) -> Any:
        """The object registered as ``name``, imported on first use and then remembered."""
        if name not in self._loaded:
            self._loaded[name] = self.get(name).load()
        return self._loaded[name]

    def names(self, pattern: str = "*") -> list[str]:
        """Sorted names matching a shell-style glob, such as ``"resnet*"``."""
        return sorted(n for n in self._entries if fnmatch.fnmatchcase(n, pattern))

    def entries(self, pattern: str = "*") -> list[Entry]:
        """Entries whose names match ``pattern``, sorted by name."""
        return [self._entries[n] for n in self.names(pattern)]

    def by_plugin(self, plugin: str) -> list[str]:
        """Names that one plugin registered, sorted."""
        return sorted(n for n, e in self._entries.items() if e.plugin == plugin)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self)} entries)"

    def _unknown_message(self, name: str) -> str:
        known = self.names()
        if not known:
            return f"unknown {self.singular} {name!r}: no {self.kind} are installed"
        close = difflib.get_close_matches(name, known, n=5, cutoff=0.5)
        if close:
            return f"unknown {self.singular} {name!r}; did you mean: {', '.join(close)}?"
        shown = ", ".join(known[:10]) + (", …" if len(known) > 10 else "")
        return f"unknown {self.singular} {name!r}; known {self.kind}: {shown}"


@dataclass(frozen=True)
class Registries:
    """One registry per kind, filled together by one plugin manager."""

    tasks: Registry = field(default_factory=lambda: Registry("tasks"))
    models: Registry = field(default_factory=lambda: Registry("models"))
    losses: Registry = field(default_factory=lambda: Registry("losses"))
    readers: Registry = field(default_factory=lambda: Registry("readers"))
    metrics: Registry = field(default_factory=lambda: Registry("metrics"))
    renderers: Registry = field(default_factory=lambda: Registry("renderers"))

    def of(self, kind: str) -> Registry:
        """The registry for ``kind`` (one of ``KINDS``)."""
        if kind not in KINDS:
            raise UnknownNameError(f"unknown registry {kind!r}; known: {', '.join(KINDS)}")
        registry: Registry = getattr(self, kind)
        return registry
