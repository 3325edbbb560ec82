"""Start-up costs, each a fresh process, medians over repetitions (2-core CPU by default):

- `import torch`, and `import torch, pytorch_lightning`: the floor any Lightning tool pays;
- `distillctl --help`, `distillctl list`, `distillctl train teacher --cfg job`: commands that
  start no run (target: under 1 s each);
- `distillctl train teacher`: process start to the first training step (written by the
  DISTILLCTL_FIRST_STEP_FILE probe), and what distillctl adds to the import floor (target: at
  most 2 s).

    python benchmarks/startup.py --repeats 5 --out benchmarks/results/startup_cpu.md
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _report import emit  # benchmarks/ is the script's folder, first on sys.path

CLI = [sys.executable, "-m", "distillctl"]


def wall(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    start = time.time()
    subprocess.run(argv, env=env, cwd=cwd, check=True, capture_output=True)
    return time.time() - start


def first_step(env: dict[str, str], cwd: Path) -> float:
    probe = cwd / "first_step.txt"
    probe.unlink(missing_ok=True)
    run_env = {**env, "DISTILLCTL_FIRST_STEP_FILE": str(probe)}
    argv = [*CLI, "train", "teacher", "trainer.max_epochs=1", "trainer.limit_train_batches=1",
            "trainer.limit_val_batches=0", "trainer.enable_progress_bar=false"]  # fmt: skip
    start = time.time()
    subprocess.run(argv, env=run_env, cwd=cwd, check=True, capture_output=True)
    return float(probe.read_text()) - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--machine", default="2 CPU cores")
    args = parser.parse_args()
    cwd = Path(tempfile.mkdtemp(prefix="distillctl-startup-"))
    env = {**os.environ, "DISTILLCTL_OUTPUTS": str(cwd / "outputs"),
           "DISTILLCTL_DATA": str(cwd / "data")}  # fmt: skip
    first_step(env, cwd)  # warm the data cache and the file system once
    measures = {
        "`import torch`": lambda: wall([sys.executable, "-c", "import torch"], env, cwd),
        "`import torch, pytorch_lightning`": lambda: wall(
            [sys.executable, "-c", "import torch, pytorch_lightning"], env, cwd
        ),
        "`distillctl --help`": lambda: wall([*CLI, "--help"], env, cwd),
        "`distillctl list`": lambda: wall([*CLI, "list"], env, cwd),
        "`distillctl train teacher --cfg job`": lambda: wall(
            [*CLI, "train", "teacher", "--cfg", "job"], env, cwd
        ),
        "`distillctl train teacher`: start to first step": lambda: first_step(env, cwd),
    }
    medians = {
        name: statistics.median(f() for _ in range(args.repeats)) for name, f in measures.items()
    }
    floor = medians["`import torch, pytorch_lightning`"]
    start_up = medians["`distillctl train teacher`: start to first step"]
    lines = [
        f"# Start-up ({args.machine})",
        "",
        f"`python benchmarks/startup.py --repeats {args.repeats}`: each a fresh process "
        f"(`{Path(sys.executable).name} -m distillctl`), median of {args.repeats}.",
        "",
        "| what | seconds |",
        "|---|---|",
        *[f"| {name} | {value:.2f} |" for name, value in medians.items()],
        "",
        f"Process start to the first training step of `train teacher` on digits takes "
        f"{start_up:.2f} s against {floor:.2f} s for importing torch and Lightning alone: "
        + (
            f"distillctl adds {start_up - floor:.2f} s"
            if start_up > floor
            else "nothing measurable (below the floor: the two imports vary by a few tenths)"
        )
        + " for composing and checking the config, reading the data, building the model and "
        "Lightning's set-up.",
    ]
    emit(lines, args.out)


if __name__ == "__main__":
    main()
