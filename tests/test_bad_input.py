"""Bad input through the real CLI: one clear message (problem and fix), the right exit code,
no traceback, and nothing already written is lost.

Adding a case is adding one line to CASES: (id, arguments, exit code, text in the message).
Arguments may use {teacher} (a finished digits cnn teacher run), {mlp_teacher} (a finished
breast_cancer mlp teacher run), {tmp} (a scratch folder), {truncated}, {notckpt} and
{brokendir} (a --config-dir whose data/broken.yaml does not parse).
Exit codes: 2 = usage or config error, 1 = failure at run time. Most config errors are
caught before a run folder exists; those that need the data loaded (class counts, shapes)
leave a run folder whose run.json says failed, with the reason.
"""

from __future__ import annotations

import json
import shutil

import pytest

from tests.conftest import TINY, run_stage
from tests.conftest import forked_cli as cli

TD = ["distill", "student"]

CASES = [
    # unknown choice in every group, and an unknown command
    ("unknown data", ["train", "teacher", "data=nope"], 2, "unknown data 'nope'"),
    ("unknown teacher", ["train", "teacher", "teacher=nope"], 2, "unknown teacher 'nope'"),
    ("unknown student", ["train", "student", "student=nope"], 2, "unknown student 'nope'"),
    (
        "unknown loss",
        [*TD, "loss=nope"],
        2,
        "choose one of: annealing_kd, at, attention_kl, cc, ce, consistency, crd, dist, dkd",
    ),
    ("unknown loss in a list", [*TD, "loss=[ce,kd,nope]"], 2, "unknown loss 'nope'"),
    ("unknown logger", [*TD, "logger=nope"], 2, "unknown logger 'nope'"),
    ("--cfg with -m", [*TD, "-m", "seed=1,2", "--cfg", "job"], 2, "do not combine with -m"),
    ("unknown objective", [*TD, "objective=test_acc"], 2, "objective='test_acc' is not"),
    ("bad cache store", [*TD, "teacher_cache_store=ram"], 2, "teacher_cache_store='ram' is not"),
    ("unknown explainer", ["explain", "explainer=nope"], 2, "unknown explainer 'nope'"),
    (
        "soft tree prediction",
        ["train", "student", "student=soft_tree", "student.prediction=vote"],
        2,
        "student.prediction='vote' is not valid",
    ),
    (
        "soft tree depth",
        ["train", "student", "student=soft_tree", "student.depth=0"],
        2,
        "student.depth=0 is not valid: it must be a whole number from 1 to 12",
    ),
    (
        "feature term on a soft tree",
        [*TD, "student=soft_tree", "loss=[ce,at]", "teacher_ckpt={teacher}"],
        2,
        "set student.objective=mixture",
    ),
    ("unknown trainer", ["run", "trainer=tpu"], 2, "choose one of: cpu, default, gpu"),
    ("unknown experiment", ["run", "experiment=nope"], 2, "unknown experiment 'nope'"),
    ("unknown in a sweep", [*TD, "-m", "data=digits,nope"], 2, "unknown data 'nope'"),
    ("unknown command", ["distil", "student"], 2, "unknown command 'distil student'"),
    ("unknown list group", ["list", "nope"], 2, "unknown config group 'nope'"),
    ("unknown model in list layers", ["list", "layers", "teacher=nope"], 2, "unknown teacher"),
    ("compare with nothing to compare", ["compare", "paths.output_root={tmp}/empty"], 2, "no fin"),
    ("compare a folder that is not a run", ["compare", "{tmp}"], 2, "is not a run folder"),
    # keys that do not exist, or that the chosen data set does not have
    ("unknown key", ["train", "teacher", "foo=1"], 2, "'foo' is not a config key"),
    (
        "unknown nested key",
        ["train", "teacher", "trainer.epochs=3"],
        2,
        "trainer has no option 'epochs'",
    ),
    (
        "data option of another set",
        ["train", "teacher", "data.num_samples=100"],
        2,
        "data has no option 'num_samples'",
    ),
    ("unparseable override", ["train", "teacher", "data=["], 2, "cannot parse the override"),
    # an output folder that cannot be made: one message before anything runs
    ("run dir under a file", ["train", "teacher", "hydra.run.dir={tmp}/file/run"], 2, "is a file"),
    ("sweep dir under a file", [*TD, "-m", "hydra.sweep.dir={tmp}/file/s"], 2, "is a file"),
    ("run: output root under a file", ["run", "paths.output_root={tmp}/file/out"], 2, "is a file"),
    # wrong types and out-of-range values
    (
        "epochs not a number",
        ["train", "teacher", "trainer.max_epochs=abc"],
        2,
        "trainer.max_epochs='abc' is not valid",
    ),
    (
        "batch size not whole",
        ["train", "teacher", "data.batch_size=1.5"],
        2,
        "data.batch_size=1.5 is not valid",
    ),
    ("zero epochs", ["train", "teacher", "trainer.max_epochs=0"], 2, "a whole number > 0"),
    ("negative epochs", ["train", "student", "trainer.max_epochs=-3"], 2, "max_epochs=-3"),
    ("zero batch size", ["train", "teacher", "data.batch_size=0"], 2, "data.batch_size=0"),
    ("zero learning rate", ["train", "teacher", "optim.lr=0"], 2, "optim.lr=0 is not valid"),
    ("negative learning rate", [*TD, "optim.lr=-0.1"], 2, "optim.lr=-0.1"),
    ("zero temperature", [*TD, "loss.kd.temperature=0"], 2, "loss.kd.temperature=0 is not"),
    ("negative temperature", [*TD, "loss.kd.temperature=-2"], 2, "a number > 0"),
    (
        "zero temperature in a sweep",
        [*TD, "-m", "loss.kd.temperature=4,0"],
        2,
        "loss.kd.temperature=0 is not valid",
    ),
    ("negative weight", [*TD, "loss.kd.weight=-0.5"], 2, "loss.kd.weight=-0.5 is not valid"),
    ("all weights zero", [*TD, "loss.ce.weight=0", "loss.kd.weight=0"], 2, "has weight 0"),
    (
        "option of an unselected term",
        [*TD, "loss.at.p=3"],
        2,
        "select it too: loss=[ce,kd,at] loss.at.p=3",
    ),
    ("dkd alpha below zero", [*TD, "loss=[ce,dkd]", "loss.dkd.alpha=-1"], 2, "a number >= 0"),
    ("crd momentum above one", [*TD, "loss=crd", "loss.crd.momentum=1.5"], 2, "in [0, 1]"),
    ("label smoothing of one", [*TD, "loss.ce.label_smoothing=1"], 2, "label_smoothing=1"),
    # layers tapped by name, and feature shapes a method cannot use
    (
        "layer name that does not exist",
        [*TD, "teacher_ckpt={teacher}", "loss=[ce,at]", "loss.at.layers=[features.block9]"],
        2,
        "loss.at.layers: the student has no layer 'features.block9'",
    ),
    (
        "spatial method on a vector layer",
        [*TD, "teacher_ckpt={teacher}", "loss=at", "loss.at.student_layers=[head.1]"],
        2,
        "gives a vector (32,) with no spatial axis",
    ),
    (
        "different shapes without a regressor",
        [*TD, "teacher_ckpt={teacher}", "loss=fitnet", "loss.fitnet.regressor=false"],
        2,
        "without a regressor the shapes must be equal",
    ),
    (
        "unequal layer counts",
        [*TD, "teacher_ckpt={teacher}", "loss=sp", "loss.sp.teacher_layers=[head.1,head.2]"],
        2,
        "the counts differ",
    ),
    (
        "validation fraction",
        ["train", "teacher", "data.val_fraction=1.5"],
        2,
        "data.val_fraction=1.5",
    ),
    ("explain target", ["explain", "explain.target=nope"], 2, "explain.target='nope'"),
    ("explain inputs", ["explain", "explain.num_inputs=0"], 2, "explain.num_inputs=0"),
    ("shap samples", ["explain", "explainer.nsamples=0"], 2, "explainer.nsamples=0"),
    ("eval checkpoint", ["train", "teacher", "eval_checkpoint=middle"], 2, "one of: best, last"),
    # class counts of teacher, student and data that disagree
    (
        "teacher classes",
        ["train", "teacher", "teacher.num_classes=5"],
        2,
        "teacher.num_classes=5 but data 'digits' has 10 classes",
    ),
    (
        "student classes",
        [*TD, "student.num_classes=3"],
        2,
        "student.num_classes=3 but data 'digits' has 10 classes",
    ),
    (
        "data classes",
        ["train", "teacher", "data.num_classes=5"],
        2,
        "data.num_classes=5 but data 'digits' has 10 classes",
    ),
    (
        "architecture cannot take the data",
        ["train", "teacher", "data=breast_cancer"],
        2,
        "teacher=cnn works on image inputs, but data=breast_cancer gives tabular inputs",
    ),
    # files and folders
    (
        "output root under a file",
        ["train", "teacher", "paths.output_root={tmp}/file/runs"],
        2,
        "is a file",
    ),
    (
        "config dir that does not parse",
        ["train", "teacher", "--config-dir", "{brokendir}", "data=broken"],
        2,
        "the config cannot be composed",
    ),
    # files the config names, checked before any run folder exists
    (
        "missing checkpoint",
        [*TD, "teacher_ckpt={tmp}/missing.ckpt"],
        2,
        "missing.ckpt does not exist",
    ),
    (
        "missing data root",
        ["train", "teacher", "data=image_folder", "data.root={tmp}/no"],
        2,
        "data.root=",
    ),
    (
        "csv without a target",
        ["train", "teacher", "data=csv", "data.path={teacher}/run.json"],
        2,
        "needs data.target",
    ),
    (
        "image folder of 2 channels",
        ["train", "teacher", "data=image_folder", "data.root={tmp}", "data.channels=2"],
        2,
        "data.channels=2 is not valid: it must be 1 (grey) or 3 (RGB)",
    ),
    (
        "negative image size",
        ["train", "teacher", "data=image_folder", "data.root={tmp}", "data.image_size=-4"],
        2,
        "data.image_size=-4 is not valid",
    ),
    (
        "soft tree depth not a number",
        ["train", "student", "student=soft_tree", "student.depth=abc"],
        2,
        "student.depth='abc' is not valid",
    ),
    (
        "csv with an infinite value",
        ["train", "teacher", "data=csv", "data.path={infcsv}", "data.target=y", "teacher=mlp"],
        1,
        "line 4 holds 'inf' (not a finite number)",
    ),
    (
        "csv of the target column alone",
        ["train", "teacher", "data=csv", "data.path={targetcsv}", "data.target=y", "teacher=mlp"],
        1,
        "has only the target column 'y'",
    ),
    # failures at run time
    ("no teacher yet", [*TD, "paths.output_root={tmp}/empty"], 1, "no finished teacher run"),
    ("truncated checkpoint", [*TD, "teacher_ckpt={truncated}"], 1, "truncated or not a checkpoint"),
    ("not a checkpoint", [*TD, "teacher_ckpt={notckpt}"], 1, "truncated or not a checkpoint"),
    (
        "checkpoint of another architecture",
        [*TD, "teacher=mlp", "teacher_ckpt={teacher}"],
        1,
        "but the config asks for teacher=mlp",
    ),
    (
        "teacher of another data set",
        [*TD, "teacher=mlp", "teacher_ckpt={mlp_teacher}"],
        1,
        "trained on data 'breast_cancer' but this run uses 'digits'",
    ),
    (
        "every trial of a search fails",
        [*TD, "hparams_search=optuna", "hydra.sweeper.n_trials=2", "paths.output_root={tmp}/e1"],
        1,
        "every trial of the search failed, so there is no best trial",
    ),
    (
        "explain before any distill run",
        ["explain", "paths.output_root={tmp}/empty"],
        1,
        "no finished `distill student` run",
    ),
    (
        "explain a folder that is not a distill run",
        ["explain", "explain.run={teacher}"],
        1,
        "is not a `distill student` run folder",
    ),
]


@pytest.fixture(scope="module")
def places(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("bad")
    teacher, _ = run_stage("train_teacher", root, name="teacher")
    mlp_teacher, _ = run_stage(
        "train_teacher", root, "data=breast_cancer", "teacher=mlp", name="mlp_teacher"
    )
    data = (teacher / "checkpoints/best.ckpt").read_bytes()
    (root / "truncated.ckpt").write_bytes(data[: len(data) // 3])
    (root / "notckpt.ckpt").write_text("this is a text file, not a checkpoint\n")
    (root / "file").write_text("a file where a folder is expected\n")
    (root / "configs/data").mkdir(parents=True)
    (root / "configs/data/broken.yaml").write_text("name: [unclosed\n  - nope: : :\n")
    rows = [f"{i % 7},{i % 3},{i % 2}" for i in range(40)]
    rows[2] = "inf,1,0"  # line 4 of the file
    (root / "inf.csv").write_text("\n".join(["a,b,y", *rows]) + "\n")
    (root / "target.csv").write_text("y\n" + "\n".join(str(i % 2) for i in range(40)) + "\n")
    return {
        "infcsv": str(root / "inf.csv"),
        "targetcsv": str(root / "target.csv"),
        "teacher": str(teacher),
        "mlp_teacher": str(mlp_teacher),
        "tmp": str(root),
        "truncated": str(root / "truncated.ckpt"),
        "notckpt": str(root / "notckpt.ckpt"),
        "brokendir": str(root / "configs"),
    }


def test_the_suite_has_at_least_thirty_cases():
    assert len(CASES) >= 30 and len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("name,args,code,text", CASES, ids=[c[0] for c in CASES])
def test_bad_input(name, args, code, text, places, tmp_path):
    argv = [a.format(**places) for a in args]
    if argv[0] != "list":  # the case's own values come last, so they win over TINY's
        words = 1 if argv[0] in ("run", "explain") else 2
        argv = [*argv[:words], *TINY, *argv[words:]]
    out = cli(*argv, cwd=tmp_path)
    assert out.returncode == code, f"{name}: exit {out.returncode}\n{out.stderr[-2000:]}"
    assert text in out.stderr, out.stderr
    assert "fix:" in out.stderr
    assert "Traceback" not in out.stderr + out.stdout
    # a run folder exists only where a run had started, and then it says why it failed
    for run_json in (tmp_path / "outputs").rglob("run.json"):
        info = json.loads(run_json.read_text())
        assert info["status"] == "failed" and text in info["reason"]


def test_a_failed_run_says_why_and_keeps_what_it_wrote(places, tmp_path):
    out = cli(*TD, f"teacher_ckpt={places['truncated']}", *TINY, cwd=tmp_path)
    assert out.returncode == 1
    (run_json,) = (tmp_path / "outputs/distill_student").rglob("run.json")
    info = json.loads(run_json.read_text())
    assert info["status"] == "failed" and "truncated" in info["reason"]
    assert (run_json.parent / ".hydra/config.yaml").exists()


def test_debug_mode_shows_the_traceback(places, tmp_path):
    out = cli(*TD, "teacher_ckpt=/nope.ckpt", *TINY, cwd=tmp_path, env={"DISTILLCTL_DEBUG": "1"})
    assert out.returncode != 0 and "Traceback" in out.stderr


def test_a_teacher_folder_survives_a_failed_distillation(places, tmp_path):
    copy = tmp_path / "teacher"
    shutil.copytree(places["teacher"], copy)
    sizes = {p: p.stat().st_size for p in copy.rglob("*") if p.is_file()}
    out = cli(*TD, f"teacher_ckpt={copy}", "teacher=mlp", *TINY, cwd=tmp_path)
    assert out.returncode == 1
    assert {p: p.stat().st_size for p in copy.rglob("*") if p.is_file()} == sizes


def test_a_sweep_whose_every_job_fails_says_so_briefly(places, tmp_path):
    """Each job's one-line error, the jobs table, one closing line: no grouped table of nothing."""
    out = cli(*TD, "-m", "seed=1,2", *TINY, f"paths.output_root={tmp_path}/none", cwd=tmp_path)
    assert out.returncode == 1 and "Traceback" not in out.stderr + out.stdout
    assert "every job failed" in out.stdout.replace("\n", " ")
    assert "runs that differ only by seed grouped" not in out.stdout
    assert len((out.stdout + out.stderr).splitlines()) < 30
