"""Speed options work on the CPU too: bf16 mixed precision, channels_last, torch.compile."""

import math

import torch

from distillctl.runfolder.checkpoints import load_model
from distillctl.runfolder.record import load
from tests.conftest import run_stage


def test_bf16_mixed_precision_trains_on_the_cpu(tmp_path):
    run_dir, result = run_stage("train_teacher", tmp_path, "trainer.precision=bf16-mixed")
    assert load(run_dir)["status"] == "done" and math.isfinite(result["test_acc"])
    model, _ = load_model(result["checkpoint_path"], "teacher")
    assert all(p.dtype == torch.float32 for p in model.parameters())  # weights stay fp32


def test_compiled_channels_last_networks_keep_plain_checkpoints(tmp_path, teacher_run):
    fast = [
        "engine.compile=true",
        "engine.compile_backend=eager",  # the compile path without a C++ toolchain's wait
        "engine.channels_last=true",
    ]
    run_dir, result = run_stage("distill_student", tmp_path, f"teacher_ckpt={teacher_run}", *fast)
    assert load(run_dir)["status"] == "done"
    student, _ = load_model(result["checkpoint_path"], "student")  # keys without _orig_mod.
    assert student(torch.zeros(2, 1, 8, 8)).shape == (2, 10)
