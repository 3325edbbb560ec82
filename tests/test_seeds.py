"""Seeds read as groups: the statistics on known values, and `compare` on fake run folders
(a run pipeline per seed, one failed seed, a lone seed)."""

from __future__ import annotations

import csv
import json
import math
import statistics
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from distillctl.report.compare import compare, groups
from distillctl.report.compare_rows import collect
from distillctl.report.seeds import paired, summarize


def test_summary_is_mean_sample_std_and_a_student_t_interval():
    got = summarize([0.90, 0.92, 0.94])
    assert got["mean"] == pytest.approx(0.92) and got["std"] == pytest.approx(0.02)
    half = 4.302652729911275 * 0.02 / math.sqrt(3)  # t(0.975, 2)
    assert got["ci_low"] == pytest.approx(0.92 - half) and got["ci_high"] == pytest.approx(
        0.92 + half
    )
    one = summarize([0.5])
    assert one["n"] == 1 and one["std"] is None and one["ci_low"] is None


def test_paired_difference_and_its_verdict():
    clear = paired({0: 0.95, 1: 0.96, 2: 0.97}, {0: 0.90, 1: 0.905, 2: 0.92})
    assert clear["per_seed"] == pytest.approx([0.05, 0.055, 0.05])
    assert clear["ci_low"] > 0 and clear["verdict"].startswith("distinguishable from zero")
    noisy = paired({0: 0.95, 1: 0.90, 2: 0.93}, {0: 0.93, 1: 0.92, 2: 0.925})
    assert noisy["verdict"] == "not distinguishable from zero at n=3"
    lone = paired({0: 0.95, 7: 0.9}, {0: 0.93})  # only seed 0 is in both
    assert lone["seeds"] == [0] and lone["verdict"].startswith("no interval at n=1")


def fake_run(root: Path, seed: int, distilled: float, scratch: float, status="done") -> Path:
    """A `run` pipeline folder as the stages write it, with known accuracies."""
    folder = root / f"run{seed}"
    cfg = {
        "seed": seed,
        "stage": "run",
        "loss": {"ce": {"weight": 1}, "kd": {"weight": 9}},
        "data": {"name": "digits"},
        "paths": {"output_root": str(root)},
    }
    for sub, acc in (("distilled", distilled), ("scratch", scratch)):
        (folder / sub / ".hydra").mkdir(parents=True)
        sub_cfg = {**cfg, "stage": "distill_student" if sub == "distilled" else "train_student"}
        (folder / sub / ".hydra/config.yaml").write_text(OmegaConf.to_yaml(sub_cfg))
        (folder / sub / "model_card.json").write_text(
            json.dumps({"arch": "cnn", "test_acc": acc, "parameters": 3682})
        )
        (folder / sub / "run.json").write_text(
            json.dumps({"stage": sub, "status": "done", "seed": seed, "data": {"name": "digits"}})
        )
    (folder / ".hydra").mkdir()
    (folder / ".hydra/config.yaml").write_text(OmegaConf.to_yaml(cfg))
    reason = "stopped by SIGTERM" if status != "done" else None
    (folder / "run.json").write_text(
        json.dumps(
            {
                "stage": "run",
                "status": status,
                "seed": seed,
                "reason": reason,
                "finished_at": f"2026-01-0{seed + 1}",
                "data": {"name": "digits"},
            }
        )
    )
    return folder


def test_compare_groups_seeds_pairs_with_scratch_and_names_a_failed_seed(tmp_path):
    fake_run(tmp_path, 0, 0.95, 0.90)
    fake_run(tmp_path, 1, 0.96, 0.905)
    fake_run(tmp_path, 2, 0.97, 0.92)
    failed = fake_run(tmp_path, 3, 0.10, 0.10, status="interrupted")
    summary = {g["method"]: g for g in groups(collect([], tmp_path))}
    kd, scratch = summary["ce+kd"], summary["scratch"]
    assert kd["n"] == 3 and kd["seeds"] == [0, 1, 2]  # the failed seed is not in the figures
    assert kd["test_acc_mean"] == pytest.approx(0.96) and kd["test_acc_std"] == pytest.approx(0.01)
    assert kd["vs_scratch_mean"] == pytest.approx(0.155 / 3)
    assert kd["verdict"].startswith("distinguishable from zero")
    assert kd["failed"] == 1 and str(failed) in kd["failed_runs"] and "seed 3" in kd["failed_runs"]
    assert scratch["n"] == 3 and "verdict" not in scratch

    written = compare(collect([], tmp_path), tmp_path / "out")
    rows = {r["method"]: r for r in csv.DictReader(written["csv"].open())}
    for column in ("test_acc_mean", "test_acc_std", "n", "test_acc_ci_low", "vs_scratch_ci_high"):
        assert rows["ce+kd"][column] != ""
    assert written["png"].stat().st_size > 1000


def test_a_lone_seed_says_there_is_no_interval(tmp_path):
    fake_run(tmp_path, 0, 0.95, 0.90)
    (kd,) = [g for g in groups(collect([], tmp_path)) if g["method"] == "ce+kd"]
    assert kd["n"] == 1 and kd["test_acc_ci_low"] is None
    assert kd["verdict"].startswith("no interval at n=1")


@pytest.mark.slow
def test_a_seed_sweep_of_run_ends_with_the_grouped_table(tmp_path):
    from tests.conftest import TINY, forked_cli

    out = forked_cli("run", "-m", "seed=0,1", *TINY, "explain.quality.sanity=false", cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "runs that differ only by seed grouped" in out.stdout
    (table,) = (tmp_path / "outputs/run/multirun").rglob("compare.csv")
    rows = {r["method"]: r for r in csv.DictReader(table.open())}
    assert rows["ce+kd"]["n"] == "2" and rows["ce+kd"]["seeds"] == "[0, 1]"
    assert (
        rows["ce+kd"]["verdict"].endswith("at n=2") or "distinguishable" in rows["ce+kd"]["verdict"]
    )
    assert rows["scratch"]["n"] == "2"


def test_compare_says_how_each_student_was_explained_and_keeps_explainers_apart(tmp_path):
    def explained(folder: Path, explainer: str, spearman: float) -> None:
        stats = {"spearman": {"mean": spearman}, "topk": {"mean": 0.5}}
        metrics = {
            "explainer": {"name": explainer},
            "target": "label",
            "num_inputs": 64,
            "agreement": {"distilled student": stats, "scratch student": stats},
            "normalised": {"distilled student": {"spearman": 0.4}},
        }
        (folder / "attributions").mkdir()
        (folder / "attributions/metrics.json").write_text(json.dumps(metrics))

    explained(fake_run(tmp_path / "a", 0, 0.95, 0.90), "captum_ig", 0.54)
    explained(fake_run(tmp_path / "b", 0, 0.95, 0.90), "captum_saliency", 0.27)
    rows = collect([str(tmp_path / "a/run0"), str(tmp_path / "b/run0")], tmp_path)
    summary = [g for g in groups(rows) if g["method"] != "scratch"]
    assert sorted(g["explained"] for g in summary) == [
        "captum_ig, label class, 64 inputs",
        "captum_saliency, label class, 64 inputs",
    ]
    assert sorted(g["spearman"] for g in summary) == [0.27, 0.54]
    assert all(g["spearman_norm"] == 0.4 for g in summary)
    assert all(g["vs_scratch_mean"] == pytest.approx(0.05) for g in summary)


def test_attribution_agreement_is_paired_with_the_scratch_student_per_seed(tmp_path, capsys):
    """The seed table pairs distilled and scratch Spearman per seed too: mean, interval, verdict."""
    figures = {0: (0.70, 0.60), 1: (0.72, 0.65), 2: (0.71, 0.66)}  # (distilled, scratch)
    for seed, (ours, theirs) in figures.items():
        folder = fake_run(tmp_path, seed, 0.95, 0.90)
        metrics = {
            "explainer": {"name": "captum_ig"},
            "target": "label",
            "num_inputs": 64,
            "agreement": {
                "distilled student": {"spearman": {"mean": ours}, "topk": {"mean": 0.5}},
                "scratch student": {"spearman": {"mean": theirs}, "topk": {"mean": 0.5}},
            },
        }
        (folder / "attributions").mkdir()
        (folder / "attributions/metrics.json").write_text(json.dumps(metrics))
    (kd,) = [g for g in groups(collect([], tmp_path)) if g["method"] == "ce+kd"]
    diffs = [0.10, 0.07, 0.05]
    assert kd["spearman_vs_scratch_mean"] == pytest.approx(sum(diffs) / 3)
    half = 4.302652729911275 * statistics.stdev(diffs) / math.sqrt(3)  # t(0.975, 2)
    assert kd["spearman_vs_scratch_ci_low"] == pytest.approx(sum(diffs) / 3 - half)
    assert kd["spearman_vs_scratch_per_seed"] == "+0.100 +0.070 +0.050"
    assert kd["spearman_vs_scratch_verdict"].startswith("distinguishable from zero")
    compare(collect([], tmp_path), tmp_path / "out")
    printed = capsys.readouterr().out
    assert "+0.073" in printed and printed.count("differs from 0") == 2  # accuracy, Spearman


def test_compare_names_every_run_it_skips_and_why(tmp_path):
    """A damaged run.json, model_card.json, .hydra/config.yaml or attributions/metrics.json:
    that run is listed under the table with the file and why, the others are compared."""
    from tests.conftest import forked_cli

    for seed in range(6):
        fake_run(tmp_path, seed, 0.95, 0.90)
    (tmp_path / "run1/run.json").write_text('{"stage": "run", "sta')
    (tmp_path / "run2/distilled/model_card.json").write_text("{not json")
    (tmp_path / "run3/.hydra/config.yaml").write_text("loss: [unclosed\n  - : :\n")
    (tmp_path / "run4/attributions").mkdir()
    (tmp_path / "run4/attributions/metrics.json").write_text("")
    rows = collect([], tmp_path)
    skipped = {Path(r["run"]).name: r["reason"] for r in rows if r.get("status") == "skipped"}
    assert sorted(skipped) == ["run1", "run2", "run3", "run4"]
    assert "run1/run.json cannot be read (JSONDecodeError" in skipped["run1"]
    assert "distilled/model_card.json cannot be read" in skipped["run2"]
    assert "config.yaml cannot be read" in skipped["run3"]
    assert "attributions/metrics.json cannot be read" in skipped["run4"]
    (kd,) = [g for g in groups(rows) if g["method"] == "ce+kd"]
    assert kd["n"] == 2 and kd["seeds"] == [0, 5]
    out = forked_cli("compare", f"paths.output_root={tmp_path}", cwd=tmp_path)
    assert out.returncode == 0 and "Traceback" not in out.stderr + out.stdout
    assert "skipped 4 run(s) whose files cannot be read" in out.stdout
