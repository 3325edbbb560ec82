"""teacher_ckpt: a distillctl run or .ckpt, a plain state_dict file, or none; teacher_checkpoint
picks a run's best or last; the teacher the user got is evaluated and recorded."""

import json

import pytest
import torch

from distillctl.errors import ConfigError, RunError
from tests.conftest import run_stage


def _weights(teacher_run, which="best"):
    state = torch.load(teacher_run / f"checkpoints/{which}.ckpt", weights_only=True)["state_dict"]
    return {k[len("model.") :]: v for k, v in state.items() if k.startswith("model.")}


def _teacher_test_acc(teacher_run) -> float:
    return json.loads((teacher_run / "metrics.json").read_text())["test"]["test/acc"]


def test_a_plain_state_dict_file_is_a_teacher_and_is_evaluated_first(tmp_path, teacher_run):
    # the shape other tools save: {"model": state_dict} with DataParallel's module. prefix
    path = tmp_path / "teacher.pth"
    torch.save({"model": {f"module.{k}": v for k, v in _weights(teacher_run).items()}}, path)
    run_dir, result = run_stage("distill_student", tmp_path, f"teacher_ckpt={path}")
    record = json.loads((run_dir / "run.json").read_text())
    assert record["teacher_ckpt"] == str(path.resolve())
    # the same weights on the same data: the imported teacher scores what its run scored
    assert record["teacher_eval"]["test_acc"] == pytest.approx(_teacher_test_acc(teacher_run))
    assert 0.0 < record["teacher_eval"]["val_acc"] <= 1.0
    assert result["teacher_eval"] == record["teacher_eval"]
    # explain rebuilds the state_dict teacher from the student's checkpoint meta
    explain_dir, _ = run_stage("explain", tmp_path, f"explain.run={run_dir}")
    assert (explain_dir / "report.html").exists()


def test_a_state_dict_that_does_not_fit_lists_the_keys_and_the_closest_network(
    tmp_path, teacher_run
):
    state = _weights(teacher_run)
    dropped = sorted(state)[0]
    del state[dropped]
    state["extra.weight"] = torch.zeros(3)
    path = tmp_path / "teacher.pt"
    torch.save(state, path)
    with pytest.raises(RunError) as err:
        run_stage("distill_student", tmp_path, f"teacher_ckpt={path}")
    assert f"missing keys: {dropped}" in err.value.problem
    assert "unexpected keys: extra.weight" in err.value.problem
    assert "closest shipped: teacher=cnn" in err.value.fix
    # a wider network than the file's: the shapes are named
    with pytest.raises(RunError, match="different shapes") as err:
        run_stage(
            "distill_student",
            tmp_path,
            f"teacher_ckpt={path}",
            "teacher.hidden=64",
            name="wide",
        )
    torch.save({"not": "weights"}, tmp_path / "junk.pt")
    with pytest.raises(RunError, match="holds no state_dict"):
        run_stage("distill_student", tmp_path, f"teacher_ckpt={tmp_path / 'junk.pt'}", name="j")


def test_teacher_checkpoint_picks_a_runs_last_and_eval_checkpoint_does_not(tmp_path, teacher_run):
    run_dir, _ = run_stage(
        "distill_student",
        tmp_path,
        f"teacher_ckpt={teacher_run}",
        "teacher_checkpoint=last",
        "eval_checkpoint=best",
    )
    record = json.loads((run_dir / "run.json").read_text())
    assert record["teacher_ckpt"].endswith("checkpoints/last.ckpt")
    best, _ = run_stage("distill_student", tmp_path, f"teacher_ckpt={teacher_run}", name="b")
    assert json.loads((best / "run.json").read_text())["teacher_ckpt"].endswith("best.ckpt")


def test_teacher_ckpt_none_refuses_a_network_without_pretrained_weights(tmp_path):
    with pytest.raises(RunError, match="teacher would be untrained"):
        run_stage("distill_student", tmp_path, "teacher_ckpt=none")


def test_the_old_teacher_ckpt_key_says_where_it_moved(tmp_path):
    from distillctl.configuration.overrides import compose_checked

    with pytest.raises(ConfigError, match="'teacher.ckpt' is now 'teacher_ckpt'") as err:
        compose_checked("distill student", [f"teacher.ckpt={tmp_path}"])
    assert err.value.fix == f"pass teacher_ckpt={tmp_path}"
