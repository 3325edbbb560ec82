"""`make demo`'s run time and the seed-group table it ends with, on this machine.

`make demo` runs `distillctl run -m seed=0,1,2`: three pipelines (teacher, scratch student,
distilled student, explanations) on digits, then the table that groups them by seed. This script
runs exactly that command in a fresh folder and reports

- its wall time (target: at most 120 s on the idle 2-core CPU), and as a ratio against one
  `distillctl run` (seed 0) measured in the same session: the sweep should cost about three
  pipelines and nothing more;
- the seed table it printed (from the sweep's compare.csv), with the machine it came from (CPU
  model, torch version, threads), since the last digits differ between machines.

    python benchmarks/demo.py --out benchmarks/results/demo_cpu.md
    OMP_NUM_THREADS=1 python benchmarks/demo.py --out benchmarks/results/demo_cpu_1thread.md
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _report import emit  # benchmarks/ is the script's folder, first on sys.path

DEMO = ["run", "-m", "seed=0,1,2"]  # the Makefile's demo target


def timed(args: list[str], cwd: Path) -> tuple[float, str]:
    env = {**os.environ, "DISTILLCTL_OUTPUTS": str(cwd / "outputs"),
           "DISTILLCTL_DATA": str(cwd / "data")}  # fmt: skip
    start = time.time()
    done = subprocess.run(
        [sys.executable, "-m", "distillctl", *args], cwd=cwd, env=env, capture_output=True,
        text=True, check=True,
    )  # fmt: skip
    return time.time() - start, done.stdout


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def machine() -> str:
    import torch

    threads = os.environ.get("OMP_NUM_THREADS")
    return (
        f"{cpu_model()}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"{threads or torch.get_num_threads()} thread(s)"
        + (" (OMP_NUM_THREADS)" if threads else " (torch's default)")
    )


def pct(row: dict[str, str], key: str) -> str:
    return f"{100 * float(row[key]):.2f}" if row.get(key) else "-"


def seed_table(folder: Path) -> list[str]:
    (path,) = folder.rglob("compare.csv")
    rows = list(csv.DictReader(path.open()))
    lines = [
        "| model | n | test acc. % (mean +- std) | 95% CI | distilled - scratch, points [95% CI] "
        "(per seed) | verdict | attr. Spearman vs teacher | distilled - scratch [95% CI] "
        "(per seed) | verdict |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in sorted(rows, key=lambda r: ("teacher", "ce+kd", "scratch").index(r["method"])):
        acc_diff = spear_diff = "-"
        if row.get("vs_scratch_mean"):
            acc_diff = (
                f"{100 * float(row['vs_scratch_mean']):+.2f} "
                f"[{100 * float(row['vs_scratch_ci_low']):+.2f}, "
                f"{100 * float(row['vs_scratch_ci_high']):+.2f}] ({row['vs_scratch_per_seed']})"
            )
        if row.get("spearman_vs_scratch_mean"):
            spear_diff = (
                f"{float(row['spearman_vs_scratch_mean']):+.3f} "
                f"[{float(row['spearman_vs_scratch_ci_low']):+.3f}, "
                f"{float(row['spearman_vs_scratch_ci_high']):+.3f}] "
                f"({row['spearman_vs_scratch_per_seed']})"
            )
        spearman = "-"
        if row.get("spearman"):
            spearman = f"{float(row['spearman']):.3f} +- {float(row['spearman_std'] or 0):.3f}"
        name = {"ce+kd": "distilled student", "scratch": "scratch student"}.get(row["method"])
        lines.append(
            f"| {name or row['method']} | {row['n']} | {pct(row, 'test_acc_mean')} +- "
            f"{pct(row, 'test_acc_std')} | [{pct(row, 'test_acc_ci_low')}, "
            f"{pct(row, 'test_acc_ci_high')}] | {acc_diff} | {row.get('verdict') or '-'} | "
            f"{spearman} | {spear_diff} | {row.get('spearman_vs_scratch_verdict') or '-'} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--budget", type=float, default=120.0, help="seconds")
    args = parser.parse_args()
    cwd = Path(tempfile.mkdtemp(prefix="distillctl-demo-"))
    for name in ("one", "demo"):
        (cwd / name).mkdir()
    one, _ = timed(["run"], cwd / "one")
    demo, _ = timed(DEMO, cwd / "demo")
    threads = os.environ.get("OMP_NUM_THREADS")
    command = (f"OMP_NUM_THREADS={threads} " if threads else "") + "python benchmarks/demo.py"
    lines = [
        "# `make demo` (`distillctl run -m seed=0,1,2`)",
        "",
        f"`{command}` on {machine()}.",
        "",
        "| what | seconds | ratio |",
        "|---|---|---|",
        f"| one `distillctl run` (seed 0), the reference | {one:.1f} | 1.00x |",
        f"| `make demo`: `distillctl run -m seed=0,1,2` | {demo:.1f} | {demo / one:.2f}x "
        f"(budget {args.budget:.0f} s: {demo / args.budget:.2f}x of it) |",
        "",
        "The seed-group table the demo ends with (test accuracy on digits' 360 test images; "
        "attribution agreement: Spearman per input on signed captum_gradientshap maps, 64 test "
        "inputs; differences paired by seed with their 95 % t-interval):",
        "",
        *seed_table(cwd / "demo" / "outputs"),
    ]
    emit(lines, args.out)


if __name__ == "__main__":
    main()
