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
        jobs_table(sweep_dir)
        try:
            rows = collect([], sweep_dir, stages=SWEPT)
        except DistillctlError:  # no run of the sweep finished: each job said why
            say(f"sweep {sweep_dir}: no finished run to summarise")
            return
        compare(rows, sweep_dir)


def jobs(sweep_dir: Path) -> list[dict[str, str]]:
    """Each job of a sweep folder (its numbered sub-folders): overrides, status and reason."""
    from omegaconf import OmegaConf

    from distillctl.runfolder.record import load

    out = []
    folders = [p for p in sweep_dir.iterdir() if p.is_dir() and p.name.isdigit()]
    for folder in sorted(folders, key=lambda p: int(p.name)):
        info = load(folder) or {}
        overrides_file = folder / ".hydra" / "overrides.yaml"
        overrides = OmegaConf.load(overrides_file) if overrides_file.exists() else []
        out.append(
            {
                "job": folder.name,
                "overrides": " ".join(str(o) for o in overrides),
                "status": str(info.get("status", "not started")),
                "reason": str(info.get("reason") or "").splitlines()[0]
                if info.get("reason")
                else "",
            }
        )
    return out


def jobs_table(sweep_dir: Path) -> None:
    """Print the sweep's jobs, done or failed with the reason, and write jobs.csv beside them."""
    import csv

    from rich.console import Console
    from rich.table import Table

    rows = jobs(sweep_dir)
    if not rows:
        return
    table = Table(title=f"sweep {sweep_dir}: {len(rows)} jobs")
    for column in ("job", "overrides", "status", "reason"):
        table.add_column(column)
    for row in rows:
        table.add_row(*(row[c] for c in ("job", "overrides", "status", "reason")))
    Console(width=160, stderr=True).print(table)
    with open(sweep_dir / "jobs.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


# the stages whose runs a sweep summary reads (each row: a model and its test accuracy)
SWEPT = ("distill_student", "run", "train_teacher", "train_student")
