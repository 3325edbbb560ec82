"""Run folders chosen by the CLI: a unique new one per run, or an old one to resume.

Hydra names a run folder by the second it started, so two runs started in the same second
would share it. The CLI instead reserves the folder itself (an atomic mkdir, then -2, -3, ...)
and hands it to Hydra as hydra.run.dir (hydra.sweep.dir for -m).
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from distillctl.errors import ConfigError
from distillctl.runfolder import record as runs

RESUMABLE = ("train_teacher", "train_student", "distill_student")


def reserve(output_root: str, stage: str, tag: str | None, multirun: bool) -> Path:
    """Create and return a new, empty run folder: <root>/<stage>/[multirun/]<date>/<time>[-tag]."""
    stamp = datetime.now()
    parent = Path(output_root) / stage
    if multirun:
        parent = parent / "multirun"
    parent = parent / stamp.strftime("%Y-%m-%d")
    name = stamp.strftime("%H-%M-%S") + (f"-{tag}" if tag else "")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        for n in range(1, 1000):
            candidate = parent / (name if n == 1 else f"{name}-{n}")
            try:
                candidate.mkdir()
                return candidate.resolve()
            except FileExistsError:
                continue
    except OSError as exc:
        raise ConfigError(
            f"cannot make the run folder under {parent}: {exc.strerror or exc}",
            "set paths.output_root to a folder you can write",
        ) from None
    raise ConfigError(
        f"too many runs named {parent / name}", "use tag=<something> to tell them apart"
    )


def find_resumable(spec: str, output_root: str, stage: str) -> Path:
    """The run folder `resume=` names: a folder, or latest (the newest unfinished run)."""
    if stage not in RESUMABLE:
        raise ConfigError(
            f"resume works for train and distill runs, not `{stage}`",
            "resume the sub-run that stopped (e.g. resume=<run>/distilled with "
            "`distillctl distill student`), or start the stage again",
        )
    if spec == "latest":
        found = newest_unfinished(output_root, stage)
        if found is None:
            raise ConfigError(
                f"no unfinished `{stage}` run under {output_root} to resume",
                "pass resume=<run dir>, or start a new run",
            )
        return found
    path = Path(spec)
    info = runs.load(path)
    if info is None or not (path / ".hydra" / "config.yaml").exists():
        raise ConfigError(
            f"{path} is not a run folder (no run.json and .hydra/config.yaml)",
            "pass resume=<a run folder> or resume=latest",
        )
    if info.get("stage") != stage:
        raise ConfigError(
            f"{path} is a `{info.get('stage')}` run, not `{stage}`",
            "resume it with the command that started it",
        )
    if info.get("status") == "done":
        raise ConfigError(f"{path} already finished", "nothing to resume; start a new run")
    return path.resolve()


def requeued_run(output_root: str, stage: str) -> Path | None:
    """Under Slurm, a requeued job (SLURM_RESTART_COUNT > 0: pre-empted, or requeued by
    Lightning's SIGUSR1 handler) continues the run its first start began: the newest unfinished
    run of `stage` whose run.json holds this SLURM_JOB_ID. None anywhere else."""
    job = os.environ.get("SLURM_JOB_ID")
    if not job or int(os.environ.get("SLURM_RESTART_COUNT") or 0) < 1 or stage not in RESUMABLE:
        return None
    return newest_unfinished(output_root, stage, slurm_job_id=job)


def newest_unfinished(output_root: str, stage: str, **fields: str) -> Path | None:
    """The newest run of `stage` that did not finish (and whose run.json has `fields`)."""
    candidates = [
        (info.get("started_at") or "", run_dir)
        for run_dir, info in runs.runs_of(output_root, stage)
        if info.get("status") != "done" and all(info.get(k) == v for k, v in fields.items())
    ]
    return max(candidates)[1].resolve() if candidates else None


def slurm_tasks_folder(output_root: str, stage: str, tag: str | None) -> Path | None:
    """Under `srun` with several tasks (DDP over GPUs or nodes on Slurm) every task runs the
    whole command, and all must land in one folder: it is named after the job
    (<root>/<stage>/slurm-<SLURM_JOB_ID>[-tag]), not the second each task started. None outside
    such a job."""
    job = os.environ.get("SLURM_JOB_ID")
    if not job or int(os.environ.get("SLURM_NTASKS") or 1) < 2:
        return None
    folder = Path(output_root) / stage / (f"slurm-{job}" + (f"-{tag}" if tag else ""))
    return make_folder(folder, "set paths.output_root to a folder every task can write").resolve()


def make_folder(folder: Path, fix: str) -> Path:
    """`folder` (and its parents), or one ConfigError naming it and why it cannot be made."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"cannot make the run folder {folder}: {exc.strerror or exc}", fix
        ) from None
    return folder
