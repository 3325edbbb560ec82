"""A student initialised from its teacher (DistilBERT) against random initialisation, with and
without the transformer KD terms (TinyBERT's hidden_mse, MiniLM's attention_kl), over seeds.

Per seed, through the real stage code in-process: a `layers`-deep transformer teacher, then four
students of its widths and half its depth: random initial weights trained on hard labels
(`scratch`), random initial weights distilled, initialised from the teacher's blocks
`init` trained on hard labels (what the initialisation alone gives), and initialised and
distilled. The same seed's students share their random weights (the role's seed stream) and
their teacher blocks. TF-IDF + logistic regression (benchmarks/text.py) is the reference.

    python benchmarks/text_init.py data.subset=10000 --out benchmarks/results/text_init_wordnet.md
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from _report import emit_with_rows
from text import explain, interval, mean_sd, pct, reference, stage

from distillctl.report.seeds import paired

# the teacher and the students' widths; the students have half the teacher's blocks
WIDTHS = ["d_model=64", "heads=4", "ffn=128"]
TEACHER = ["experiment=wordnet_glosses", "teacher.layers=6", *[f"teacher.{w}" for w in WIDTHS]]
STUDENT = ["student.layers=3", *[f"student.{w}" for w in WIDTHS]]
KD = "loss=[ce,kd,hidden_mse,attention_kl]"
INIT = "student.init_from_teacher=[0,2,4]"
# (row, stage, overrides beside the student's)
STUDENTS = (
    ("random init, ce", "train_student", []),
    ("random init, distilled", "distill_student", [KD]),
    ("teacher init, ce", "train_student", [INIT]),
    ("teacher init, distilled", "distill_student", [INIT, KD]),
)
COMPARISONS = (
    ("what the initialisation gave", "teacher init, ce", "random init, ce"),
    ("what distillation gave, random init", "random init, distilled", "random init, ce"),
    ("what distillation gave, teacher init", "teacher init, distilled", "teacher init, ce"),
    ("both, against scratch", "teacher init, distilled", "random init, ce"),
)


def one_seed(seed: int, root: Path, extra: list[str]) -> dict:
    folder = root / f"seed{seed}"
    base = [*TEACHER, *extra]
    runs, rows = {}, {}
    start = time.perf_counter()
    runs["teacher"], cfg = stage("train_teacher", base, folder / "teacher", seed)
    rows["teacher"] = {"acc": runs["teacher"]["test_acc"], "seconds": time.perf_counter() - start}
    teacher = f"teacher_ckpt={folder / 'teacher'}"
    for name, stage_name, more in STUDENTS:
        start = time.perf_counter()
        overrides = [*base, *STUDENT, *more, teacher]
        run_dir = folder / name.replace(" ", "_").replace(",", "")
        runs[name], cfg = stage(stage_name, overrides, run_dir, seed)
        rows[name] = {"acc": runs[name]["test_acc"], "seconds": time.perf_counter() - start}
    for name, figures in explain(runs, cfg, folder / "explain").items():
        rows[name].update(figures)
    rows["reference"] = reference(cfg)
    return rows


def render(seeds: list[int], per_seed: list[dict], command: str, machine: str) -> list[str]:
    ref = per_seed[0]["reference"]

    def by_seed(name: str, key: str = "acc") -> dict[int, float]:
        return {s: r[name][key] for s, r in zip(seeds, per_seed)}

    lines = [
        f"# A student initialised from its teacher: wordnet_glosses ({machine})",
        "",
        f"`{command}`: seeds {', '.join(map(str, seeds))}; a 6-block transformer teacher "
        f"({', '.join(WIDTHS)}) and 3-block students of its widths; distilled = "
        f"`{KD}`; teacher init = `{INIT}`. Test accuracy in % (mean ± sd over seeds), "
        "attribution Spearman with the teacher (captum_lig over the real tokens, mean over "
        "inputs); paired differences with their 95 % t-interval over seeds.",
        "",
        "| model | test acc % | Spearman with the teacher | seconds per run |",
        "|---|---|---|---|",
        f"| TF-IDF 1-2 grams + logistic regression (C={ref['C']}) | {pct(ref['test_acc'])} | - "
        "| - |",
    ]
    for name in ("teacher", *(s[0] for s in STUDENTS)):
        accs = [r[name]["acc"] for r in per_seed]
        rho = "-" if name == "teacher" else mean_sd(list(by_seed(name, "spearman").values()), 1, 3)
        seconds = statistics.mean(r[name]["seconds"] for r in per_seed)
        lines.append(f"| {name} | {mean_sd(accs)} | {rho} | {seconds:.0f} |")
    lines += [
        "",
        "| comparison | accuracy, points | Spearman | verdict (accuracy) |",
        "|---|---|---|---|",
    ]
    for what, a, b in COMPARISONS:
        acc = paired(by_seed(a), by_seed(b))
        rho = paired(by_seed(a, "spearman"), by_seed(b, "spearman"))
        rho_text = f"{rho['mean']:+.3f} [{rho['ci_low']:+.3f}, {rho['ci_high']:+.3f}]"
        lines.append(f"| {what}: {a} - {b} | {interval(acc)} | {rho_text} | {acc['verdict']} |")
    chance = statistics.mean(r["teacher"]["chance"] for r in per_seed)
    lines += ["", f"Spearman's chance level (maps with no knowledge of the teacher): {chance:.3f}."]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--machine", default="2 CPU cores")
    args, extra = parser.parse_known_args()
    root = Path(tempfile.mkdtemp(prefix="text-init-bench-"))
    print(f"run folders under {root}")
    per_seed = [one_seed(seed, root, extra) for seed in args.seeds]
    command = " ".join(["python benchmarks/text_init.py", *extra])
    lines = render(args.seeds, per_seed, command, args.machine)
    emit_with_rows(lines, args.out, args.seeds, per_seed)


if __name__ == "__main__":
    main()
