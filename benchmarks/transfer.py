"""Distillation on more than the training set (`distill.transfer`), over seeds, each setting
against the scratch student trained with the same data and augmentation, from one teacher.

Per data set and seed: `train teacher`, `train student` (scratch), then `distill student` once
per setting from that teacher. In-process through the stage code the CLI runs; every accuracy
is the test split's, measured once on the checkpoint chosen on validation. Differences are
paired by seed, with 95 % t-intervals (distillctl.report.seeds.paired).

    python benchmarks/transfer.py --data digits breast_cancer --settings none augment mixup \\
        --out benchmarks/results/transfer.md
    python benchmarks/transfer.py --data mnist1d_transfer --settings none generated \\
        --out benchmarks/results/transfer_mnist1d.md
    python benchmarks/transfer.py --data digits_soft_tree digits_soft_tree_mixture \\
        --settings none --out benchmarks/results/soft_tree_digits.md \\
        --title "A soft decision tree student"
    python benchmarks/transfer.py --data mnist1d_soft_tree --settings none generated \\
        --out benchmarks/results/soft_tree_mnist1d.md --title "A soft decision tree student"
    python benchmarks/transfer.py --data mnist1d_soft_tree_mixture --settings none generated \\
        --out benchmarks/results/soft_tree_mnist1d_mixture.md --title "A soft decision tree student"
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from _report import compose_config, emit  # benchmarks/ is the script's folder, on sys.path

from distillctl.report.seeds import paired
from distillctl.stages import BY_NAME
from distillctl.stages.common import execute

DATA = {
    "digits": [],
    "breast_cancer": ["data=breast_cancer", "teacher=mlp", "student=mlp"],
    # MNIST-1D with the mnist1d experiment's augmentation for every stage; its distillation
    # draws 200,000 generated inputs (configs/experiment/mnist1d_transfer.yaml)
    "mnist1d_transfer": ["experiment=mnist1d_transfer"],
    # a soft decision tree student (Frosst & Hinton 2017) instead of the network student
    # (the distill stage trains on the paper's soft targets, loss=[kd_soft_tree]); `_mixture`:
    # every tree, scratch and distilled, on the mixture objective instead of the paper's
    "digits_soft_tree": ["experiment=soft_tree"],
    "mnist1d_soft_tree": ["experiment=mnist1d_soft_tree"],
    "digits_soft_tree_mixture": ["experiment=soft_tree", "student.objective=mixture"],
    "mnist1d_soft_tree_mixture": ["experiment=mnist1d_soft_tree", "student.objective=mixture"],
}
# overrides of the distill stage only; `none` trains as long as the scratch student
# (trainer.max_epochs), whatever epochs an experiment gives a transfer set
SETTINGS = {
    "none": ["distill.transfer=none", "distill.max_epochs=null"],
    "augment": ["distill.transfer=augment"],
    "mixup": ["distill.transfer=augment", "distill.mix=mixup"],
    "generated": ["distill.transfer=generated"],
}


def stage(name: str, root: Path, overrides: list[str], folder: str) -> tuple[dict, float]:
    cfg = compose_config(
        name,
        [f"paths.output_root={root}", f"paths.data_dir={root / 'data'}",
         "trainer.enable_progress_bar=false", *overrides],
    )  # fmt: skip
    start = time.perf_counter()
    result = execute(BY_NAME[name], cfg, root / folder)
    return result, time.perf_counter() - start


def one_seed(data: str, seed: int, settings: list[str], extra: list[str]) -> dict:
    common = [*DATA[data], f"seed={seed}", *extra]
    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        teacher, _ = stage("train_teacher", root, common, "teacher")
        scratch, _ = stage("train_student", root, common, "scratch")
        out["teacher"], out["scratch"] = teacher["test_acc"], scratch["test_acc"]
        for name in settings:
            overrides = [*common, f"teacher_ckpt={root / 'teacher'}", *SETTINGS[name]]
            result, seconds = stage("distill_student", root, overrides, f"distill-{name}")
            out[name] = result["test_acc"]
            out[f"{name}_seconds"] = seconds
    return out


def _pm(values: list[float]) -> str:
    mean = 100 * statistics.fmean(values)
    spread = 100 * statistics.stdev(values) if len(values) > 1 else float("nan")
    return f"{mean:.2f} +- {spread:.2f}"


def _diff(a: dict[int, float], b: dict[int, float]) -> str:
    p = paired(a, b)
    if p["ci_low"] is None:
        return f"{100 * p['mean']:+.2f} (n={p['n']})"
    per_seed = ", ".join(f"{100 * d:+.2f}" for d in p["per_seed"])
    return (
        f"{100 * p['mean']:+.2f} [{100 * p['ci_low']:+.2f}, {100 * p['ci_high']:+.2f}] ({per_seed})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", choices=sorted(DATA), default=["digits"])
    parser.add_argument("--settings", nargs="+", choices=sorted(SETTINGS), default=["none"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--machine", default="2 CPU cores")
    parser.add_argument("--title", default="Distilling on more than the training set")
    args, extra = parser.parse_known_args()
    lines = [
        f"# {args.title} ({args.machine})",
        "",
        f"`python benchmarks/transfer.py --data {' '.join(args.data)} --settings "
        f"{' '.join(args.settings)} --seeds {' '.join(map(str, args.seeds))}"
        + (f" {' '.join(extra)}" if extra else "")
        + "`: test accuracy (%) over seeds, mean +- std; differences paired by seed with their "
        "95 % t-interval and the per-seed values; wall time of one distillation (median, s).",
        "",
        "| data | teacher | scratch | setting | distilled | distilled - scratch | "
        f"setting - {args.settings[0]} | distill s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for data in args.data:
        runs = {seed: one_seed(data, seed, args.settings, extra) for seed in args.seeds}
        scratch = {s: r["scratch"] for s, r in runs.items()}
        first = {s: r[args.settings[0]] for s, r in runs.items()}
        for k, name in enumerate(args.settings):
            got = {s: r[name] for s, r in runs.items()}
            seconds = statistics.median(r[f"{name}_seconds"] for r in runs.values())
            lines.append(
                f"| {data if k == 0 else ''} | "
                + (_pm([r["teacher"] for r in runs.values()]) if k == 0 else "")
                + " | "
                + (_pm(list(scratch.values())) if k == 0 else "")
                + f" | {name} | {_pm(list(got.values()))} | {_diff(got, scratch)} | "
                + (_diff(got, first) if k else "-")
                + f" | {seconds:.0f} |"
            )
        emit(lines, args.out)  # written after each data set, so a long run keeps what it has
    emit(lines, args.out)


if __name__ == "__main__":
    main()
