"""The end of a `-m` sweep: its runs grouped by configuration (everything but the seed), as
`distillctl compare` groups them, printed and written to the sweep folder (compare.csv,
compare_runs.csv, accuracy_vs_agreement.png). Registered in configs/hydra/default.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig


class SeedGroups(Callback):
    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from distillctl.console import say
        from distillctl.errors import DistillctlError
        from distillctl.report.compare import collect, compare
        from distillctl.runfolder.record import is_rank_zero

        if not is_rank_zero():
            return
        sweep_dir = Path(str(config.hydra.sweep.dir))
        try:
            rows = collect([], sweep_dir, stages=SWEPT)
        except DistillctlError:  # no run of the sweep finished: each job said why
            say(f"sweep {sweep_dir}: no finished run to summarise")
            return
        compare(rows, sweep_dir)


# the stages whose runs a sweep summary reads (each row: a model and its test accuracy)
SWEPT = ("distill_student", "run", "train_teacher", "train_student")
