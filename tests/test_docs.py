"""Docs stay honest: every hook documented and tested, the CLI page generated, CI = README."""

from __future__ import annotations

import inspect
import re

import pytest

from conftest import REPO_ROOT
from medtk import hookspecs

HOOKS = sorted(
    name
    for name, obj in vars(hookspecs).items()
    if inspect.isfunction(obj) and hasattr(obj, f"{hookspecs.PROJECT_NAME}_spec")
)


def source_signature(hook: str) -> str:
    """The signature as written in hookspecs.py: ``register_models(register: Register) -> None``."""
    signature = inspect.signature(getattr(hookspecs, hook))
    params = ", ".join(f"{p.name}: {p.annotation}" for p in signature.parameters.values())
    return f"{hook}({params}) -> {signature.return_annotation}"


def test_there_are_six_hookspecs():
    kinds = ("models", "losses", "tasks", "readers", "metrics", "renderers")
    expected = sorted(f"register_{kind}" for kind in kinds)
    assert expected == HOOKS


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_documented_with_its_exact_signature(hook):
    page = (REPO_ROOT / "docs" / "plugins.md").read_text()
    signature = source_signature(hook)
    assert re.search(rf"^#+ .*{hook}", page, re.MULTILINE), f"no heading for {hook}"
    assert signature in page, f"docs/plugins.md lacks the signature {signature}"


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_test(hook):
    tests = (REPO_ROOT / "tests" / "test_hooks.py").read_text()
    assert f"def test_hook_{hook}(" in tests


def test_cli_reference_is_generated_from_the_app(tmp_path):
    from medtk.cli.reference import write_reference

    fresh = tmp_path / "cli.md"
    assert write_reference(str(fresh)) == 0
    committed = (REPO_ROOT / "docs" / "cli.md").read_text()
    assert committed == fresh.read_text(), (
        "docs/cli.md is out of date: run `python -m medtk.cli.reference docs/cli.md`"
    )


def test_ci_runs_exactly_the_readme_test_command():
    readme = (REPO_ROOT / "README.md").read_text()
    match = re.search(r"<!-- test-command -->\s*```(?:console|bash|sh)\n(?:\$ )?(.+?)\n```", readme)
    assert match, "README.md has no marked test command"
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert match.group(1).strip() in ci.splitlines()
