"""How long `medtk --help` and `medtk plugins` take, beside an eagerly-importing CLI.

The peer here is the design medtk avoids: a CLI module that imports its libraries (torch,
timm, dask, zarr) at load, as many research scripts do. Each command runs in a fresh
process; the table reports the median of N runs and its ratio to the eager baseline.

    python benchmarks/bench_cli_startup.py [--runs 7]
"""

from __future__ import annotations

import argparse
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

EAGER = "import typer, rich, pydantic, torch, timm, dask.array, zarr"


def medtk_command() -> list[str]:
    script = Path(sys.executable).with_name("medtk")
    if script.exists():
        return [str(script)]
    found = shutil.which("medtk")
    return [found] if found else [sys.executable, "-m", "medtk"]


def median_seconds(command: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    medtk = medtk_command()
    cases = {
        "python -c pass (interpreter floor)": [sys.executable, "-c", "pass"],
        "medtk --help": [*medtk, "--help"],
        "medtk train --help": [*medtk, "train", "--help"],
        "medtk plugins --json": [*medtk, "plugins", "--json"],
        "eager CLI: import typer, torch, timm, dask, zarr": [sys.executable, "-c", EAGER],
    }
    subprocess.run(cases["eager CLI: import typer, torch, timm, dask, zarr"], check=True)  # warm
    results = {name: median_seconds(cmd, runs) for name, cmd in cases.items()}
    eager = results["eager CLI: import typer, torch, timm, dask, zarr"]
    print(
        f"CLI start-up, median of {runs} runs, {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}\n"
    )
    print("| command | seconds | eager CLI ÷ this |")
    print("| --- | ---: | ---: |")
    for name, seconds in results.items():
        print(f"| `{name}` | {seconds:.2f} | {eager / seconds:.1f}× |")


if __name__ == "__main__":
    main()
