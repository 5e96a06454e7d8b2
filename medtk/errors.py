"""Error types that carry their exit code, so the CLI can turn any of them into one line.

Exit codes follow the CLI convention: 1 for a failure while running, 2 for bad usage or
bad input.
"""

from __future__ import annotations


class MedtkError(Exception):
    """Base of every error medtk reports to a user; ``exit_code`` is what the CLI returns."""

    exit_code: int = 1


class BadInputError(MedtkError):
    """The user gave something medtk cannot use: a file, a value, a name (exit 2)."""

    exit_code = 2


class ConfigError(BadInputError):
    """A config file or option value does not fit the task's typed config (exit 2)."""


class UnknownNameError(BadInputError, LookupError):
    """A registry has no entry of that name; the message lists the close matches."""


class Interrupted(MedtkError):  # noqa: N818 (named for the event, as KeyboardInterrupt)
    """The user pressed Ctrl-C (exit 130); outputs in progress were removed."""

    exit_code = 130


class Terminated(Interrupted):
    """The process got SIGTERM, as ``timeout``, Slurm or Kubernetes send (exit 143)."""

    exit_code = 143


class PluginError(MedtkError):
    """A plugin could not be loaded, or broke a registry rule such as a duplicate name."""


class DuplicateNameError(PluginError):
    """Two registrations claim one name; the message names both plugins."""
