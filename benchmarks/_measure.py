"""Shared helpers of the benchmarks: run a command in a child process, time it, read its
peak resident memory from the kernel's accounting of that child alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass


@dataclass
class Run:
    """Wall time and peak RSS of one child process."""

    seconds: float
    peak_rss_mib: float
    stdout: str


WRAPPER = r"""
import os, resource, subprocess, sys, time, json
start = time.perf_counter()
done = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
if done.returncode:
    sys.stderr.write(done.stderr.decode(errors="replace"))
print(json.dumps({"seconds": seconds, "peak_rss_mib": peak, "code": done.returncode,
                  "stdout": done.stdout.decode(errors="replace")}))
"""


def run_with_peak(command: list[str], *, env: dict[str, str] | None = None) -> Run:
    """Run ``command`` under a tiny wrapper that reports the child's own peak RSS.

    The wrapper is a fresh interpreter whose only child is ``command``, so its
    ``RUSAGE_CHILDREN`` maximum is exactly that command's peak resident memory.
    """
    done = subprocess.run(
        [sys.executable, "-c", WRAPPER, *command],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
    )
    if done.returncode != 0 or not done.stdout.strip():
        sys.stderr.write(done.stderr)
        raise SystemExit(f"benchmark wrapper failed for {command[:4]}")
    record = json.loads(done.stdout.strip().splitlines()[-1])
    if record["code"] != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"{command[:4]} failed with exit code {record['code']}")
    return Run(record["seconds"], record["peak_rss_mib"], record["stdout"])
