"""Developer sessions: `nox -s tests`, `nox -s lint`, `nox -s docs`, `nox -s demo`.

Environments are built with uv from the project's own files, so a fresh machine needs only
`python3 -m pip install "nox[uv]"`. uv also keeps the plain PyPI torch build (the one
torchvision's compiled ops load with) rather than any CPU-only wheel a machine may keep
in pip's find-links.
"""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.default_venv_backend = "uv"
nox.options.sessions = ["lint", "tests"]
nox.options.reuse_existing_virtualenvs = True

ROOT = Path(__file__).parent
EXAMPLE_PLUGIN = "tests/fixtures/medtk-example-plugin"


@nox.session
def tests(session: nox.Session) -> None:
    """Install medtk with its test group and run pytest (pass pytest options after --)."""
    session.install(".", "--group", "test")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: lint rules and formatting."""
    session.install("--group", "lint")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def docs(session: nox.Session) -> None:
    """Regenerate the CLI reference from the app, then build the site strictly."""
    session.install(".", "--group", "docs")
    session.run("python", "-m", "medtk.cli.reference", "docs/cli.md")
    session.run("mkdocs", "build", "--strict", *session.posargs, env={"NO_MKDOCS_2_WARNING": "1"})


@nox.session
def demo(session: nox.Session) -> None:
    """Install medtk and the example plugin, then run examples/quickstart.sh and a small
    examples/nas_study.sh (about ten minutes on two cores; the script's defaults are the
    full demo of docs/nas.md)."""
    session.install(".", EXAMPLE_PLUGIN)
    session.run("bash", "examples/quickstart.sh", *session.posargs, external=True)
    # 30 patients (fewer leave a class out of some fold), small slides, instances, epochs
    small_study = {
        "NAS_PATIENTS": "30",
        "NAS_SLIDE_SIZE": "2048",
        "NAS_LIVER_SIZE": "64",
        "NAS_LIVER_EPOCHS": "4",
        "NAS_SIZE": "64",
        "NAS_EPOCHS": "5",
    }
    session.run("bash", "examples/nas_study.sh", external=True, env=small_study)


@nox.session
def benchmarks(session: nox.Session) -> None:
    """Run the benchmarks and print their tables (figures go to docs/benchmarks.md)."""
    session.install(".")
    for script in sorted((ROOT / "benchmarks").glob("bench_*.py")):
        session.run("python", str(script), *session.posargs)
