"""Run folders, the contract between stages: run.json's life cycle and finding past runs."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from distillctl.io import atomic_write_json, read_json

RUN_FILE = "run.json"
TRACKED_PACKAGES = (
    "distillctl",
    "torch",
    "pytorch-lightning",
    "torchmetrics",
    "hydra-core",
    "omegaconf",
    "shap",
    "captum",
    "numpy",
    "scikit-learn",
    "mnist1d",
)


def is_rank_zero() -> bool:
    """False in the extra processes of a multi-process (DDP) run: only rank 0 writes files.

    Lightning's launcher sets LOCAL_RANK / NODE_RANK in the processes it starts, torchrun sets
    RANK, and srun SLURM_PROCID; the process a user started has none of them, or zeros.
    """
    names = ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID")
    return all(int(os.environ.get(name, "0") or 0) == 0 for name in names)


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {"python": sys.version.split()[0]}
    for name in TRACKED_PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def git_sha() -> str | None:
    """The commit of the distillctl checkout, when it is one (None for an installed wheel)."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


class RunRecord:
    """run.json of one run folder; every write replaces the file atomically."""

    def __init__(self, run_dir: Path, data: dict[str, Any]):
        self.run_dir = Path(run_dir)
        self.data = data

    @classmethod
    def start(
        cls,
        run_dir: Path,
        stage: str,
        seed: int,
        data_identity: dict | None,
        parents: dict[str, str] | None = None,
    ) -> RunRecord:
        record = cls(
            run_dir,
            {
                "stage": stage,
                "status": "running",
                "started_at": now(),
                "finished_at": None,
                "run_dir": str(Path(run_dir).resolve()),
                "command": ["distillctl", *sys.argv[1:]],
                "seed": seed,
                "data": data_identity,
                "parents": dict(parents or {}),
                "versions": versions(),
                "git_sha": git_sha(),
                # a requeued Slurm job finds its run by this (runfolder/naming.requeued_run)
                "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
            },
        )
        record.save()
        return record

    @classmethod
    def resume(cls, run_dir: Path) -> RunRecord:
        """Re-open an interrupted run's record: same start, a note of each resume."""
        data = load(run_dir) or {}
        data.setdefault("resumed_at", []).append(now())
        data.update(status="running", finished_at=None, reason=None, versions=versions())
        record = cls(run_dir, data)
        record.save()
        return record

    @property
    def path(self) -> Path:
        return self.run_dir / RUN_FILE

    def save(self) -> None:
        if is_rank_zero():
            atomic_write_json(self.path, self.data)

    def update(self, **fields: Any) -> None:
        self.data.update(fields)
        self.save()

    def add_parent(self, role: str, run_dir: str | Path) -> None:
        self.data["parents"][role] = str(Path(run_dir).resolve())
        self.save()

    def finish(self, status: str, reason: str | None = None, **fields: Any) -> None:
        self.data.update(fields, status=status, finished_at=now())
        if reason:
            self.data["reason"] = reason
        self.save()


def load(run_dir: str | Path) -> dict[str, Any] | None:
    path = Path(run_dir) / RUN_FILE
    try:
        return read_json(path)
    except (OSError, ValueError):
        return None


def runs_of(root: str | Path, stage: str) -> list[tuple[Path, dict[str, Any]]]:
    """Every run of `stage` under `root` (nested ones included), as (folder, run.json)."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = ((path.parent, load(path.parent)) for path in root.rglob(RUN_FILE))
    return [(d, info) for d, info in found if info and info.get("stage") == stage]


def finished_runs(root: str | Path, stage: str) -> list[tuple[Path, dict[str, Any]]]:
    """Finished (status done) runs of `stage` under `root`, newest first."""
    found = [(d, info) for d, info in runs_of(root, stage) if info.get("status") == "done"]
    found.sort(key=lambda item: item[1].get("finished_at") or "", reverse=True)
    return found
