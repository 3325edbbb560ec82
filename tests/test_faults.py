"""Faults: NaN losses, Ctrl-C, SIGKILL and resume, folder collisions, reproducibility."""

from __future__ import annotations

import json
import os
import signal
import stat
import time
from datetime import datetime
from pathlib import Path

import pytest
import torch

from distillctl.errors import RunError
from distillctl.losses import Term
from distillctl.runfolder.naming import requeued_run
from distillctl.runfolder.record import load
from tests.conftest import background, cli, compose_cfg, forked_cli, run_stage

FULL = ["trainer.enable_progress_bar=false"]


class NanAfter(Term):
    """A loss term that turns NaN from its n-th call on."""

    def __init__(self, n: int):
        super().__init__()
        self.n, self.calls = n, 0

    def forward(self, step):
        self.calls += 1
        value = (step.student_logits - step.teacher_logits).pow(2).mean()
        return value * float("nan") if self.calls >= self.n else value


# every=4: the NaN step (5) is read at step 7 of 3-batch epochs, past the epoch's end, where
# the guard must read before validation so no checkpoint of the broken weights is written
@pytest.mark.parametrize("every", [1, 4])
def test_a_nan_loss_stops_training_names_the_term_and_keeps_the_last_good_checkpoint(
    tmp_path, teacher_run, every
):
    from distillctl.configuration.validate import validate
    from distillctl.data import build
    from distillctl.losses import Recipe, WeightedTerm
    from distillctl.models import create_model
    from distillctl.runfolder.checkpoints import load_model
    from distillctl.train.fit import fit_and_test
    from distillctl.train.lit import Distiller

    cfg = compose_cfg(
        "distill_student",
        [
            "trainer.limit_train_batches=3",
            "trainer.max_epochs=3",
            f"engine.nan_check_every={every}",
        ],
        tmp_path,
    )
    teacher, _ = load_model(teacher_run / "checkpoints/best.ckpt", "teacher")
    data, _ = build(cfg)
    recipe = Recipe([WeightedTerm("mse", 1.0, NanAfter(5))])  # step 5: epoch 1, batch 1
    module = Distiller(
        create_model(cfg.student, data.input_shape), teacher, recipe, 10, cfg.optim, {"model": {}}
    )
    with pytest.raises(RunError, match=r"NaN at step \d+ \(epoch 1, batch 1\) in term\(s\): mse"):
        fit_and_test(module, data, cfg, validate(cfg), tmp_path)
    last = torch.load(tmp_path / "checkpoints/last.ckpt", weights_only=True)
    assert last["epoch"] == 0  # written after epoch 0, before the NaN
    assert all(torch.isfinite(v).all() for v in last["state_dict"].values())


def test_a_nan_loss_marks_the_run_failed(tmp_path, monkeypatch):
    import distillctl.train.lit as lit

    monkeypatch.setattr(lit, "masked_cross_entropy", lambda s, y, ls: s.sum() * float("nan"))
    with pytest.raises(RunError, match="term\\(s\\): ce"):
        run_stage("train_student", tmp_path)
    info = load(tmp_path / "train_student")
    assert info["status"] == "failed" and "NaN at step" in info["reason"]


def _wait_for_epochs(run_root: Path, epochs: int, proc, timeout=120) -> Path:
    """Poll until some run folder's metrics.csv holds `epochs` rows; returns that folder."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert proc.poll() is None, proc.communicate()
        for csv in run_root.rglob("metrics.csv"):
            if len(csv.read_text().splitlines()) > epochs:
                return csv.parent
        time.sleep(0.02)
    raise AssertionError("training did not get that far in time")


def _last_epoch(run_dir: Path) -> int:
    return torch.load(run_dir / "checkpoints/last.ckpt", weights_only=True)["epoch"]


def _epochs_in_csv(run_dir: Path) -> list[int]:
    return [
        int(line.split(",")[0]) for line in (run_dir / "metrics.csv").read_text().splitlines()[1:]
    ]


@pytest.mark.parametrize(
    "signum,code,name", [(signal.SIGINT, 130, "SIGINT (Ctrl-C)"), (signal.SIGTERM, 143, "SIGTERM")]
)
def test_a_stop_signal_marks_the_run_interrupted_and_keeps_the_last_epoch(
    tmp_path, signum, code, name
):
    """Ctrl-C and SIGTERM (kill, Slurm, Kubernetes, systemd) both end a run `interrupted`, with
    the signal named, the resume command printed and the shell's exit code 128 + signal."""
    with background("train", "teacher", "trainer.max_epochs=500", *FULL, cwd=tmp_path) as proc:
        run_dir = _wait_for_epochs(tmp_path / "outputs", 3, proc)
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err[-2000:]
    assert f"resume={run_dir}" in err.replace("\n", "") and "Traceback" not in err
    info = load(run_dir)
    assert info["status"] == "interrupted" and info["reason"] == f"stopped by {name}"
    # last.ckpt is the last finished epoch, the state a resume replays exactly (Lightning writes
    # it after metrics.csv's row, so a signal between the two leaves it one epoch behind)
    assert _last_epoch(run_dir) >= _epochs_in_csv(run_dir)[-1] - 1 >= 1


def test_a_killed_run_resumes_at_the_next_epoch_and_ends_as_if_never_stopped(tmp_path):
    args = ["train", "teacher", "trainer.max_epochs=10", *FULL]
    (tmp_path / "full").mkdir()
    (tmp_path / "killed").mkdir()
    with background(*args, cwd=tmp_path / "full") as full:
        assert full.wait(timeout=300) == 0, full.communicate()
    (full_json,) = (tmp_path / "full/outputs").rglob("metrics.json")

    with background(*args, cwd=tmp_path / "killed") as killed:
        run_dir = _wait_for_epochs(tmp_path / "killed/outputs", 3, killed)
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=60)
    assert load(run_dir)["status"] == "running"  # what a SIGKILL leaves behind
    assert not (run_dir / "metrics.json").exists()
    k = _last_epoch(run_dir)  # written after every epoch: the last one that finished
    assert k >= _epochs_in_csv(run_dir)[-1] - 1 >= 1

    with background("train", "teacher", f"resume={run_dir}", cwd=tmp_path / "killed") as resumed:
        out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err[-3000:]
    assert f"resuming {run_dir}" in out.replace("\n", "")
    assert f"epoch {k} finished; training continues at epoch {k + 1}" in out.replace("\n", "")
    info = load(run_dir)
    assert info["status"] == "done" and len(info["resumed_at"]) == 1
    assert len(list((tmp_path / "killed/outputs").rglob("run.json"))) == 1  # the same folder
    ours = json.loads((run_dir / "metrics.json").read_text())
    theirs = json.loads(full_json.read_text())
    assert ours["test"] == theirs["test"] and ours["val_acc_best"] == theirs["val_acc_best"]
    assert _epochs_in_csv(run_dir) == list(range(10))


def test_last_ckpt_is_the_final_epoch_even_when_validation_stopped_improving(tmp_path):
    """Lightning 2.6's save_last writes last.ckpt only when a top-k checkpoint is written: with
    save_top_k=1 it was a copy of best.ckpt. An MLP (no BatchNorm statistics) at lr=1e-12
    never improves after epoch 0."""
    run_dir, _ = run_stage(
        "train_teacher",
        tmp_path,
        "teacher=mlp",
        "trainer.max_epochs=3",
        "optim.lr=1e-12",
        "eval_checkpoint=last",
    )
    best = torch.load(run_dir / "checkpoints/best.ckpt", weights_only=True)
    assert best["epoch"] == 0 and _last_epoch(run_dir) == 2
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["checkpoint"] == "last"
    assert metrics["checkpoint_path"] == str((run_dir / "checkpoints/last.ckpt").resolve())


def test_lightning_save_last_behaviour_is_pinned(tmp_path):
    """The library behaviour the two-callback design rests on: `save_last=True` beside a
    monitored top-1 checkpoint does not follow the last epoch; a monitor-less top-1
    checkpoint is rewritten every epoch. If Lightning changes either, this test says so."""
    import pytorch_lightning as pl
    from pytorch_lightning.callbacks import ModelCheckpoint

    class Flat(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def training_step(self, batch, batch_idx):
            return (self.w - 1).pow(2).sum()

        def validation_step(self, batch, batch_idx):
            self.log("val/acc", torch.tensor(0.5))  # never improves after epoch 0

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    data = torch.utils.data.DataLoader(torch.zeros(4, 1), batch_size=2)
    old = ModelCheckpoint(tmp_path / "a", "best", "val/acc", mode="max", save_last=True)
    ours = ModelCheckpoint(tmp_path / "b", "last", monitor=None, save_top_k=1)
    trainer = pl.Trainer(
        max_epochs=3,
        callbacks=[old, ours],
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    trainer.fit(Flat(), data, data)
    assert torch.load(tmp_path / "a/last.ckpt", weights_only=True)["epoch"] == 0
    assert torch.load(tmp_path / "b/last.ckpt", weights_only=True)["epoch"] == 2


def test_resume_latest_and_its_misuse(tmp_path):

    out = forked_cli("train", "teacher", "resume=latest", cwd=tmp_path)
    assert out.returncode == 2 and "no unfinished `train_teacher` run" in out.stderr
    out = forked_cli("train", "teacher", "resume=latest", "seed=3", cwd=tmp_path)
    assert out.returncode == 2 and "takes no other overrides" in out.stderr
    out = forked_cli("run", "resume=latest", cwd=tmp_path)
    assert out.returncode == 2 and "resume works for train and distill runs" in out.stderr


def test_runs_started_in_the_same_second_get_their_own_folders(tmp_path, monkeypatch):
    import distillctl.runfolder.naming as rundirs

    class Frozen(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime(2026, 1, 2, 3, 4, 5)

    monkeypatch.setattr(rundirs, "datetime", Frozen)
    made = [rundirs.reserve(str(tmp_path), "train_teacher", None, False) for _ in range(3)]
    assert [p.name for p in made] == ["03-04-05", "03-04-05-2", "03-04-05-3"]
    tagged = rundirs.reserve(str(tmp_path), "run", "demo", True)
    assert tagged.relative_to(tmp_path).as_posix() == "run/multirun/2026-01-02/03-04-05-demo"


def test_same_config_and_seed_give_identical_results(tmp_path):
    a, ra = run_stage("train_teacher", tmp_path, name="a")
    b, rb = run_stage("train_teacher", tmp_path, name="b")
    assert (
        json.loads((a / "metrics.json").read_text())["test"]
        == json.loads((b / "metrics.json").read_text())["test"]
    )
    da, _ = run_stage("distill_student", tmp_path, f"teacher_ckpt={a}", name="da")
    db, _ = run_stage("distill_student", tmp_path, f"teacher_ckpt={a}", name="db")
    assert (da / "metrics.csv").read_text() == (db / "metrics.csv").read_text()
    ea, _ = run_stage("explain", tmp_path, f"explain.run={da}", name="ea")
    eb, _ = run_stage("explain", tmp_path, f"explain.run={da}", name="eb")
    ma = json.loads((ea / "attributions/metrics.json").read_text())
    mb = json.loads((eb / "attributions/metrics.json").read_text())
    assert ma["per_input"] == mb["per_input"]
    other, _ = run_stage("train_teacher", tmp_path, "seed=1", name="c")
    assert (other / "metrics.csv").read_text() != (a / "metrics.csv").read_text()


def test_run_json_records_what_it_takes_to_trace_a_number(teacher_run):
    info = load(teacher_run)
    for package in ("torch", "pytorch-lightning", "hydra-core", "shap", "captum"):
        assert info["versions"][package]
    assert "git_sha" in info and info["seed"] == 0 and "parents" in info
    assert info["model"]["arch"] == "cnn"


def test_a_requeued_slurm_job_continues_the_run_it_began(tmp_path):
    """Slurm pre-empts with SIGTERM and starts the same command again with the same
    SLURM_JOB_ID and SLURM_RESTART_COUNT=1: that start resumes the interrupted run in its own
    folder (no new one), from its last finished epoch, to the end."""
    args = ["train", "teacher", "trainer.max_epochs=6", *FULL]
    job = {"SLURM_JOB_ID": "4242"}
    with background(*args, cwd=tmp_path, env=job) as proc:
        run_dir = _wait_for_epochs(tmp_path / "outputs", 2, proc)
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=120)
    assert load(run_dir)["status"] == "interrupted" and load(run_dir)["slurm_job_id"] == "4242"
    with pytest.MonkeyPatch.context() as env:  # another job's restart would start a new run
        env.setenv("SLURM_JOB_ID", "999")
        env.setenv("SLURM_RESTART_COUNT", "1")
        assert requeued_run(str(tmp_path / "outputs"), "train_teacher") is None
        env.setenv("SLURM_JOB_ID", "4242")
        assert requeued_run(str(tmp_path / "outputs"), "train_teacher") == run_dir.resolve()
    again = cli(*args, cwd=tmp_path, env={**job, "SLURM_RESTART_COUNT": "1"})
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"resuming {run_dir}" in again.stdout.replace("\n", "")
    info = load(run_dir)
    assert info["status"] == "done" and len(info["resumed_at"]) == 1
    assert _epochs_in_csv(run_dir) == list(range(6))
    assert len(list((tmp_path / "outputs/train_teacher").rglob("run.json"))) == 1


def test_run_files_honour_the_umask(tmp_path):
    """A teammate on a shared file system reads the runs: files get 0666 less the umask, not
    mkstemp's 0600."""
    from distillctl.io import atomic_write_text

    previous = os.umask(0o022)
    try:
        shared = atomic_write_text(tmp_path / "shared.json", "{}")
        os.umask(0o077)
        private = atomic_write_text(tmp_path / "private.json", "{}")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(shared.stat().st_mode) == 0o644
    assert stat.S_IMODE(private.stat().st_mode) == 0o600


def test_a_full_disk_while_writing_a_checkpoint_is_one_message_and_keeps_the_last(
    tmp_path, monkeypatch
):
    import errno

    from distillctl import io as dio

    calls = {"n": 0}
    real = os.fsync

    def fsync(fd):
        calls["n"] += 1
        if calls["n"] > 12:  # a few epochs' files are written, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fd)

    monkeypatch.setattr(dio.os, "fsync", fsync)
    with pytest.raises(RunError) as caught:
        run_stage(
            "train_teacher", tmp_path, "trainer.max_epochs=6", "trainer.limit_train_batches=2"
        )
    assert "the disk is full" in caught.value.problem and "free space" in caught.value.fix
    run_dir = tmp_path / "train_teacher"
    last = torch.load(run_dir / "checkpoints/last.ckpt", weights_only=True)  # whole
    assert last["epoch"] >= 0 and not list(run_dir.rglob("*.tmp"))
    # run.json is whole (its update to `failed` needs the disk space that is missing)
    assert load(run_dir)["status"] in ("running", "failed")


def test_resuming_a_run_with_a_damaged_last_ckpt_or_config_is_one_message(tmp_path):
    run_dir, _ = run_stage("train_teacher", tmp_path, "trainer.max_epochs=1")
    info = json.loads((run_dir / "run.json").read_text())
    (run_dir / "run.json").write_text(json.dumps({**info, "status": "interrupted"}))
    last = run_dir / "checkpoints/last.ckpt"
    last.write_bytes(last.read_bytes()[:1000])
    out = forked_cli("train", "teacher", f"resume={run_dir}", cwd=tmp_path)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "last.ckpt is damaged" in out.stderr and "fix:" in out.stderr
    (run_dir / ".hydra/config.yaml").write_text("trainer: [unclosed\n  - : :\n")
    out = forked_cli("train", "teacher", f"resume={run_dir}", cwd=tmp_path)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "config.yaml is damaged and cannot be read" in out.stderr
