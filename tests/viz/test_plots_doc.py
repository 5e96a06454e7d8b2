"""docs/plots.md runs as written and makes every image it shows."""

from __future__ import annotations

import re

from png_helpers import read_png

from conftest import REPO_ROOT

PAGE = REPO_ROOT / "docs" / "plots.md"


def test_the_plots_page_runs_and_makes_its_images(tmp_path, monkeypatch):
    text = PAGE.read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.DOTALL)
    assert 'OUT = Path("docs/images")' in blocks[0]
    blocks[0] = blocks[0].replace("docs/images", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "plots_page"}
    for block in blocks:
        exec(compile(block, str(PAGE), "exec"), namespace)
    shown = re.findall(r"!\[[^\]]+\]\(images/(plots-[\w-]+\.png)\)", text)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(shown)
    for name in shown:
        committed = REPO_ROOT / "docs" / "images" / name
        assert committed.stat().st_size < 150_000, f"{name} is too large for the docs"
        assert read_png(tmp_path / name).shape == read_png(committed).shape, name
