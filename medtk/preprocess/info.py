"""``medtk preprocess info``: what a store holds, as a tree for people or JSON for machines."""

from __future__ import annotations

from typing import Any, ClassVar

from medtk.preprocess.config import InfoConfig
from medtk.tasks import Task, TaskContext, TaskResult


def _size(nbytes: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if nbytes < 1024 or unit == "TiB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    return ""  # unreachable


def _fmt(values: list[float]) -> str:
    return ", ".join(f"{v:.6g}" for v in values)


def _tree(description: dict[str, Any], title: str) -> Any:
    """A rich tree of levels, labels and metadata."""
    from rich.markup import escape
    from rich.tree import Tree

    unit = description["unit"] or "pixel"
    tree = Tree(f"[bold]{escape(title)}[/]  axes {''.join(description['axes'])}, unit {unit}")
    levels = tree.add("levels")
    for level in description["levels"]:
        spacing = " × ".join(f"{s:.4g}" for s in level["scale"])
        levels.add(
            f"{level['path']}: shape {tuple(level['shape'])}, chunks {tuple(level['chunks'])}, "
            f"{level['dtype']}, scale {spacing}"
        )
    meta = description["medtk"]
    if meta:
        facts = tree.add("medtk")
        for key in ("modality", "subject", "magnification", "mpp", "rescale", "created"):
            if key in meta:
                facts.add(f"{key}: {escape(str(meta[key]))}")
        source = meta.get("source", {})
        if source:
            about = [str(source.get("format"))]
            if source.get("files"):
                about.append(f"{source['files']} file(s), {_size(source.get('bytes') or 0)}")
            if source.get("sha256"):
                about.append(f"sha256 {str(source['sha256'])[:16]}…")
            facts.add(f"source: {escape(str(source.get('path')))} ({', '.join(about)})")
        window = meta.get("window")
        if window:
            facts.add(f"window: {window['low']:g} to {window['high']:g} HU → 0-255")
        stats = meta.get("stats", {})
        if stats:
            hu = meta.get("modality") == "CT" and not window
            name = "HU range" if hu else "range"
            facts.add(f"{name}: min {_fmt(stats['min'])}; max {_fmt(stats['max'])}")
            facts.add(f"mean {_fmt(stats['mean'])}; std {_fmt(stats['std'])}")
            pct = stats.get("percentiles", {})
            if "1" in pct and "99" in pct:
                facts.add(f"1st–99th percentile: {_fmt(pct['1'])} – {_fmt(pct['99'])}")
    for name, label in description["labels"].items():
        values = label["medtk"].get("values", [])
        shown = ", ".join(map(str, values[:20])) + (" …" if len(values) > 20 else "")
        node = tree.add(f"labels/{escape(name)}: values {shown}")
        for level in label["levels"]:
            node.add(f"{level['path']}: shape {tuple(level['shape'])}, {level['dtype']}")
    return tree


class InfoTask(Task):
    """Describe a store: levels, shapes, chunks, spacing, labels and metadata."""

    options: ClassVar = {"preprocess": InfoConfig}

    def preprocess(self, config: InfoConfig, ctx: TaskContext) -> TaskResult:
        """Describe a store: its pyramid levels (shape, chunks, dtype, physical scale), its
        label images and medtk's metadata (modality, source and checksum, HU range, µm per
        pixel). The tree goes to stdout; --json prints the same facts as JSON.
        """
        from medtk.consoles import unwrapped_console
        from medtk.io.store import Store

        store = Store.open(config.store)
        description = store.describe()
        record = {k: v for k, v in description.items() if k != "path"}
        if not ctx.json:
            unwrapped_console(highlight=False).print(
                _tree(description, str(store.path)), crop=False
            )
            return TaskResult()
        return TaskResult(path=store.path, record=record)
