"""Built-in families ship in medtk's own wheel and register through the same entry points."""

from __future__ import annotations

import json
import shutil
import zipfile

import pytest

from conftest import REPO_ROOT, pip, run_medtk

PROBE_PLUGIN = """
from medtk import hookimpl


@hookimpl
def register_models(register):
    register("probe-net", "torch.nn:Identity", description="built-in probe")
"""


@pytest.fixture(scope="module")
def wheel_with_a_builtin_family(tmp_path_factory):
    """medtk's wheel, built from the real pyproject with one extra family in plugins/."""
    source = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO_ROOT / name, source / name)
    shutil.copytree(
        REPO_ROOT / "medtk", source / "medtk", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copytree(
        REPO_ROOT / "plugins", source / "plugins", ignore=shutil.ignore_patterns("__pycache__")
    )
    family = source / "plugins" / "medtk_probe"
    family.mkdir()
    (family / "__init__.py").write_text('"""A probe family."""\n')
    (family / "plugin.py").write_text(PROBE_PLUGIN)
    pyproject = (source / "pyproject.toml").read_text()
    pyproject = pyproject.replace(
        "[project.entry-points.medtk]\n",
        '[project.entry-points.medtk]\nprobe = "medtk_probe.plugin"\n',
    )
    assert 'probe = "medtk_probe.plugin"' in pyproject
    (source / "pyproject.toml").write_text(pyproject)
    out = tmp_path_factory.mktemp("wheel")
    pip("wheel", "--wheel-dir", str(out), str(source))
    (wheel,) = out.glob("medtk-*.whl")
    return wheel


def test_a_family_in_plugins_ships_as_a_top_level_package(wheel_with_a_builtin_family):
    names = zipfile.ZipFile(wheel_with_a_builtin_family).namelist()
    assert "medtk_probe/plugin.py" in names
    assert "medtk/cli/main.py" in names
    assert not any(n.startswith("plugins/") or n == "README.md" for n in names)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel_with_a_builtin_family).read(entry_points).decode()
    assert "\nprobe = medtk_probe.plugin" in text.split("[medtk]", 1)[1]
    assert "medtk = medtk.cli.main:main" in text


def test_a_builtin_family_loads_like_a_third_party_plugin(wheel_with_a_builtin_family, tmp_path):
    site = tmp_path / "site"
    pip("install", "--target", str(site), str(wheel_with_a_builtin_family))
    result = run_medtk("plugins", "--json", site=site)
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["probe"]["distribution"] == "medtk"
    assert rows["probe"]["models"] == ["probe-net"]
