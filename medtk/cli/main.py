"""Entry point of the ``medtk`` command: runs the app and turns errors into exit codes.

0 success, 1 failure while running, 2 bad usage or bad input, 130 Ctrl-C, 143 SIGTERM.
An error is one line on stderr; ``medtk --debug`` (or ``MEDTK_DEBUG=1``) adds the traceback.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import typer

from medtk.cli.app import build_app
from medtk.cli.state import AppState
from medtk.errors import MedtkError, Terminated

PROG = "medtk"


def main(argv: Sequence[str] | None = None, *, state: AppState | None = None) -> int:
    """Run ``medtk`` with ``argv`` (default: the process arguments); return the exit code."""
    state = state or AppState()
    state.debug = state.debug or os.environ.get("MEDTK_DEBUG", "") not in ("", "0")
    args = list(sys.argv[1:] if argv is None else argv)
    command = typer.main.get_command(build_app(state))
    try:
        with _sigterm_raises():
            result = command.main(args=args, prog_name=PROG, standalone_mode=False)
    except MedtkError as exc:
        return _report(state, exc, str(exc), exc.exit_code)
    except KeyboardInterrupt as exc:  # outside a task (a task's Ctrl-C is Interrupted)
        return _report(state, exc, "interrupted", 130)
    except typer.Abort as exc:
        return _report(state, exc, "aborted", 1)
    except Exception as exc:
        if _is_usage_error(exc):
            message = _usage_message(exc)
            if message is None:  # a group called without a command: Click printed its help
                return exc.exit_code  # type: ignore[attr-defined]
            return _report(state, exc, message, exc.exit_code)  # type: ignore[attr-defined]
        return _report(state, exc, f"{type(exc).__name__}: {exc}", 1)
    return result if isinstance(result, int) else 0


@contextmanager
def _sigterm_raises() -> Iterator[None]:
    """Turn SIGTERM into an exception, so outputs in progress are cleaned up as on Ctrl-C."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum: int, frame: object) -> None:  # noqa: ARG001 (signal API)
        raise Terminated("terminated by SIGTERM; outputs in progress were removed")

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _is_usage_error(exc: Exception) -> bool:
    """Click's usage errors (vendored inside Typer) carry an exit code and a message."""
    return isinstance(getattr(exc, "exit_code", None), int) and hasattr(exc, "format_message")


def _usage_message(exc: Exception) -> str | None:
    message = " ".join(exc.format_message().split())  # type: ignore[attr-defined]
    message = message.replace("Value error, ", "")  # pydantic's prefix inside Typer's text
    if not message:
        return None
    ctx = getattr(exc, "ctx", None)
    if ctx is not None and getattr(ctx, "command_path", None):
        return f"{message} (see '{ctx.command_path} --help')"
    return message


def _report(state: AppState, exc: BaseException, message: str, code: int) -> int:
    if state.debug:
        traceback.print_exception(exc, file=sys.stderr)
    first_line = message.strip().splitlines()[0] if message.strip() else type(exc).__name__
    hint = "" if state.debug or code != 1 else " (run 'medtk --debug …' for the traceback)"
    print(f"{PROG}: error: {first_line}{hint}", file=sys.stderr)
    sys.stderr.flush()
    return code
