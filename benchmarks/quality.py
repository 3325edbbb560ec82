"""Quality over seeds: teacher, scratch student and distilled student test accuracy.

Runs the real `distillctl run` pipeline once per seed (in-process, through the same stage code
as the CLI), then prints mean +- std and writes a Markdown table to benchmarks/results/.

    python benchmarks/quality.py                         # digits (the default config), 3 seeds
    python benchmarks/quality.py experiment=mnist1d      # MNIST-1D, 3 seeds
    python benchmarks/quality.py --seeds 0 1 2 3 4 experiment=mnist1d loss.kd.temperature=8

Every number comes from the test split, once, on the checkpoint chosen on validation.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _report import emit  # benchmarks/ is the script's folder, first on sys.path
from hydra import compose, initialize_config_dir

from distillctl.configuration.groups import config_dir
from distillctl.configuration.overrides import register_resolvers
from distillctl.report.seeds import paired
from distillctl.stages import BY_NAME
from distillctl.stages.common import execute

ROWS = (("teacher", "teacher"), ("scratch student", "scratch"), ("distilled student", "distilled"))


def one_seed(overrides: list[str], seed: int, root: Path) -> dict:
    register_resolvers()
    with initialize_config_dir(str(config_dir()), version_base="1.3"):
        cfg = compose(
            "run",
            overrides=[
                *overrides,
                f"seed={seed}",
                f"paths.output_root={root}",
                "trainer.enable_progress_bar=false",
            ],
        )
    return execute(BY_NAME["run"], cfg, root / f"seed{seed}")


def mean_std(values: list[float]) -> str:
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * statistics.mean(values):.2f} +- {100 * spread:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=None, help="Markdown file for the table")
    parser.add_argument("--machine", default="2 CPU cores", help="where it ran, for the table")
    args, overrides = parser.parse_known_args()
    root = Path(tempfile.mkdtemp(prefix="distillctl-quality-"))
    start = time.perf_counter()
    results = [one_seed(overrides, seed, root) for seed in args.seeds]
    elapsed = time.perf_counter() - start
    accs = {key: [r["stages"][key]["test_acc"] for r in results] for _, key in ROWS}
    agree = {
        name: [r["agreement"][name]["spearman"] for r in results]
        for name in ("distilled student", "scratch student")
    }
    top1 = [r["stages"]["distilled"]["teacher_agreement"] for r in results]
    command = "python benchmarks/quality.py " + " ".join(
        [f"--seeds {' '.join(map(str, args.seeds))}", *overrides]
    )
    lines = [
        f"# Quality: {' '.join(overrides) or 'default config (digits)'}",
        "",
        f"Command: `{command}`  ",
        f"Seeds: {args.seeds}; test accuracy in %, mean +- std over seeds; "
        f"{elapsed:.0f} s on {args.machine}. Attribution Spearman: per input, on signed "
        f"values, with the run's explainer ({results[0]['explainer']}), averaged over seeds.",
        "",
        "| model | test accuracy (%) | per seed | attribution Spearman vs teacher |",
        "|---|---|---|---|",
    ]
    for name, key in ROWS:
        per_seed = ", ".join(f"{100 * a:.2f}" for a in accs[key])
        rank = f"{statistics.mean(agree[name]):.3f}" if name in agree else "-"
        lines.append(f"| {name} | {mean_std(accs[key])} | {per_seed} | {rank} |")
    diff = paired(dict(zip(args.seeds, accs["distilled"])), dict(zip(args.seeds, accs["scratch"])))
    interval = (
        f"95% t-interval [{100 * diff['ci_low']:+.2f}, {100 * diff['ci_high']:+.2f}]"
        if diff["ci_low"] is not None
        else "no interval"
    )
    lines += [
        "",
        f"Distilled minus scratch, paired per seed (same initial weights and data order): "
        f"{100 * diff['mean']:+.2f} points, {interval}, "
        f"per seed {', '.join(f'{100 * g:+.2f}' for g in diff['per_seed'])}: "
        f"{diff['verdict']}.  ",
        f"Distilled student's top-1 agreement with the teacher: {mean_std(top1)} %.",
    ]
    emit(lines, args.out)


if __name__ == "__main__":
    sys.exit(main())
