"""Choosing a reader for an input: by content, in priority order, or forced by name."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from medtk.errors import BadInputError, PluginError

if TYPE_CHECKING:
    from medtk.io.source import ImageSource, Reader
    from medtk.registry import Registry


def readers_by_priority(readers: Registry) -> list[tuple[str, Any]]:
    """Registered readers, most specific first (highest ``priority``, then name)."""
    entries = sorted(readers.entries(), key=lambda e: (-int(e.metadata.get("priority", 0)), e.name))
    return [(entry.name, entry) for entry in entries]


def detect_reader(path: Path, readers: Registry, forced: str | None = None) -> tuple[str, Reader]:
    """The reader for ``path``: ``forced`` by name, else the first whose ``sniff`` says yes."""
    path = Path(path)
    if not path.exists():
        raise BadInputError(f"{str(path)!r} does not exist")
    if forced:
        return forced, readers.load(forced)()
    if path.is_dir() and not any(path.iterdir()):
        raise BadInputError(f"{str(path)!r} is an empty folder")
    broken = []
    for name, entry in readers_by_priority(readers):
        try:
            reader = entry.load()()
        except PluginError:  # one broken third-party reader must not hide the others
            broken.append(name)
            continue
        if reader.sniff(path):
            return name, reader
    kind = "folder" if path.is_dir() else "file"
    unusable = f"; readers that failed to load: {', '.join(broken)}" if broken else ""
    raise BadInputError(
        f"{str(path)!r}: not an image {kind} medtk can read (formats: "
        f"{', '.join(readers.names())}); force one with --format{unusable}"
    )


def open_source(path: Path, readers: Registry, forced: str | None = None) -> ImageSource:
    """Detect the format of ``path`` and open it."""
    name, reader = detect_reader(path, readers, forced)
    source = reader.open(Path(path))
    source.format = name
    return source
