"""User-facing errors: one message that names the problem and the fix, and an exit code.

Anything raised as a DistillctlError is printed without a traceback (unless DISTILLCTL_DEBUG=1);
any other exception is a bug in distillctl and keeps its traceback.
"""

from __future__ import annotations


class DistillctlError(Exception):
    """A problem the user can fix. ``exit_code``: 2 for usage/config, 1 for run-time failures."""

    exit_code = 1

    def __init__(self, problem: str, fix: str | None = None):
        self.problem = problem
        self.fix = fix
        super().__init__(problem if fix is None else f"{problem}\n  fix: {fix}")


class ConfigError(DistillctlError):
    """The command line or a config value is wrong; nothing was trained."""

    exit_code = 2


class RunError(DistillctlError):
    """The run started but could not go on (a missing checkpoint, bad data, a NaN loss)."""

    exit_code = 1
