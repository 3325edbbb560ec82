"""Stopping signals: Ctrl-C (SIGINT) and SIGTERM end a run as `interrupted`, never `failed`.

Kept free of heavy imports: the CLI installs the SIGTERM handler before torch is loaded.
"""

from __future__ import annotations

import signal
from typing import Any


class Stopped(BaseException):
    """The run was asked to stop (Ctrl-C, or SIGTERM as `kill`, Slurm, Kubernetes and systemd
    send it): it ends `interrupted`, resumable from checkpoints/last.ckpt, with exit code
    128 + the signal's number (130, 143), as a shell reports a process a signal ended."""

    def __init__(self, signum: int):
        self.signum = int(signum)
        self.signal_name = signal.Signals(self.signum).name
        self.exit_code = 128 + self.signum
        self.run_dir: str | None = None  # the innermost run that stopped (resume it)
        self.stage: str | None = None
        super().__init__(self.reason)

    @property
    def reason(self) -> str:
        how = " (Ctrl-C)" if self.signum == signal.SIGINT else ""
        return f"stopped by {self.signal_name}{how}"


def stop_on_sigterm(signum: int, frame: Any) -> None:
    """SIGTERM handler of the distillctl process: raise Stopped, so run.json and the exit code
    say what happened. Inside `trainer.fit` Lightning installs its own handler and calls this
    one too; there Lightning stops cleanly at the next batch's end (SIGTERMException, turned into
    Stopped by `fit_and_test`), so this one does nothing."""
    if signal.getsignal(signal.SIGTERM) is stop_on_sigterm:
        raise Stopped(signum)


def install_sigterm_handler() -> None:
    """Make SIGTERM stop a run like Ctrl-C (main thread only, as Python requires)."""
    signal.signal(signal.SIGTERM, stop_on_sigterm)
