"""The end of a `-m` sweep: its runs grouped by configuration (everything but the seed), as
`distillctl compare` groups them, printed and written to the sweep folder (compare.csv,
compare_runs.csv, accuracy_vs_agreement.png). Registered in configs/hydra/default.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

# the exit code of the sweep that just ended: the largest of its failed jobs' (from their
# run.json, so jobs run by joblib, submitit or Slurm count too); cli.launch exits with it
EXIT_CODE = 0
# the folder of the sweep under way (cli.no_trial_finished reads it when a sweeper gives up)
SWEEP_DIR: Path | None = None


class SeedGroups(Callback):
    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        global SWEEP_DIR
        SWEEP_DIR = Path(str(config.hydra.sweep.dir))

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from distillctl.console import say
        from distillctl.errors import DistillctlError
        from distillctl.report.compare import compare
        from distillctl.report.compare_rows import collect
        from distillctl.runfolder.record import is_rank_zero

        if not is_rank_zero():
            return
        global EXIT_CODE

        sweep_dir = Path(str(config.hydra.sweep.dir))
        rows = jobs(sweep_dir)
        jobs_table(sweep_dir, rows)
        EXIT_CODE = max([r["exit_code"] for r in rows if r["status"] != "done"], default=0)
        if rows and all(r["status"] != "done" for r in rows):
            say(f"sweep {sweep_dir}: every job failed (the table above says why; jobs.csv)")
            return
        best_job(sweep_dir, config)
        try:
            rows = collect([], sweep_dir, stages=SWEPT)
        except DistillctlError:  # no run of the sweep finished: each job said why
            say(f"sweep {sweep_dir}: no finished run to summarise")
            return
        compare(rows, sweep_dir)


def job_folders(sweep_dir: Path) -> list[Path]:
    """A sweep folder's job folders (Hydra numbers them), in job order."""
    folders = [p for p in sweep_dir.iterdir() if p.is_dir() and p.name.isdigit()]
    return sorted(folders, key=lambda p: int(p.name))


def overrides_of(folder: Path) -> list[str]:
    """The command-line overrides Hydra recorded for a job folder ([] when none)."""
    from omegaconf import OmegaConf

    found = folder / ".hydra" / "overrides.yaml"
    return [str(o) for o in OmegaConf.load(found)] if found.exists() else []


def jobs(sweep_dir: Path) -> list[dict[str, str]]:
    """Each job of a sweep folder (its numbered sub-folders): overrides, status and reason."""
    from distillctl.runfolder.record import load

    out = []
    for folder in job_folders(sweep_dir):
        info = load(folder) or {}
        out.append(
            {
                "job": folder.name,
                "overrides": " ".join(overrides_of(folder)),
                "status": str(info.get("status", "not started")),
                "reason": str(info.get("reason") or "").splitlines()[0]
                if info.get("reason")
                else "",
                # a job with no run.json never started: a failure all the same
                "exit_code": int(info.get("exit_code", 0 if info.get("status") == "done" else 1)),
            }
        )
    return out


def jobs_table(sweep_dir: Path, rows: list[dict[str, Any]]) -> None:
    """Print the sweep's jobs, done or failed with the reason, and write jobs.csv beside them."""
    import csv

    from rich.console import Console
    from rich.table import Table

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


def best_job(sweep_dir: Path, config: DictConfig) -> None:
    """A search's best job (the greatest `objective` among finished jobs): its full config is
    copied to <sweep>/best_config.yaml, so the winner can be re-run or trained longer."""
    import shutil

    from distillctl.console import say
    from distillctl.runfolder.record import load
    from distillctl.train.objective import value

    name = config.get("objective")
    if not name:
        return
    if not isinstance(name, str):  # a multi-objective search: its Pareto front
        from distillctl.report.pareto import write_front

        write_front(sweep_dir, [str(n) for n in name])
        return
    scored = []
    for folder in job_folders(sweep_dir):
        info = load(folder) or {}
        if info.get("status") == "done":
            score = value(info.get("results") or {}, str(name))
            if score is not None:
                scored.append((score, -int(folder.name), folder))
    if not scored:
        say(f"sweep {sweep_dir}: no finished job to take a best {name} from")
        return
    score, _, folder = max(scored)
    shutil.copyfile(folder / ".hydra" / "config.yaml", sweep_dir / "best_config.yaml")
    overrides = (folder / ".hydra" / "overrides.yaml").read_text(encoding="utf-8")
    (sweep_dir / "best_overrides.yaml").write_text(overrides, encoding="utf-8")
    say(
        f"best {name} {score:.4f}: job {folder.name} ({folder}); its config is "
        f"{sweep_dir / 'best_config.yaml'}"
    )
