"""Every stage end to end, in-process, on tiny configs; the run-folder contract; bad input."""

from __future__ import annotations

import argparse
import csv
import html
import json

import pytest
import torch
from omegaconf import OmegaConf

from distillctl.errors import ConfigError, RunError
from distillctl.explain.faithfulness import QUALITY
from distillctl.runfolder.record import load
from tests.conftest import compose_cfg, run_stage

CONTRACT = (
    ".hydra/config.yaml",
    "run.json",
    "metrics.json",
    "metrics.csv",
    "checkpoints/best.ckpt",
    "checkpoints/last.ckpt",
    "model_card.json",
)


def test_train_teacher_writes_the_run_folder_contract(teacher_run):
    for name in CONTRACT:
        assert (teacher_run / name).is_file(), name
    info = load(teacher_run)
    assert info["stage"] == "train_teacher" and info["status"] == "done"
    assert info["seed"] == 0 and info["versions"]["torch"] and info["data"]["name"] == "digits"
    metrics = json.loads((teacher_run / "metrics.json").read_text())
    assert metrics["checkpoint"] == "best" and 0.0 <= metrics["test"]["test/acc"] <= 1.0
    assert metrics["test"]["test/acc"] > 0.5  # 2 epochs on digits: far above chance (0.1)
    rows = (teacher_run / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,step,lr") and "val/acc" in rows[0] and len(rows) == 3
    assert float(rows[1].split(",")[2]) == 3e-3  # the rate epoch 0 trained at (optim.lr)
    card = json.loads((teacher_run / "model_card.json").read_text())
    assert card["parameters"] > 0 and card["cpu_latency_ms_per_sample"] > 0


def test_checkpoints_load_with_weights_only(teacher_run):
    ckpt = torch.load(teacher_run / "checkpoints/best.ckpt", weights_only=True)
    assert ckpt["distillctl"]["model"]["arch"] == "cnn"
    from distillctl.runfolder.checkpoints import load_model

    model, meta = load_model(teacher_run / "checkpoints/best.ckpt", "teacher")
    assert meta["num_classes"] == 10 and not model.training


def test_train_student_is_the_scratch_baseline(tmp_path):
    run_dir, result = run_stage("train_student", tmp_path)
    assert load(run_dir)["stage"] == "train_student"
    assert json.loads((run_dir / "model_card.json").read_text())["arch"] == "cnn"
    assert result["parameters"] < 10_000  # the small default student


def test_distill_takes_the_latest_finished_teacher_on_the_same_data(tmp_path, capsys):
    old, _ = run_stage("train_teacher", tmp_path, name="teacher_old")
    new, _ = run_stage("train_teacher", tmp_path, name="teacher_new")
    failed = load(new)  # a newer but unfinished teacher must be passed over
    (tmp_path / "teacher_broken").mkdir()
    (tmp_path / "teacher_broken/run.json").write_text(
        json.dumps({**failed, "status": "failed", "finished_at": "9999"})
    )
    other, _ = run_stage(
        "train_teacher", tmp_path, "data=breast_cancer", "teacher=mlp", name="teacher_other_data"
    )
    run_dir, result = run_stage("distill_student", tmp_path)
    assert load(run_dir)["parents"]["teacher"] == str(new.resolve())
    assert str(new) in capsys.readouterr().out  # it says which teacher it took
    assert 0.0 <= result["teacher_agreement"] <= 1.0
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert "test/teacher_agreement" in metrics["test"]
    assert old != new != other


def test_distill_logs_each_loss_term(tmp_path, teacher_run):
    run_dir, _ = run_stage("distill_student", tmp_path, f"teacher_ckpt={teacher_run}")
    header = (run_dir / "metrics.csv").read_text().splitlines()[0]
    assert {"train/ce", "train/kd", "train/loss"} <= set(header.split(","))


def test_feature_terms_train_aux_modules_saved_in_the_checkpoint_not_the_student(
    tmp_path, teacher_run
):
    from distillctl.runfolder.checkpoints import load_model

    run_dir, result = run_stage(
        "distill_student",
        tmp_path,
        f"teacher_ckpt={teacher_run}",
        "loss=[ce,kd,fitnet,crd]",
        "trainer.limit_train_batches=3",
    )
    state = torch.load(run_dir / "checkpoints/last.ckpt", weights_only=True)["state_dict"]
    assert any(k.startswith("recipe.terms.2.regressors.") for k in state)
    assert "recipe.terms.3.memory_student" in state and "recipe.terms.3.z" in state
    student, meta = load_model(result["checkpoint_path"], "student")  # strict: model.* only
    assert meta["loss"] == "ce+kd+fitnet+crd" and meta["terms"]["fitnet"] == 100.0
    assert not any(k.startswith("recipe") for k in student.state_dict())
    rows = (run_dir / "steps.csv").read_text().splitlines()
    assert len(rows) == 1 + 3  # one row per training step
    assert {"train/fitnet", "train/crd", "train/loss"} <= set(rows[0].split(","))


def test_no_teacher_at_all_names_the_command_to_run(tmp_path):
    with pytest.raises(RunError, match="no finished teacher run") as err:
        run_stage("distill_student", tmp_path)
    assert "distillctl train teacher data=digits" in err.value.fix
    assert load(tmp_path / "distill_student")["status"] == "failed"


def test_latest_ignores_teachers_of_other_data_and_says_so(tmp_path):
    run_stage("train_teacher", tmp_path, "data=breast_cancer", "teacher=mlp")
    with pytest.raises(RunError, match="teacher runs found on: breast_cancer") as err:
        run_stage("distill_student", tmp_path)
    assert "train teacher data=digits" in err.value.fix


def test_a_teacher_from_other_data_is_refused(tmp_path):
    other, _ = run_stage("train_teacher", tmp_path, "data=breast_cancer", "teacher=mlp")
    with pytest.raises(
        RunError, match="trained on data 'breast_cancer' but this run uses 'digits'"
    ):
        run_stage("distill_student", tmp_path, f"teacher_ckpt={other}")


def test_a_teacher_from_other_splits_of_the_same_data_is_refused(tmp_path, teacher_run):
    with pytest.raises(RunError, match="differs in: split_seed"):
        run_stage("distill_student", tmp_path, f"teacher_ckpt={teacher_run}", "data.split_seed=5")


def test_missing_and_corrupt_teacher_checkpoints_are_named(tmp_path):
    with pytest.raises(ConfigError, match="teacher_ckpt=.*nope.ckpt does not exist"):
        run_stage("distill_student", tmp_path, f"teacher_ckpt={tmp_path / 'nope.ckpt'}")
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(b"\x00garbage")
    with pytest.raises(RunError, match="truncated or not a checkpoint"):
        run_stage("distill_student", tmp_path, f"teacher_ckpt={bad}", name="d2")


def test_class_counts_that_disagree_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"teacher.num_classes=5 but data 'digits' has 10"):
        run_stage("train_teacher", tmp_path, "teacher.num_classes=5")


def test_failure_marks_run_json_and_keeps_the_config(tmp_path):
    table = ["data=synthetic", "data.shape=[6]", "data.num_samples=64", "data.num_test=16"]
    with pytest.raises(ConfigError):  # cnn cannot take a table (known once the data is read)
        run_stage("train_teacher", tmp_path, *table)
    info = load(tmp_path / "train_teacher")
    assert info["status"] == "failed" and "works on image inputs" in info["reason"]
    assert (tmp_path / "train_teacher/.hydra/config.yaml").exists()


def test_the_teacher_stays_frozen_in_eval_mode_during_distillation(teacher_run, tmp_path):
    from distillctl.configuration.validate import validate
    from distillctl.data import build
    from distillctl.losses import build_recipe
    from distillctl.models import create_model
    from distillctl.runfolder.checkpoints import load_model
    from distillctl.train.fit import fit_and_test
    from distillctl.train.lit import Distiller

    cfg = compose_cfg("distill_student", ["trainer.limit_train_batches=3"], tmp_path)
    teacher, _ = load_model(teacher_run / "checkpoints/best.ckpt", "teacher")
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    data, _ = build(cfg)
    student = create_model(cfg.student, data.input_shape)
    seen = []

    class Spy(Distiller):
        def training_step(self, batch, batch_idx):
            seen.append((self.teacher.training, self.model.training))
            return super().training_step(batch, batch_idx)

    recipe = build_recipe(cfg.loss).bind(student, teacher, data.input_shape, data.train_labels())
    module = Spy(student, teacher, recipe, 10, cfg.optim, {"model": {}})
    fit_and_test(module, data, cfg, validate(cfg), tmp_path / "run")
    assert seen and all(t is False and s is True for t, s in seen)
    after = teacher.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # BN statistics included
    assert not any(p.requires_grad for p in teacher.parameters())


@pytest.mark.parametrize("explainer", ["captum_ig", "captum_gradcam", "captum_occlusion"])
def test_explain_with_captum_explainers(tmp_path, teacher_run, explainer):
    run_stage("distill_student", tmp_path, f"teacher_ckpt={teacher_run}")
    run_dir, _ = run_stage("explain", tmp_path, f"explainer={explainer}")
    metrics = json.loads((run_dir / "attributions/metrics.json").read_text())
    assert metrics["explainer"]["name"] == explainer
    assert -1.0 <= metrics["agreement"]["student"]["spearman"]["mean"] <= 1.0
    assert metrics["quality"]["student"]["sparseness"]["n"] == 8
    # Grad-CAM's maps pass a ReLU: no sign, so no sign agreement; the others are signed
    signed = explainer != "captum_gradcam"
    assert metrics["signed_maps"] is signed
    assert ("sign" in metrics["agreement"]["student"]) is signed
    assert set(metrics["definitions"]) == set(metrics["agreement"]["student"])
    assert "per input" in metrics["definitions"]["spearman"]
    assert "signed" in metrics["definitions"]["spearman"]
    report = (run_dir / "report.html").read_text()
    assert html.escape(metrics["definitions"]["topk"]) in report
    # every agreement measure between chance and ceiling, in metrics.json and the report
    assert set(metrics["levels"]) == set(metrics["agreement"]["student"])
    level = metrics["levels"]["spearman"]
    assert level["ceiling"] == 1.0  # these three explainers draw nothing at random
    assert set(level["chance"]) == {"randomised_model", "model_free", "mismatched_inputs"}
    assert set(metrics["normalised"]["student"]) == set(metrics["levels"])
    assert "chance: model-free map" in report
    if explainer == "captum_gradcam":  # the report names the layer auto chose and its maps
        chosen = metrics["explainer_details"]["student"]
        assert chosen["map size"] == "4x4"
        assert f"layer {chosen['layer']}, map size 4x4" in report


def test_explain_can_add_cascading_randomisation(tmp_path, teacher_run):
    run_stage("distill_student", tmp_path, f"teacher_ckpt={teacher_run}")
    run_dir, _ = run_stage(
        "explain", tmp_path, "explainer=captum_saliency", "explain.quality.cascading=true"
    )
    metrics = json.loads((run_dir / "attributions/metrics.json").read_text())
    steps = metrics["cascading_randomisation"]["teacher"]
    assert len(steps) >= 3 and steps[0]["layer"].startswith("head")  # from the output down
    assert "Cascading randomisation" in (run_dir / "report.html").read_text()


def test_explain_writes_agreement_pictures_and_a_self_contained_report(tmp_path, teacher_run):
    distill_dir, _ = run_stage("distill_student", tmp_path, f"teacher_ckpt={teacher_run}")
    run_dir, result = run_stage("explain", tmp_path)
    assert load(run_dir)["parents"]["distill"] == str(distill_dir.resolve())
    metrics = json.loads((run_dir / "attributions/metrics.json").read_text())
    student = metrics["agreement"]["student"]
    assert set(student) == {"spearman", "topk", "sign", "cosine"}
    assert -1.0 <= student["spearman"]["mean"] <= 1.0 and student["topk"]["n"] == 8
    assert len(metrics["per_input"]["student"]["cosine"]) == 8
    quality = metrics["quality"]
    assert set(quality) == {"teacher", "student"}
    # the default explainer (GradientShap) has a completeness property: every figure is there
    assert set(quality["student"]) == set(QUALITY)
    assert 0.0 <= quality["teacher"]["deletion_auc"]["mean"] <= 1.0
    assert len(metrics["per_input_quality"]["teacher"]["sparseness"]) == 8
    # two chosen inputs (num_figures=2), each drawn and captioned with why it was chosen
    chosen = sorted((run_dir / "attributions").glob("input_*.png"))
    assert len(chosen) == 2
    others = sorted(p.name for p in (run_dir / "attributions").glob("*.png") if p not in chosen)
    assert others == ["agreement_hist.png", "agreement_per_class.png", "grid.png"]
    html = (run_dir / "report.html").read_text()
    # the 5 pictures of the maps, and each trained model's curves (teacher, student)
    curves = sorted(p.name for p in (run_dir / "curves").glob("*.png"))
    assert curves == ["curves_student.png", "curves_teacher.png"]
    assert html.count("data:image/png;base64,") == 5 + 2 and "<table>" in html
    assert "Training curves" in html
    assert html.count("<figcaption>test input ") == 2
    assert "Agreement per class" in html and set(metrics["per_class"]["student"]) <= {
        str(c) for c in range(10)
    }
    assert 'src="http' not in html  # self-contained: nothing to fetch
    assert "Are the explanations faithful" in html and "insertion AUC" in html
    # compare joins the distill run with its explanation: one row, every column filled
    from distillctl.report.compare import compare_command

    written = compare_command([f"paths.output_root={tmp_path}"])
    rows = list(csv.DictReader(written["runs_csv"].open()))
    assert len(rows) == 1 and rows[0]["method"] == "ce+kd" and rows[0]["run"] == str(distill_dir)
    assert float(rows[0]["spearman"]) == pytest.approx(student["spearman"]["mean"])
    assert all(rows[0][k] for k in ("test_acc", "parameters", "teacher_top1", "deletion_auc"))
    (group,) = list(csv.DictReader(written["csv"].open()))
    assert group["n"] == "1" and group["test_acc_ci_low"] == ""  # one seed: no interval
    assert written["png"].stat().st_size > 1000
    assert result["report"] == str((run_dir / "report.html").resolve())


def test_explain_attributions_differ_between_models_and_match_targets(tmp_path, teacher_run):
    import numpy as np

    run_stage("distill_student", tmp_path, f"teacher_ckpt={teacher_run}")
    run_dir, _ = run_stage(
        "explain", tmp_path, "explain.target=teacher_pred", "explainer=shap_deep"
    )
    stored = np.load(run_dir / "attributions/attributions.npz")
    assert stored["attr_teacher"].shape == stored["inputs"].shape == (8, 1, 8, 8)
    assert not np.allclose(stored["attr_teacher"], stored["attr_student"])
    assert np.abs(stored["attr_teacher"]).sum() > 0


def test_explain_with_no_distill_run_says_what_to_run(tmp_path):
    with pytest.raises(RunError, match="no finished `distill student` run") as err:
        run_stage("explain", tmp_path)
    assert "distillctl distill student" in err.value.fix


def test_tabular_and_signal_data_get_their_own_pictures(tmp_path):
    run_dir, _ = run_stage(
        "run",
        tmp_path,
        "data=breast_cancer",
        "teacher=mlp",
        "teacher.hidden=[16]",
        "student=mlp",
        name="tab",
    )
    assert (run_dir / "attributions/feature_importance.png").stat().st_size > 0
    assert (run_dir / "attributions/beeswarm.png").stat().st_size > 0
    # a later explain's report shows the configs of the runs it explained, not its own
    explain_dir, _ = run_stage("explain", tmp_path, f"explain.run={run_dir / 'distilled'}")
    page = (explain_dir / "report.html").read_text()
    configs = page.split("<h2>Configurations")[1]
    assert "<h3>explain settings</h3>" in configs
    assert f"<h3>student: {run_dir / 'distilled'}</h3>" in configs
    assert "arch: mlp" in configs and "arch: cnn" not in configs
    run_dir, _ = run_stage(
        "run",
        tmp_path,
        "experiment=mnist1d",
        "data.num_samples=400",
        "trainer.max_epochs=1",
        name="sig",
    )
    assert len(list((run_dir / "attributions").glob("input_*.png"))) == 2


def test_run_puts_every_stage_under_one_parent(tmp_path, capsys):
    run_dir, result = run_stage("run", tmp_path)
    info = load(run_dir)
    assert info["status"] == "done" and set(info["parents"]) == {"teacher", "scratch", "distilled"}
    for sub in ("teacher", "scratch", "distilled"):
        assert load(run_dir / sub)["status"] == "done"
    assert load(run_dir / "distilled")["parents"]["teacher"] == str((run_dir / "teacher").resolve())
    assert (run_dir / "report.html").exists()
    assert set(result["agreement"]) == {"distilled student", "scratch student"}
    out = capsys.readouterr().out
    assert "compression" in out and "report:" in out


def test_a_checkpoint_that_needs_code_to_load_is_not_trusted(tmp_path, teacher_run):
    ckpt = torch.load(teacher_run / "checkpoints/best.ckpt", weights_only=True)
    ckpt["extra"] = argparse.Namespace(lr=0.1)  # any object beyond tensors and containers
    bad = tmp_path / "pickled.ckpt"
    torch.save(ckpt, bad)
    with pytest.raises(RunError, match=r"holds a Python object \(argparse.Namespace\)"):
        run_stage("distill_student", tmp_path, f"teacher_ckpt={bad}")


def test_a_truncated_checkpoint_is_named(tmp_path, teacher_run):
    data = (teacher_run / "checkpoints/best.ckpt").read_bytes()
    cut = tmp_path / "cut.ckpt"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(RunError, match="truncated or not a checkpoint"):
        run_stage("distill_student", tmp_path, f"teacher_ckpt={cut}")


def test_explain_takes_a_given_distill_run_and_refuses_other_folders(tmp_path, teacher_run):
    first, _ = run_stage("distill_student", tmp_path, f"teacher_ckpt={teacher_run}", name="d1")
    run_stage("distill_student", tmp_path, f"teacher_ckpt={teacher_run}", name="d2")
    run_dir, _ = run_stage("explain", tmp_path, f"explain.run={first}")
    assert load(run_dir)["parents"]["distill"] == str(first.resolve())
    with pytest.raises(RunError, match="is not a `distill student` run folder"):
        run_stage("explain", tmp_path, f"explain.run={teacher_run}", name="e2")
    # its checkpoints deleted: the advice names what explain can use (it has no *_ckpt keys)
    second = tmp_path / "d2"
    for ckpt in (second / "checkpoints").glob("*.ckpt"):
        ckpt.unlink()
    with pytest.raises(RunError, match="student checkpoint not found") as err:
        run_stage("explain", tmp_path, f"explain.run={second}", name="e3")
    assert "_ckpt" not in err.value.fix and "explain.run=<distill run folder>" in err.value.fix


def test_the_scratch_baseline_is_matched_to_the_distilled_student(tmp_path, teacher_run):
    """At one seed, `distill student loss=ce` is `train student` exactly (same initial weights,
    data order and budget), so a distilled-vs-scratch difference is the teacher's doing."""
    epochs = ["trainer.max_epochs=2", "trainer.limit_train_batches=4"]
    scratch, _ = run_stage("train_student", tmp_path, *epochs, name="scratch")
    control, _ = run_stage(
        "distill_student", tmp_path, *epochs, "loss=[ce]", f"teacher_ckpt={teacher_run}"
    )
    a = json.loads((scratch / "metrics.json").read_text())
    b = json.loads((control / "metrics.json").read_text())
    assert a["val_acc_best"] == b["val_acc_best"]
    assert a["test"] == {k: v for k, v in b["test"].items() if k != "test/teacher_agreement"}
    sa = torch.load(scratch / "checkpoints/last.ckpt", weights_only=True)["state_dict"]
    sb = torch.load(control / "checkpoints/last.ckpt", weights_only=True)["state_dict"]
    assert all(torch.equal(sa[k], sb[k]) for k in sa if k.startswith("model."))


@pytest.mark.parametrize("terms", ["[ce,kd]", "[ce,crd]", "[ce,fitnet]"])
def test_no_recipe_moves_the_students_initial_weights(tmp_path, teacher_run, monkeypatch, terms):
    """Auxiliary modules (regressors, embedders, banks) draw from their own stream."""
    import distillctl.train.lit as lit

    seen = {}
    original = lit.Distiller.__init__

    def record(self, model, *args, **kwargs):
        seen["first"] = next(model.parameters()).detach().clone()
        original(self, model, *args, **kwargs)

    monkeypatch.setattr(lit.Distiller, "__init__", record)
    run_stage("distill_student", tmp_path, f"loss={terms}", f"teacher_ckpt={teacher_run}")
    from distillctl.models import create_model
    from distillctl.train.seeding import seed_stream

    seed_stream(0, "student")
    reference = create_model(compose_cfg("train_student", [], tmp_path).student, (1, 8, 8))
    assert torch.equal(seen["first"], next(reference.parameters()))


def test_explanations_are_the_same_from_run_and_from_a_later_explain(tmp_path):
    """The default explainer (captum GradientShap) draws random baselines and points: seeded
    from explainer.seed, the distilled student's maps in `run` are those a later `explain`
    of the same distill run gives, and two explain runs agree exactly, also when the second
    skips the sanity check (whose explanations of randomised models ran in between)."""
    import numpy as np

    run_dir, _ = run_stage("run", tmp_path, name="pipeline")
    distilled = f"explain.run={run_dir / 'distilled'}"
    first, _ = run_stage("explain", tmp_path, distilled, name="e1")
    second, _ = run_stage("explain", tmp_path, distilled, "explain.quality.sanity=false", name="e2")
    maps = [np.load(d / "attributions/attributions.npz") for d in (run_dir, first, second)]
    assert np.array_equal(maps[0]["inputs"], maps[1]["inputs"])
    assert np.ptp(maps[0]["attr_distilled student"]) > 0  # real maps, not all zero
    assert np.array_equal(maps[0]["attr_distilled student"], maps[1]["attr_student"])
    assert np.array_equal(maps[0]["attr_teacher"], maps[1]["attr_teacher"])
    for key in ("attr_teacher", "attr_student"):
        assert np.array_equal(maps[1][key], maps[2][key])
    # the two students of a run compared per input, with interval and verdict
    metrics = json.loads((run_dir / "attributions/metrics.json").read_text())
    pair = metrics["paired"]["distilled student - scratch student"]["spearman"]
    assert pair["n"] + pair["undefined"] == 8 and pair["ci_low"] <= pair["mean"] <= pair["ci_high"]
    spearman = metrics["agreement"]["distilled student"]["spearman"]
    assert spearman["ci_low"] <= spearman["mean"] <= spearman["ci_high"]
    assert "bootstrap interval" in (run_dir / "report.html").read_text()
    # compare finds the later explains of the nested student: the same way of explaining it
    # is not counted twice, another explainer is its own row; teacher and scratch rows have
    # their top-1 agreement with the teacher
    from distillctl.report.compare_rows import collect

    run_stage("explain", tmp_path, distilled, "explainer=captum_saliency", name="e3")
    rows = collect([str(run_dir)], tmp_path)
    by = {(r["method"], r.get("explained", "").split(",")[0]): r for r in rows}
    assert sorted(by) == [
        ("ce+kd", "captum_gradientshap"),
        ("ce+kd", "captum_saliency"),
        ("scratch", "captum_gradientshap"),
        ("teacher", ""),
    ]
    assert by[("teacher", "")]["teacher_top1"] == 1.0
    assert 0.0 <= by[("scratch", "captum_gradientshap")]["teacher_top1"] <= 1.0


def test_the_saved_config_is_the_one_that_ran(tmp_path, teacher_run):
    """distill.max_epochs decides the distill stage's epochs: the saved config is the composed
    one (never rewritten by the stage), and run.json says what the stage decided."""
    run_dir, _ = run_stage(
        "distill_student",
        tmp_path,
        f"teacher_ckpt={teacher_run}",
        "trainer.max_epochs=1",
        "distill.max_epochs=2",
        "data.batch_size=512",
    )
    saved = OmegaConf.load(run_dir / ".hydra" / "config.yaml")
    assert saved.trainer.max_epochs == 1 and saved.distill.max_epochs == 2
    assert load(run_dir)["max_epochs"] == 2
    assert saved.paths.data_dir == str(tmp_path / "data")  # absolute, as it was read
    assert len((run_dir / "metrics.csv").read_text().splitlines()) == 1 + 2
