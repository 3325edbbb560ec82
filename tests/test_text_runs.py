"""Text end to end: the whole pipeline with its report (read in headless Chromium), the
teacher-output cache giving bit-identical students, a 2-process CPU run, an unlabelled text
transfer set and `data info`."""

import json

import pytest
import torch

from distillctl.runfolder.record import load
from tests.conftest import TINY, cli, forked_cli, run_stage

pytestmark = pytest.mark.slow

SMALL = [
    "experiment=text_planted",
    "data.num_samples=400",
    "data.distractors=60",
    "data.vocab_size=300",
    "teacher.d_model=32",
    "teacher.ffn=64",
]


def test_the_text_pipeline_writes_a_report_of_coloured_tokens_with_plausibility(tmp_path):
    from distillctl.report.browser import check

    run_dir, result = run_stage("run", tmp_path, *SMALL, "explain.num_figures=2")
    metrics = json.loads((run_dir / "attributions/metrics.json").read_text())
    assert metrics["explainer"]["name"] == "captum_lig"
    for model in ("teacher", "distilled student", "scratch student"):
        quality = metrics["quality"][model]
        assert 0 <= quality["plausibility_auprc"]["mean"] <= 1
        assert "comprehensiveness_aopc" in quality and "sufficiency_aopc_random" in quality
    teacher_run = load(run_dir / "teacher")
    assert teacher_run["data_report"]["truncated"] == 0
    assert teacher_run["data_report"]["tokenizer"]["sha256"]
    card = json.loads((run_dir / "teacher/model_card.json").read_text())
    assert card["input_shape"] == [32] and card["measured_at_shape"][0] < 32  # median length
    page = (run_dir / "report.html").read_text()
    assert page.count('class="tok') > 20 and "plausibility: token AUPRC" in page
    assert 'class="tok gold"' in page  # the planted cues underlined
    seen = check(run_dir / "report.html")
    assert seen["errors"] == [] and seen["tokens"] > 20
    assert all(done and w > 0 and h > 0 for _, done, w, h in seen["images"])


def test_the_teacher_output_cache_gives_bit_identical_students_on_text(tmp_path):
    """With per-token teacher states (fitnet) and logits cached: the teacher reads every text
    at the full length, so cached and recomputed outputs are the same bits."""
    teacher, _ = run_stage("train_teacher", tmp_path, *SMALL)
    weights = {}
    for setting in ("true", "false"):
        run_dir, _ = run_stage(
            "distill_student", tmp_path, *SMALL, "loss=[ce,kd,fitnet]",
            f"teacher_ckpt={teacher}", f"teacher_cache={setting}", "trainer.max_epochs=2",
            "trainer.limit_train_batches=null", name=f"cache_{setting}",
        )  # fmt: skip
        assert ("teacher_cache" in load(run_dir)) == (setting == "true")  # where it was kept
        last = torch.load(run_dir / "checkpoints/last.ckpt", weights_only=True)
        weights[setting] = last["state_dict"]
    assert weights["true"].keys() == weights["false"].keys()
    for key, value in weights["true"].items():
        assert torch.equal(value, weights["false"][key]), key


def test_two_process_distillation_on_text_matches_one_process(tmp_path):
    teacher, _ = run_stage("train_teacher", tmp_path / "one", *SMALL)
    common = [*SMALL, "trainer.max_epochs=2", "trainer.limit_train_batches=4"]
    one, _ = run_stage(
        "distill_student", tmp_path / "one", *common, "data.batch_size=64",
        f"teacher_ckpt={teacher}",
    )  # fmt: skip
    ddp = ["trainer.accelerator=cpu", "trainer.devices=2", "trainer.strategy=ddp"]
    out = cli(  # the same data folder: the teacher's tokenizer is kept there (DDP: a process)
        "distill", "student", *TINY, *common, "data.batch_size=32", *ddp,
        f"teacher_ckpt={teacher}", f"paths.data_dir={tmp_path / 'one/data'}", cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    (run_json,) = (tmp_path / "outputs/distill_student").rglob("run.json")
    two = run_json.parent
    assert json.loads((two / "metrics.json").read_text())["processes"] == 2
    a = json.loads((one / "metrics.json").read_text())
    b = json.loads((two / "metrics.json").read_text())
    assert b["test"]["test/acc"] == pytest.approx(a["test"]["test/acc"], abs=0.02)


def test_an_unlabelled_text_file_is_a_transfer_set(tmp_path):
    teacher, _ = run_stage("train_teacher", tmp_path, *SMALL)
    extra = tmp_path / "more.txt"
    extra.write_text("\n".join(["kalo mine suta", "ripo veda luni"] * 20) + "\n")
    run_dir, _ = run_stage(
        "distill_student", tmp_path, *SMALL, f"teacher_ckpt={teacher}",
        "distill.transfer=unlabeled", f"distill.unlabeled_path={extra}",
    )  # fmt: skip
    assert load(run_dir)["transfer"]["transfer_samples"] == 40


def test_data_info_shows_sizes_lengths_vocabulary_and_truncation(tmp_path):
    out = forked_cli("data", "info", "data=planted_text", "data.max_length=12", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "(text)" in text and "truncated" in text and "vocab_size" in text
    assert "tokens_per_text" in text and "class_0" in text


def test_augment_transfer_on_text_masks_and_drops_tokens_by_default(tmp_path):
    """distill.transfer=augment takes the text kind's own views (Tang et al. 2019's masking
    and token dropout), with the teacher labelling exactly the augmented ids."""
    teacher, _ = run_stage("train_teacher", tmp_path, *SMALL)
    run_dir, _ = run_stage(
        "distill_student", tmp_path, *SMALL, f"teacher_ckpt={teacher}", "distill.transfer=augment"
    )
    info = load(run_dir)
    assert info["transfer"]["views"] == {"token_mask": 0.1, "token_dropout": 0.1}
    assert "teacher_cache" not in info  # augmented inputs change every epoch: no cache
