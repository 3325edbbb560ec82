"""Text classification, over seeds: a TF-IDF + logistic-regression reference beside the
transformer teacher, the scratch and the distilled students, with paired intervals and the
attribution agreement (and, on planted_text, plausibility against the planted cues).

Per seed, through the real stage code in-process: `train teacher`, then per student `train
student` (scratch) and `distill student` (ce + kd) from that teacher, then one explain pass
(captum_lig, the same test inputs for every model). The reference is fitted on the same
training split, its inputs the texts as the networks see them (the token ids decoded: lower-
cased, cut at max_length), word 1-2 grams, sublinear tf, C chosen on the validation split
from 0.1 / 1 / 10 (as the networks' checkpoints are chosen on it); it draws nothing at
random, so it is one figure for every seed.

    python benchmarks/text.py --data planted --out benchmarks/results/text_planted.md
    python benchmarks/text.py --data wordnet data.subset=20000 \
        --out benchmarks/results/text_wordnet.md

Every accuracy is on the test split, once, on the checkpoint chosen on validation.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from _report import (  # benchmarks/ is the script's folder, on sys.path
    compose_config,
    emit_with_rows,
)

from distillctl.report.seeds import paired, summarize
from distillctl.stages import BY_NAME
from distillctl.stages.common import execute

# the students of each data set, as overrides on the experiment's student
TRANSFORMER_OPTIONS = ("layers", "d_model", "heads", "ffn")
DATA = {
    "planted": (["experiment=text_planted"], {"bow": []}),
    "wordnet": (
        ["experiment=wordnet_glosses"],
        {
            "transformer-1": [],
            "bilstm": [
                "student=bilstm",
                *[f"~student.{k}" for k in TRANSFORMER_OPTIONS],
                "student.embed_dim=128",
                "student.hidden=128",
                "student.fc=128",
            ],
        },
    ),
}


def stage(name: str, overrides: list[str], run_dir: Path, seed: int) -> dict:
    cfg = compose_config(
        name,
        [
            *overrides,
            f"seed={seed}",
            f"paths.output_root={run_dir.parent}",
            "trainer.enable_progress_bar=false",
        ],
    )
    return execute(BY_NAME[name], cfg, run_dir), cfg


def reference(cfg) -> dict:
    """TF-IDF (word 1-2 grams) + logistic regression on the decoded training texts."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from distillctl.data import build_splits
    from distillctl.data.tokens import of_splits

    splits = build_splits(cfg.data, cfg.paths.data_dir)
    tok = of_splits(splits)
    texts = {
        s: [tok.decode(row) for row in getattr(splits, f"x_{s}")] for s in ("train", "val", "test")
    }  # noqa: E501
    vectoriser = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, token_pattern=r"\S+")
    x = {"train": vectoriser.fit_transform(texts["train"])}
    x.update({s: vectoriser.transform(texts[s]) for s in ("val", "test")})
    best = None
    for c in (0.1, 1.0, 10.0):
        model = LogisticRegression(C=c, max_iter=2000).fit(x["train"], splits.y_train)
        val = float((model.predict(x["val"]) == splits.y_val).mean())
        if best is None or val > best[0]:
            best = (val, c, model)
    val, c, model = best
    test = float((model.predict(x["test"]) == splits.y_test).mean())
    return {"test_acc": test, "val_acc": val, "C": c, "features": int(x["train"].shape[1])}


def explain(runs: dict[str, dict], cfg, out: Path) -> dict:
    """Spearman of each student's captum_lig maps with the teacher's on the same inputs, the
    measure's chance and ceiling, and each model's plausibility where the data has a
    rationale."""
    from distillctl.configuration.validate import validate
    from distillctl.data import build_splits
    from distillctl.data.tokens import active, of_splits
    from distillctl.explain.pipeline import Explained, explain_models
    from distillctl.runfolder.checkpoints import load_model

    models = [
        Explained(name, load_model(r["checkpoint_path"], "teacher" if i == 0 else "student")[0])
        for i, (name, r) in enumerate(runs.items())
    ]
    splits = build_splits(cfg.data, cfg.paths.data_dir)
    with active(of_splits(splits)):
        found = explain_models(models, splits, cfg, validate(cfg).explain, out)["metrics"]
    figures = {name: {} for name in runs}
    for name, summary in found["agreement"].items():
        figures[name]["spearman"] = summary["spearman"]["mean"]
    for name, quality in found["quality"].items():
        if "plausibility_auprc" in quality:
            figures[name]["plausibility_auprc"] = quality["plausibility_auprc"]["mean"]
        figures[name]["comprehensiveness_aopc"] = quality["comprehensiveness_aopc"]["mean"]
    level = found["levels"]["spearman"]
    figures["teacher"].update(chance=level["chance_max"], ceiling=level["ceiling"])
    return figures


def one_seed(data: str, seed: int, root: Path, extra: list[str]) -> dict:
    base, students = DATA[data]
    base = [*base, *extra]
    folder = root / f"{data}-seed{seed}"
    runs, rows, cfg = {}, {}, None
    start = time.perf_counter()
    runs["teacher"], cfg = stage("train_teacher", base, folder / "teacher", seed)
    rows["teacher"] = {"acc": runs["teacher"]["test_acc"], "seconds": time.perf_counter() - start}
    for student, options in students.items():
        for kind, name, more in (
            ("scratch", "train_student", []),
            (
                "distilled",
                "distill_student",
                ["loss=[ce,kd]", f"teacher_ckpt={folder / 'teacher'}"],
            ),  # noqa: E501
        ):
            start = time.perf_counter()
            key = f"{kind} {student}"
            runs[key], cfg = stage(
                name, [*base, *options, *more], folder / key.replace(" ", "_"), seed
            )  # noqa: E501
            rows[key] = {"acc": runs[key]["test_acc"], "seconds": time.perf_counter() - start}
    for name, figures in explain(runs, cfg, folder / "explain").items():
        rows[name].update(figures)
    rows["reference"] = reference(cfg)
    return rows


def pct(value) -> str:
    return "-" if value is None else f"{100 * value:.2f}"


def interval(diff: dict) -> str:
    if diff["ci_low"] is None:
        return f"{100 * diff['mean']:+.2f} (one seed)"
    return f"{100 * diff['mean']:+.2f} [{100 * diff['ci_low']:+.2f}, {100 * diff['ci_high']:+.2f}]"


def mean_sd(values: list[float], scale: float = 100, digits: int = 2) -> str:
    """mean ± sd over seeds (in %, by default)."""
    stats = summarize(values)
    sd = f" ± {scale * stats['std']:.{digits}f}" if stats["std"] is not None else ""
    return f"{scale * stats['mean']:.{digits}f}{sd}"


def render(data: str, seeds: list[int], per_seed: list[dict], command: str, machine: str):
    students = list(DATA[data][1])
    ref = per_seed[0]["reference"]
    teacher = [r["teacher"]["acc"] for r in per_seed]

    def by_seed(name: str, key: str = "acc") -> dict[int, float]:
        return {s: r[name][key] for s, r in zip(seeds, per_seed) if r[name].get(key) is not None}

    lines = [
        f"# Text classification: {data} ({machine})",
        "",
        f"`{command}`: seeds {', '.join(map(str, seeds))}; test accuracy in % (mean ± sd over "
        "seeds); paired differences with their 95 % t-interval over seeds.",
        "",
        "| model | test acc % | seconds per run |",
        "|---|---|---|",
        f"| TF-IDF 1-2 grams + logistic regression (C={ref['C']}, {ref['features']:,} features)"
        f" | {pct(ref['test_acc'])} | - |",
        f"| teacher (transformer) | {mean_sd(teacher)} | "
        f"{statistics.mean(r['teacher']['seconds'] for r in per_seed):.0f} |",
    ]
    for student in students:
        for kind in ("scratch", "distilled"):
            key = f"{kind} {student}"
            seconds = statistics.mean(r[key]["seconds"] for r in per_seed)
            lines.append(
                f"| {key} | {mean_sd([r[key]['acc'] for r in per_seed])} | {seconds:.0f} |"
            )
    teacher_vs_ref = paired(by_seed("teacher"), {s: ref["test_acc"] for s in seeds})
    lines += [
        "",
        "| comparison | difference, points | verdict |",
        "|---|---|---|",
        f"| teacher - TF-IDF reference | {interval(teacher_vs_ref)} | "
        f"{teacher_vs_ref['verdict']} |",
    ]
    for student in students:
        diff = paired(by_seed(f"distilled {student}"), by_seed(f"scratch {student}"))
        lines.append(f"| distilled - scratch {student} | {interval(diff)} | {diff['verdict']} |")
    chance = statistics.mean(r["teacher"]["chance"] for r in per_seed)
    lines += [
        "",
        "Attribution agreement with the teacher (captum_lig, Spearman per input over the real "
        f"tokens, mean over inputs; chance level {chance:.3f}, ceiling 1 by construction):",
        "",
        "| student | scratch | distilled | distilled - scratch |",
        "|---|---|---|---|",
    ]
    for student in students:
        a, b = (
            by_seed(f"distilled {student}", "spearman"),
            by_seed(f"scratch {student}", "spearman"),
        )
        diff = paired(a, b)
        lines.append(
            f"| {student} | {statistics.mean(b.values()):.3f} | {statistics.mean(a.values()):.3f}"
            f" | {diff['mean']:+.3f} [{_num(diff['ci_low'])}, {_num(diff['ci_high'])}]: "
            f"{diff['verdict']} |"
        )
    if "plausibility_auprc" in per_seed[0]["teacher"]:
        lines += [
            "",
            "Plausibility against the planted cues (token AUPRC, mean over inputs, then over "
            "seeds ± sd):",
            "",
            "| model | token AUPRC |",
            "|---|---|",
        ]
        for name in per_seed[0]:
            if "plausibility_auprc" in per_seed[0][name]:
                values = [r[name]["plausibility_auprc"] for r in per_seed]
                stats = summarize(values)
                sd = f" ± {stats['std']:.3f}" if stats["std"] is not None else ""
                lines.append(f"| {name} | {stats['mean']:.3f}{sd} |")
        for student in students:
            diff = paired(
                by_seed(f"distilled {student}", "plausibility_auprc"),
                by_seed(f"scratch {student}", "plausibility_auprc"),
            )
            lines.append(
                f"\nDistilled - scratch {student}, token AUPRC: {diff['mean']:+.3f} "
                f"[{_num(diff['ci_low'])}, {_num(diff['ci_high'])}]: {diff['verdict']}."
            )
    return lines


def _num(value) -> str:
    return "-" if value is None else f"{value:+.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=sorted(DATA), default="planted")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--machine", default="2 CPU cores")
    args, extra = parser.parse_known_args()
    root = Path(tempfile.mkdtemp(prefix="text-bench-"))
    print(f"run folders under {root}")
    per_seed = [one_seed(args.data, seed, root, extra) for seed in args.seeds]
    command = " ".join(
        ["python benchmarks/text.py", f"--data {args.data}", *extra]
        + ([f"--seeds {' '.join(map(str, args.seeds))}"] if args.seeds != [0, 1, 2] else [])
    )
    lines = render(args.data, args.seeds, per_seed, command, args.machine)
    emit_with_rows(lines, args.out, args.seeds, per_seed)


if __name__ == "__main__":
    main()
