"""Every distillation method against the scratch student, over seeds, on real data.

Per data set and seed: one teacher and one scratch student (`train teacher`, `train
student`), then `distill student` once per method with the same teacher, then one explain
pass (shap_gradient, the same test inputs for every model) for attribution agreement with
the teacher. All through the real stage code, in-process. Each data set's results go to
benchmarks/results/methods_<data>.json; the Markdown table is rendered from every JSON there.

    python benchmarks/methods.py --data digits                 # 3 seeds, every method
    python benchmarks/methods.py --data mnist1d --seeds 0
    python benchmarks/methods.py --data digits --methods kd at # a subset, merged into the JSON
    python benchmarks/methods.py --render                      # only rewrite methods.md

Every accuracy is on the test split, once, on the checkpoint chosen on validation.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _report import compose_config  # benchmarks/ is the script's folder, first on sys.path

from distillctl.report.seeds import paired
from distillctl.stages import BY_NAME
from distillctl.stages.common import execute

RESULTS = Path(__file__).parent / "results"
EXPLAINER = "shap_gradient"  # the attribution column's explainer, whatever the default is

# the data sets: the overrides every stage of it gets
DATA = {
    "digits": [],  # the default config: cnn teacher (32-64) -> cnn student (8-16), 60 epochs
    "mnist1d": [
        "experiment=mnist1d",  # cnn1d teacher (64-64-64), shift+noise augmentation
        "student=cnn1d",
        "~student.hidden",  # the experiment's MLP width, not an option of cnn1d
        "student.channels=[16,16,16]",
        "trainer.max_epochs=60",
    ],
}

# each method's recipe: the canonical companions of the method (ce for hard labels; kd where
# its paper adds it), and nothing tuned per data set
METHODS = {
    # the control: hard labels only, through the same distill path (its gap to `scratch` is
    # what initialisation and data order alone move the accuracy by)
    "ce": ["loss=ce"],
    "ce+ls": ["loss=ce", "loss.ce.label_smoothing=0.1"],
    "kd": ["loss=[ce,kd]"],
    "dkd": ["loss=[ce,dkd]"],
    "dist": ["loss=[ce,dist]"],
    "lskd": ["loss=[ce,lskd]"],
    "fitnet": ["loss=[ce,fitnet]"],
    "at": ["loss=[ce,at]"],
    "sp": ["loss=[ce,sp]"],
    "pkt": ["loss=[ce,pkt]"],
    "rkd": ["loss=[ce,rkd]"],
    "vid": ["loss=[ce,vid]"],
    "nst": ["loss=[ce,nst]"],
    "cc": ["loss=[ce,cc]"],
    "crd": ["loss=[ce,crd]"],
    "e2kd": ["loss=[ce,kd,e2kd]"],
    "saliency_match": ["loss=[ce,saliency_match]"],
}


def composed(name: str, overrides: list[str], run_dir: Path, seed: int):
    return compose_config(
        name,
        [
            *overrides,
            f"seed={seed}",
            f"explainer={EXPLAINER}",
            f"paths.output_root={run_dir.parent}",
            "trainer.enable_progress_bar=false",
        ],
    )


def stage(name: str, overrides: list[str], run_dir: Path, seed: int) -> tuple[dict, object]:
    cfg = composed(name, overrides, run_dir, seed)
    return execute(BY_NAME[name], cfg, run_dir), cfg


def attribution_agreement(runs: dict[str, dict], cfg, out: Path) -> dict[str, dict]:
    """Spearman of each student's shap_gradient maps with the teacher's, on the same inputs,
    and the measure's chance (highest of the three levels) and ceiling for this teacher."""
    from distillctl.configuration.validate import validate
    from distillctl.data import build_splits
    from distillctl.explain.pipeline import Explained, explain_models
    from distillctl.runfolder.checkpoints import load_model

    models = [
        Explained(name, load_model(r["checkpoint_path"], "teacher" if i == 0 else "student")[0])
        for i, (name, r) in enumerate(runs.items())
    ]
    splits = build_splits(cfg.data, cfg.paths.data_dir)
    metrics = explain_models(models, splits, cfg, validate(cfg).explain, out)
    level = metrics["metrics"]["levels"]["spearman"]
    figures = {
        "teacher": {"spearman_chance": level["chance_max"], "spearman_ceiling": level["ceiling"]}
    }
    for name, summary in metrics["metrics"]["agreement"].items():
        figures[name] = {"spearman": summary["spearman"]["mean"]}
    return figures


def explain_again(data: str, report: dict, root: Path) -> None:
    """Recompute the attribution figures of a finished benchmark from its run folders under
    `root` (the temporary folder a run printed), for when only the explain code changed."""
    from distillctl.runfolder.record import load

    for seed, rows in zip(report["seeds"], report["rows"]):
        folder = root / f"{data}-seed{seed}"
        runs = {name: load(folder / name)["results"] for name in rows}
        cfg = composed("distill_student", DATA[data], folder / "explain", seed)
        for name, figures in attribution_agreement(runs, cfg, folder / "explain").items():
            rows[name].update(figures)


def one_seed(data: str, methods: list[str], seed: int, root: Path) -> dict:
    base = DATA[data]
    folder = root / f"{data}-seed{seed}"
    runs, rows = {}, {}
    teacher, _ = stage("train_teacher", base, folder / "teacher", seed)
    runs["teacher"] = teacher
    runs["scratch"], _ = stage("train_student", base, folder / "scratch", seed)
    rows["teacher"] = {"acc": teacher["test_acc"], "seconds": None}
    rows["scratch"] = {"acc": runs["scratch"]["test_acc"], "seconds": None}
    cfg = None
    for method in methods:
        start = time.perf_counter()
        result, cfg = stage(
            "distill_student",
            [*base, *METHODS[method], f"teacher_ckpt={folder / 'teacher'}"],
            folder / method,
            seed,
        )
        runs[method] = result
        rows[method] = {
            "acc": result["test_acc"],
            "top1": result["teacher_agreement"],
            "seconds": time.perf_counter() - start,
        }
    for name, figures in attribution_agreement(runs, cfg, folder / "explain").items():
        rows[name].update(figures)
    return rows


def summary(values: list[float], scale: float = 100.0, digits: int = 2) -> str:
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{scale * statistics.mean(values):.{digits}f} +- {scale * spread:.{digits}f}"


def by_seed(per_seed: list[dict], seeds: list[int], name: str) -> dict[int, float]:
    return {seed: rows[name]["acc"] for seed, rows in zip(seeds, per_seed)}


def difference(per_seed: list[dict], seeds: list[int], name: str, base: str) -> dict:
    """`name` minus `base`, paired per seed (same seed: same data order and, through the
    matched baseline, the same initial student weights), with its 95 % t-interval."""
    return paired(by_seed(per_seed, seeds, name), by_seed(per_seed, seeds, base))


def interval(diff: dict) -> str:
    if diff["ci_low"] is None:
        return f"{100 * diff['mean']:+.2f} (n={diff['n']})"
    return f"{100 * diff['mean']:+.2f} [{100 * diff['ci_low']:+.2f}, {100 * diff['ci_high']:+.2f}]"


def outside_noise(names: list[str], per_seed: list[dict], seeds: list[int], base: str) -> str:
    """Which methods' paired difference to `base` has a 95 % interval that excludes zero."""
    above, below = [], []
    for name in names:
        diff = difference(per_seed, seeds, name, base)
        if diff["ci_low"] is not None and diff["ci_low"] > 0:
            above.append(f"{name} ({interval(diff)})")
        elif diff["ci_high"] is not None and diff["ci_high"] < 0:
            below.append(f"{name} ({interval(diff)})")
    return f"above: {', '.join(above) or 'none'}; below: {', '.join(below) or 'none'}"


def render(results: Path) -> str:
    lines = [
        "# Distillation methods against the scratch student",
        "",
        "Written by `benchmarks/methods.py` (see its docstring for the commands). Test accuracy",
        "in %, mean +- std over seeds, on the validation-chosen checkpoint. `vs scratch` and",
        "`vs ce`: the method's accuracy minus the scratch student's (`train student`) or the `ce`",
        "control's (hard labels only, through the same distill stage), paired per seed, in",
        "points: mean [95 % Student-t interval over the seeds' differences] and the per-seed",
        "differences. Same seed means the same data order and the same initial student weights",
        "(the matched baseline), so `ce` and `scratch` agree exactly and a difference is the",
        "method's. With 3 seeds the interval is wide (t = 4.30): a method is only called better",
        "or worse when its interval excludes zero. `top-1 agr.`: the student's top-1 agreement",
        "with the teacher on the test split. `attr. Spearman`: rank correlation of the student's",
        "shap_gradient attributions with the teacher's (per input, on signed values; 64 test",
        "inputs, true class). Recipes use each config's default weights (`configs/loss/*.yaml`):",
        "the papers' values, except saliency_match's 100, chosen on digits validation accuracy",
        "(seed 0).",
    ]
    for path in sorted(results.glob("methods_*.json")):
        report = json.loads(path.read_text())
        seeds = report["seeds"]
        per_seed = report["rows"]  # seed -> model -> figures
        names = ["teacher", "scratch", *(m for m in METHODS if m in per_seed[0])]
        methods = [n for n in names if n not in ("teacher", "scratch")]
        lines += [
            "",
            f"## {report['data']}: {report['setup']}",
            "",
            f"Seeds {seeds}; overrides `{' '.join(report['overrides']) or '(defaults)'}`; "
            f"{report['seconds'] / 60:.0f} min on {report['machine']}."
            + (
                f" Attribution figures re-measured from the saved checkpoints with "
                f"`--explain-again` ({report['explain_again_seconds'] / 60:.0f} min)."
                if "explain_again_seconds" in report
                else ""
            ),
            "",
            "| model | recipe | test acc. (%) | vs scratch [95% CI] | per seed | vs ce [95% CI] "
            "| top-1 agr. (%) | attr. Spearman | s/run |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for name in names:
            acc = [rows[name]["acc"] for rows in per_seed]
            rank = [rows[name].get("spearman") for rows in per_seed]
            recipe = METHODS.get(name, [{"teacher": "train teacher"}.get(name, "train student")])
            cells = [name, f"`{' '.join(recipe)}`", summary(acc)]
            if name in ("teacher", "scratch"):
                cells += ["-", "-", "-", "-"]
            else:
                diff = difference(per_seed, seeds, name, "scratch")
                cells += [
                    interval(diff),
                    ", ".join(f"{100 * d:+.2f}" for d in diff["per_seed"]),
                    interval(difference(per_seed, seeds, name, "ce"))
                    if name != "ce" and "ce" in names
                    else "-",
                    summary([rows[name]["top1"] for rows in per_seed]),
                ]
            cells.append(summary(rank, 1.0, 3) if None not in rank else "-")
            seconds = [rows[name]["seconds"] for rows in per_seed]
            cells.append(f"{statistics.mean(seconds):.0f}" if None not in seconds else "-")
            lines.append("| " + " | ".join(cells) + " |")
        teacher_rows = [rows["teacher"] for rows in per_seed]
        if all("spearman_ceiling" in row for row in teacher_rows):
            chance = [row["spearman_chance"] for row in teacher_rows]
            ceiling = [row["spearman_ceiling"] for row in teacher_rows]
            lines += [
                "",
                f"attr. Spearman between chance and ceiling (per seed's teacher, mean +- std): "
                f"chance {summary(chance, 1.0, 3)} (the highest of: its re-initialised copy, the "
                f"model-free map |x - mean background|, its maps of mismatched inputs), ceiling "
                f"{summary(ceiling, 1.0, 3)} (its maps against a second draw of the explainer).",
            ]
        lines += [
            "",
            "Outside the noise against the scratch student (95 % interval excludes zero): "
            + outside_noise(methods, per_seed, seeds, "scratch")
            + ".",
        ]
        if "ce" in names and by_seed(per_seed, seeds, "ce") == by_seed(per_seed, seeds, "scratch"):
            lines.append(
                "The `ce` control equals the scratch student at every seed (the matched "
                "baseline: same initial weights, same data order), so `vs ce` = `vs scratch`."
            )
        elif "ce" in names:
            lines.append(
                "Outside the noise against the `ce` control: "
                + outside_noise([n for n in methods if n != "ce"], per_seed, seeds, "ce")
                + "."
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=sorted(DATA))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--render", action="store_true", help="only rewrite methods.md")
    parser.add_argument(
        "--explain-again",
        type=Path,
        metavar="ROOT",
        help="recompute only the attribution figures of --data from the run folders in ROOT",
    )
    parser.add_argument("--machine", default="2 CPU cores (this project's CI-like machine)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder for JSON and .md")
    args, extra = parser.parse_known_args()  # extra: Hydra overrides for every stage
    DATA[args.data or "digits"] = [*DATA[args.data or "digits"], *extra]
    if args.explain_again:
        path = args.results / f"methods_{args.data}.json"
        report = json.loads(path.read_text())
        start = time.perf_counter()
        explain_again(args.data, report, args.explain_again)
        report["explain_again_seconds"] = time.perf_counter() - start
        path.write_text(json.dumps(report, indent=1))
    elif not args.render:
        if not args.data:
            parser.error("--data is required unless --render")
        root = Path(tempfile.mkdtemp(prefix="distillctl-methods-"))
        start = time.perf_counter()
        rows = [one_seed(args.data, args.methods, seed, root) for seed in args.seeds]
        report = {
            "data": args.data,
            "setup": {
                "digits": "cnn teacher -> 14x smaller cnn student",
                "mnist1d": "cnn1d teacher -> small cnn1d student",
            }[args.data],
            "overrides": DATA[args.data],
            "seeds": args.seeds,
            "machine": args.machine,
            "seconds": time.perf_counter() - start,
            "rows": rows,
        }
        args.results.mkdir(parents=True, exist_ok=True)
        path = args.results / f"methods_{args.data}.json"
        subset = set(args.methods) != set(METHODS)
        if path.exists() and subset:  # a subset adds its methods to the same seeds' results
            earlier = json.loads(path.read_text())
            if earlier["seeds"] == args.seeds and earlier["overrides"] == report["overrides"]:
                for old, new in zip(earlier["rows"], report["rows"]):
                    old.update(new)
                report = {**earlier, "seconds": earlier["seconds"] + report["seconds"]}
        path.write_text(json.dumps(report, indent=1))
    text = render(args.results)
    (args.results / "methods.md").write_text(text)
    print(text)


if __name__ == "__main__":
    sys.exit(main())
