"""Shared fixtures: in-process CLI runs with chosen plugins, and a real plugin install."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from medtk.cli.main import main
from medtk.cli.state import AppState
from medtk.plugins import Plugins, load_plugins

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@dataclass
class Result:
    """What one `medtk` invocation did."""

    code: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


@pytest.fixture
def cli(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Result]:
    """Run `medtk` in-process with only the given plugins (default: the toy plugin)."""
    from toys import ToyPlugin

    monkeypatch.setenv("COLUMNS", "200")  # help tables unwrapped, so tests can search them

    def run(*args: str, plugins: Iterable[tuple[str, object]] | None = None) -> Result:
        chosen = [("toy", ToyPlugin())] if plugins is None else list(plugins)

        def loader() -> Plugins:
            return load_plugins(entry_points=False, extra=chosen, env={})

        capsys.readouterr()
        code = main(list(args), state=AppState(loader=loader))
        captured = capsys.readouterr()
        return Result(code=code, out=captured.out, err=captured.err)

    return run


def pip(*args: str, python: Path | str = sys.executable) -> None:
    """Run pip offline (no index, no build isolation, no dependencies); fail with its stderr."""
    command = [str(python), "-m", "pip", *args, "--quiet"]
    if args[0] in ("install", "wheel"):
        command += ["--no-index", "--no-deps", "--no-build-isolation"]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PIP_FIND_LINKS": ""},
    )
    if done.returncode != 0:
        pytest.fail(f"{' '.join(command)} failed:\n{done.stderr}")


@pytest.fixture(scope="session")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example and the broken plugin, pip-installed for real into a target folder."""
    target = tmp_path_factory.mktemp("site")
    pip(
        "install",
        "--target",
        str(target),
        str(FIXTURES / "medtk-example-plugin"),
        str(FIXTURES / "medtk-broken-plugin"),
    )
    return target


def medtk_command() -> list[str]:
    """The installed console script next to this interpreter (falls back to `-m medtk`)."""
    script = Path(sys.executable).with_name("medtk")
    return [str(script)] if script.exists() else [sys.executable, "-m", "medtk"]


def run_medtk(
    *args: str, site: Path | None = None, cwd: Path | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run the real `medtk` command in a subprocess, optionally seeing ``site``'s packages."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MEDTK_")}
    environ.pop("PYTHONPATH", None)
    if site is not None:
        environ["PYTHONPATH"] = str(site)
    environ.update(env)
    environ.setdefault("COLUMNS", "200")
    return subprocess.run(
        [*medtk_command(), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=environ,
        timeout=300,
        check=False,
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip tests marked `gpu` where no CUDA device is present (torch loads only if needed)."""
    gpu_tests = [item for item in items if item.get_closest_marker("gpu")]
    if not gpu_tests:
        return
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device; none is present")
    for item in gpu_tests:
        item.add_marker(skip)


def sample_data_folder() -> Path:
    """``../shared/data`` beside the repository (or ``$MEDTK_SAMPLE_DATA``); skip if absent."""
    configured = os.environ.get("MEDTK_SAMPLE_DATA")
    folder = Path(configured) if configured else REPO_ROOT.parent / "shared" / "data"
    if not folder.is_dir():
        pytest.skip(f"sample data not found at {folder} (set MEDTK_SAMPLE_DATA to its folder)")
    return folder


def sample_file(*parts: str) -> Path:
    """One file of the sample data; skip with the reason when it is not there."""
    path = sample_data_folder().joinpath(*parts)
    if not path.is_file():
        pytest.skip(f"sample file {path} not found (set MEDTK_SAMPLE_DATA to the data folder)")
    return path


@pytest.fixture(scope="session")
def sample_data() -> Path:
    """The sample data folder (real sample images), as a fixture; skip without it."""
    return sample_data_folder()


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> np.random.Generator:
    """A fresh generator per test, seeded by the test module's ``RNG_SEED`` (0 if unset)."""
    return np.random.default_rng(getattr(request.module, "RNG_SEED", 0))
