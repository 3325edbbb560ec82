"""On Slurm: every srun task of one job lands in one run folder, only task 0 writes, and the
folder is the job's (what a requeued job resumes: tests/test_faults.py)."""

from __future__ import annotations

from distillctl import stages
from distillctl.configuration.overrides import check_command_line
from distillctl.runfolder.record import is_rank_zero


def _run_dir(args: list[str]) -> str:
    (named,) = [a for a in args if a.startswith("hydra.run.dir=")]
    return named.split("=", 1)[1].strip('"')


def test_every_srun_task_of_a_job_names_the_same_folder(tmp_path, monkeypatch):
    stage = stages.BY_NAME["train_teacher"]
    monkeypatch.setenv("DISTILLCTL_OUTPUTS", str(tmp_path / "outputs"))
    monkeypatch.setenv("SLURM_JOB_ID", "77")
    monkeypatch.setenv("SLURM_NTASKS", "4")
    folders = set()
    for task in range(2):  # each task runs the whole command line
        monkeypatch.setenv("SLURM_PROCID", str(task))
        folders.add(_run_dir(check_command_line(stage, ["tag=x"])))
    assert folders == {str((tmp_path / "outputs/train_teacher/slurm-77-x").resolve())}
    # a single-task job, or no Slurm at all: a folder per run, named by the second
    monkeypatch.setenv("SLURM_NTASKS", "1")
    one = _run_dir(check_command_line(stage, []))
    assert "slurm-" not in one and one != _run_dir(check_command_line(stage, []))


def test_only_task_zero_writes(monkeypatch):
    for name in ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID"):
        monkeypatch.delenv(name, raising=False)
    assert is_rank_zero()
    monkeypatch.setenv("SLURM_PROCID", "0")
    assert is_rank_zero()
    monkeypatch.setenv("SLURM_PROCID", "3")
    assert not is_rank_zero()
