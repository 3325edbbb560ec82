"""The real command line, in subprocesses: routing, Hydra features, errors without tracebacks."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest
from omegaconf import OmegaConf

from distillctl.runfolder.record import load
from tests.conftest import TINY, cli, forked_cli, run_stage


def test_help_lists_the_commands_without_importing_torch():
    code = (
        "import sys; from distillctl.cli import main; main(['--help']); "
        "assert 'torch' not in sys.modules, 'torch imported'; "
        "assert 'pytorch_lightning' not in sys.modules"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    for words in ("run", "train teacher", "train student", "distill student", "explain", "list"):
        assert f"  {words} " in out.stdout


def test_cfg_job_and_list_do_not_import_torch(tmp_path):
    """They start no run, so they stay light (benchmarks/startup.py times them)."""
    for argv in (["train", "teacher", "--cfg", "job"], ["list"]):
        code = (
            "import sys; from distillctl.cli import main; "
            f"main({argv!r}); "
            "assert 'torch' not in sys.modules, 'torch imported'; print('checked')"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path
        )
        assert out.returncode == 0 and out.stdout.endswith("checked\n"), out.stderr[-1500:]


def test_list_shows_groups_and_choices(tmp_path):
    out = cli("list", cwd=tmp_path)
    assert out.returncode == 0
    for choice in ("digits", "mnist1d", "breast_cancer", "cnn1d", "shap_deep", "kd"):
        assert choice in out.stdout
    one = cli("list", "explainer", cwd=tmp_path)
    assert "shap_gradient" in one.stdout and "digits" not in one.stdout
    bad = cli("list", "nope", cwd=tmp_path)
    assert bad.returncode == 2 and "unknown config group 'nope'" in bad.stderr


def test_unknown_choice_and_command_exit_2_with_the_valid_choices(tmp_path):
    out = cli("train", "teacher", "data=nope", cwd=tmp_path)
    assert out.returncode == 2
    assert (
        "unknown data 'nope'" in out.stderr
        and "breast_cancer, cifar10, cifar100, csv, digits" in out.stderr
    )
    assert "Traceback" not in out.stderr + out.stdout
    sweep = cli("distill", "student", "-m", "student=mlp,transformr", cwd=tmp_path)
    assert sweep.returncode == 2 and "unknown student 'transformr'" in sweep.stderr
    cmd = cli("distil", "student", cwd=tmp_path)
    assert cmd.returncode == 2 and "unknown command 'distil student'" in cmd.stderr
    assert not (tmp_path / "outputs").exists()  # nothing started


def test_validate_is_the_pre_check_alone(tmp_path):
    ok = forked_cli(
        "validate", "distill", "student", "loss=[ce,kd]", "-m", "seed=0,1", cwd=tmp_path
    )
    assert ok.returncode == 0 and "2 config(s) checked" in ok.stdout + ok.stderr
    bad = forked_cli("validate", "distill", "student", "loss.kd.temperature=-1", cwd=tmp_path)
    assert bad.returncode == 2 and "loss.kd.temperature=-1 is not valid" in bad.stderr
    moved = forked_cli("validate", "train", "teacher", "trainer.compile=true", cwd=tmp_path)
    assert moved.returncode == 2 and "'trainer.compile' is now 'engine.compile'" in moved.stderr
    assert "pass engine.compile=true" in moved.stderr
    none = forked_cli("validate", "nope", cwd=tmp_path)
    assert none.returncode == 2 and "validate needs a stage" in none.stderr
    assert not (tmp_path / "outputs").exists()  # nothing was written


def test_cfg_job_prints_the_composed_config_of_the_stage(tmp_path):
    out = forked_cli("distill", "student", "loss.kd.temperature=7", "--cfg", "job", cwd=tmp_path)
    assert out.returncode == 0
    assert "stage: distill_student" in out.stdout and "temperature: 7" in out.stdout
    assert "ckpt: latest" in out.stdout


def test_loss_terms_compose_from_the_command_line(tmp_path):
    out = forked_cli(
        "distill",
        "student",
        "loss=[ce,kd,at]",
        "loss.kd.weight=0.5",
        "loss.at.layers=[features.block1,features.block2]",
        "--cfg",
        "job",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    loss = OmegaConf.create(out.stdout).loss
    assert list(loss) == ["ce", "kd", "at"] and loss.kd.weight == 0.5
    assert list(loss.at.layers) == ["features.block1", "features.block2"]


def test_list_layers_prints_names_shapes_and_the_named_taps(tmp_path):
    out = forked_cli(
        "list", "layers", "teacher=cnn1d", "data=mnist1d", "data.num_samples=200", cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    assert "teacher=cnn1d on mnist1d" in out.stdout and "student=" not in out.stdout
    lines = out.stdout.splitlines()
    row = next(line for line in lines if "features.block3 " in line)
    assert "(32, 5)" in row and "all, last" in row
    assert "all, middle" in next(line for line in lines if "features.block2 " in line)
    assert "embedding" in next(line for line in lines if "head.0 " in line)


def test_a_ddp_rank_re_running_argv_lands_in_the_same_stage(tmp_path):
    # Lightning's DDP launcher re-runs `sys.argv` (by then only Hydra's overrides) with
    # LOCAL_RANK set; the stage must come from the environment the parent set.
    out = cli(
        "loss.kd.temperature=3",
        "--cfg",
        "job",
        cwd=tmp_path,
        env={"LOCAL_RANK": "1", "DISTILLCTL_STAGE": "distill_student"},
    )
    assert out.returncode == 0, out.stderr
    assert "stage: distill_student" in out.stdout and "temperature: 3" in out.stdout


def test_train_then_a_two_job_sweep_of_distillation_on_submitit_local(tmp_path):
    """Hydra's submitit launcher runs each job in its own process (as on Slurm)."""
    run_stage("train_teacher", tmp_path / "outputs")  # found as teacher_ckpt=latest
    launcher = ["hydra/launcher=submitit_local", "hydra.launcher.timeout_min=5"]
    sweep = cli(
        "distill", "student", "-m", "loss.kd.temperature=2,4", *TINY, *launcher, cwd=tmp_path
    )
    assert sweep.returncode == 0, sweep.stderr
    assert list((tmp_path / "outputs/distill_student").rglob("*_result.pkl"))  # submitit's
    runs = sorted(p.parent for p in (tmp_path / "outputs/distill_student").rglob("run.json"))
    assert len(runs) == 2
    temps = set()
    for run_dir in runs:
        assert load(run_dir)["status"] == "done"
        temps.add(OmegaConf.load(run_dir / ".hydra/config.yaml").loss.kd.temperature)
    assert temps == {2.0, 4.0}


def test_a_failed_sweep_job_is_marked_and_the_sweep_goes_on(tmp_path):
    """Job 0 cannot build a cnn for a table (data=synthetic's kind is known once its shape is
    read, in the job); job 1 still trains, the summary lists both, and the exit code says a
    job failed, though each job ran in a joblib worker process."""
    joblib = ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]
    table = ["data=synthetic", "data.shape=[6]", "data.num_samples=64", "data.num_test=16"]
    out = cli("train", "teacher", "-m", "teacher=cnn,mlp", *table, *TINY, *joblib, cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    assert "teacher=cnn works on image inputs" in out.stderr and "Traceback" not in out.stderr
    (jobs_csv,) = (tmp_path / "outputs/train_teacher").rglob("jobs.csv")
    rows = list(csv.DictReader(jobs_csv.open()))
    assert [(r["job"], r["status"]) for r in rows] == [("0", "failed"), ("1", "done")]
    assert "works on image" in rows[0]["reason"] and "teacher=mlp" in rows[1]["overrides"]
    assert load(jobs_csv.parent / "1")["results"]["test_acc"] is not None
    assert load(jobs_csv.parent / "0")["exit_code"] == 2  # what the sweep's exit code reads


def test_an_optuna_search_maximises_validation_accuracy_and_writes_the_best_config(tmp_path):
    run_stage("train_teacher", tmp_path / "outputs")  # found as teacher_ckpt=latest
    out = forked_cli(
        "distill", "student", "hparams_search=optuna", "hydra.sweeper.n_trials=2",
        "trainer.max_epochs=3", "trainer.limit_train_batches=4", *TINY[2:], cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    (result,) = (tmp_path / "outputs/distill_student").rglob("optimization_results.yaml")
    sweep_dir = result.parent
    study = OmegaConf.load(result)
    trials = [load(sweep_dir / str(job)) for job in (0, 1)]
    assert all(t["status"] == "done" for t in trials)
    # what each trial returned to the sweeper: its distilled student's best validation accuracy
    val = [t["results"]["val_acc_best"] for t in trials]
    assert study.best_value == max(val)
    best = OmegaConf.load(sweep_dir / "best_config.yaml")
    assert best.loss.kd.temperature == study.best_params["loss.kd.temperature"]
    assert best.optim.lr == study.best_params["optim.lr"] and best.objective == "val_acc"
    # a search is a sweep even without -m: no empty single-run folder is reserved beside it
    assert [p.name for p in (tmp_path / "outputs/distill_student").iterdir()] == ["multirun"]


def test_a_pareto_search_returns_both_objectives_and_ends_with_the_front(tmp_path):
    """objective=[val_acc,val_agreement] with NSGA-II: each trial returns its two figures, and
    the sweep writes the front (table, CSV, plot, configs) from the trials' run.json."""
    run_stage("train_teacher", tmp_path / "outputs")  # found as teacher_ckpt=latest
    out = forked_cli(
        "distill", "student", "hparams_search=optuna_pareto", "hydra.sweeper.n_trials=3",
        "trainer.limit_train_batches=3", "distill.control.subset=8", *TINY[2:], cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    assert "Pareto front of 3 finished trials" in out.stderr
    (result,) = (tmp_path / "outputs/distill_student").rglob("optimization_results.yaml")
    sweep = result.parent
    trials = {str(j): load(sweep / str(j))["results"] for j in range(3)}
    points = {j: (r["val_acc_best"], r["val_agreement"]) for j, r in trials.items()}
    with open(sweep / "pareto.csv") as f:
        rows = {r["job"]: r for r in csv.DictReader(f)}
    from distillctl.report.pareto import front

    on = dict(zip(points, front(list(points.values()))))
    assert {j: r["pareto"] == "True" for j, r in rows.items()} == on
    assert sorted(p.stem for p in (sweep / "pareto").glob("*.yaml")) == sorted(
        j for j, keep in on.items() if keep
    )
    # Optuna's own front holds the same figures the trials returned
    optuna_front = {tuple(s["values"]) for s in OmegaConf.load(result).solutions}
    assert optuna_front == {points[j] for j, keep in on.items() if keep}
    assert (sweep / "pareto.png").stat().st_size > 1000


def test_a_run_time_error_exits_1_marks_the_run_failed_and_prints_no_traceback(tmp_path):
    out = forked_cli("distill", "student", *TINY, cwd=tmp_path)
    assert out.returncode == 1
    assert "no finished teacher run" in out.stderr and "fix:" in out.stderr
    assert "Traceback" not in out.stderr
    (run_json,) = (tmp_path / "outputs/distill_student").rglob("run.json")
    info = json.loads(run_json.read_text())
    assert info["status"] == "failed" and "no finished teacher run" in info["reason"]


def test_distillctl_run_end_to_end(tmp_path):
    out = forked_cli("run", *TINY, "tag=e2e", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    (run_dir,) = (tmp_path / "outputs/run").glob("*/*-e2e")
    assert (run_dir / "report.html").exists() and (run_dir / ".hydra/config.yaml").exists()
    assert "distilled student" in out.stdout and "scratch student" in out.stdout
    assert f"report: {run_dir.resolve()}/report.html" in out.stdout.replace("\n", "")


DDP = ["trainer.accelerator=cpu", "trainer.devices=2", "trainer.strategy=ddp"]


def _epochs(run_dir) -> list[dict[str, float]]:
    with open(run_dir / "metrics.csv", newline="") as handle:
        return [{k: float(v) for k, v in row.items() if v} for row in csv.DictReader(handle)]


def test_two_process_ddp_matches_one_process_and_writes_one_run_folder(tmp_path):
    """`train teacher` and `distill student` on 2 CPU processes (gloo), 32 samples each per
    step, against one process at 64: each rank takes every other sample of the same epoch
    order (data/module.py), so the two ranks' batches together are the one process's batch
    and the averaged gradient is the same. Only float rounding may differ, and only if rank 1
    really trained its half do the figures match. Lightning re-runs the command for rank 1; it
    must land in the same stage and run folder, and only rank 0 writes files."""
    small = ["teacher=mlp", "student=mlp", "trainer.max_epochs=2", "trainer.limit_train_batches=4"]
    one_teacher, _ = run_stage("train_teacher", tmp_path / "one", *small, "data.batch_size=64")
    one_student, _ = run_stage(
        "distill_student", tmp_path / "one", *small, "data.batch_size=64",
        f"teacher_ckpt={one_teacher}",
    )  # fmt: skip
    for stage in ("train teacher", "distill student"):
        out = cli(*stage.split(), *TINY, *small, "data.batch_size=32", *DDP, cwd=tmp_path)
        assert out.returncode == 0, out.stderr[-3000:]
    two = {}
    for stage in ("train_teacher", "distill_student"):
        (run_json,) = (tmp_path / "outputs" / stage).rglob("run.json")  # one folder per run
        two[stage] = run_json.parent
        info = load(two[stage])
        assert info["status"] == "done"
        assert json.loads((two[stage] / "metrics.json").read_text())["processes"] == 2
        assert (two[stage] / "train_ddp_process_1.log").exists()  # rank 1 ran, in this folder
    teacher_used = load(two["distill_student"])["parents"]["teacher"]
    assert teacher_used == str(two["train_teacher"].resolve())
    for single, double in (
        (one_teacher, two["train_teacher"]),
        (one_student, two["distill_student"]),
    ):
        a, b = _epochs(single), _epochs(double)
        assert len(a) == len(b) == 2
        for row_a, row_b in zip(a, b):
            for key in ("train/loss", "val/loss", "val/acc"):
                assert row_b[key] == pytest.approx(row_a[key], abs=1e-4), (double, key)
    # CRD's banks are per process: refused before any run folder
    crd = cli("distill", "student", *TINY, *DDP, "loss=[ce,crd]", cwd=tmp_path)
    assert crd.returncode == 2 and "would not be synchronised" in crd.stderr


def test_the_whole_pipeline_under_ddp_trains_on_both_ranks_and_reports_once(tmp_path):
    out = cli("run", *TINY, *DDP, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "sync_dist=True" not in out.stderr  # evaluation is unsharded: nothing to warn about
    (run_dir,) = [p.parent for p in (tmp_path / "outputs/run").rglob("report.html")]
    assert (run_dir / "train_ddp_process_1.log").exists()
    for role in ("teacher", "scratch", "distilled"):
        assert load(run_dir / role)["status"] == "done"
        assert json.loads((run_dir / role / "metrics.json").read_text())["processes"] == 2
    assert load(run_dir)["status"] == "done"


def test_a_stage_help_is_hydras_help_with_the_config_groups(tmp_path):
    out = cli("distill", "student", "--help", cwd=tmp_path)
    assert out.returncode == 0
    assert "== Configuration groups ==" in out.stdout
    assert "data: breast_cancer, cifar10, cifar100, csv, digits" in out.stdout
