"""User-facing errors: one message that names the problem and the fix, and an exit code.

Anything raised as a DistillctlError is printed without a traceback (unless DISTILLCTL_DEBUG=1);
any other exception is a bug in distillctl and keeps its traceback.
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn

DEBUG_ENV = "DISTILLCTL_DEBUG"  # =1: raise with the traceback instead


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


def report_error(exc: DistillctlError) -> None:
    """Print the problem and its fix on stderr, without a traceback."""
    from rich.console import Console
    from rich.markup import escape

    console = Console(stderr=True, highlight=False, soft_wrap=True)
    console.print(f"[bold red]error:[/] {escape(exc.problem)}")  # messages hold [a,b] lists
    if exc.fix:
        console.print(f"[bold]  fix:[/] {escape(exc.fix)}")


def exit_with(exc: DistillctlError) -> NoReturn:
    """The one way a user error ends the process: its message, then its exit code (with
    DISTILLCTL_DEBUG=1 it is raised again, traceback and all)."""
    if os.environ.get(DEBUG_ENV) == "1":
        raise exc
    report_error(exc)
    sys.exit(exc.exit_code)
