"""`distillctl compare [RUN ...]`: distilled students side by side, across runs.

Each finished `distill student` run is one row (its recipe, accuracy, size, top-1 agreement
with the teacher), joined with the newest `explain` run of it (attribution agreement and
explanation quality); a `run` pipeline gives its distilled and scratch students. Without
arguments, every finished run under paths.output_root. Writes compare.csv and
accuracy_vs_agreement.png to a new folder under <output_root>/compare/, and prints the table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from distillctl import runs
from distillctl.errors import ConfigError
from distillctl.io import atomic_write_csv, read_json

COLUMNS = (
    ("run", "run"),
    ("method", "method"),
    ("data", "data"),
    ("student", "student"),
    ("test_acc", "test acc."),
    ("parameters", "params"),
    ("teacher_top1", "top-1 agr."),
    ("spearman", "attr. Spearman"),
    ("topk", "attr. top-k"),
    ("deletion_auc", "deletion AUC"),
    ("insertion_auc", "insertion AUC"),
    ("faithfulness_corr", "faithf. corr."),
    ("randomisation_spearman", "rand. Spearman"),
)
EXPLAINED = ("spearman", "topk")
QUALITY = ("deletion_auc", "insertion_auc", "faithfulness_corr", "randomisation_spearman")


def _read(path: Path) -> dict[str, Any]:
    return read_json(path) if path.exists() else {}


def _explanation(metrics: dict[str, Any], name: str) -> dict[str, Any]:
    """Agreement and quality means of model `name` in an attributions/metrics.json."""
    row: dict[str, Any] = {}
    agreement = metrics.get("agreement", {}).get(name, {})
    quality = metrics.get("quality", {}).get(name, {})
    row.update({k: agreement[k]["mean"] for k in EXPLAINED if k in agreement})
    row.update({k: quality[k]["mean"] for k in QUALITY if k in quality})
    return row


def student_row(run_dir: Path, method: str | None = None) -> dict[str, Any]:
    """What a distill (or train student) run folder says about its student."""
    info = runs.load(run_dir) or {}
    cfg_path = run_dir / ".hydra" / "config.yaml"
    cfg = OmegaConf.load(cfg_path) if cfg_path.exists() else OmegaConf.create({})
    card = _read(run_dir / "model_card.json")
    if method is None:
        from distillctl.losses import recipe_name

        method = recipe_name(cfg.loss) if "loss" in cfg else "?"
    return {
        "run": str(run_dir),
        "method": method,
        "data": (info.get("data") or {}).get("name"),
        "student": card.get("arch"),
        "test_acc": card.get("test_acc"),
        "parameters": card.get("parameters"),
        "teacher_top1": (info.get("results") or {}).get("teacher_agreement"),
    }


def newest_explanation(distill_dir: Path, output_root: Path) -> dict[str, Any]:
    target = str(distill_dir.resolve())
    for explain_dir, info in runs.finished_runs(output_root, "explain"):
        if info.get("parents", {}).get("distill") == target:
            return _read(explain_dir / "attributions" / "metrics.json")
    return {}


def rows_of(run_dir: Path, output_root: Path) -> list[dict[str, Any]]:
    info = runs.load(run_dir) or {}
    stage = info.get("stage")
    if stage == "distill_student":
        row = student_row(run_dir)
        return [{**row, **_explanation(newest_explanation(run_dir, output_root), "student")}]
    if stage == "run":
        metrics = _read(run_dir / "attributions" / "metrics.json")
        distilled = student_row(run_dir / "distilled")
        scratch = student_row(run_dir / "scratch", method="scratch")
        return [
            {**distilled, **_explanation(metrics, "distilled student")},
            {**scratch, **_explanation(metrics, "scratch student")},
        ]
    raise ConfigError(
        f"{run_dir} is not a finished `distill student` or `run` folder (stage: {stage})",
        "pass distill or run folders, or no folder to compare every run under outputs/",
    )


def collect(paths: list[str], output_root: Path) -> list[dict[str, Any]]:
    if paths:
        folders = []
        for p in paths:
            if not (Path(p) / runs.RUN_FILE).exists():
                raise ConfigError(f"{p} is not a run folder (no run.json)", "pass run folders")
            folders.append(Path(p))
    else:
        folders = [
            d
            for stage in ("distill_student", "run")
            for d, _ in runs.finished_runs(output_root, stage)
            if not (stage == "distill_student" and _nested(d))
        ]
    rows = [row for folder in folders for row in rows_of(folder, output_root)]
    if not rows:
        raise ConfigError(
            f"no finished distill or run folders under {output_root}",
            "run `distillctl run` (or distill student + explain) first, or pass run folders",
        )
    return rows


def _nested(run_dir: Path) -> bool:
    """A distill run inside a `run` pipeline folder (compared through its pipeline)."""
    parent = runs.load(run_dir.parent) or {}
    return parent.get("stage") == "run"


def write_csv(rows: list[dict[str, Any]], path: Path) -> Path:
    return atomic_write_csv(path, rows, [k for k, _ in COLUMNS])


def plot(rows: list[dict[str, Any]], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from distillctl.report.figures import save

    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    shown = [r for r in rows if r.get("test_acc") is not None and r.get("spearman") is not None]
    for row in shown:
        ax.scatter(row["spearman"], 100 * row["test_acc"], s=30)
        ax.annotate(row["method"], (row["spearman"], 100 * row["test_acc"]), fontsize=7)
    ax.set_xlabel("attribution Spearman with the teacher (mean over inputs)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"accuracy against attribution agreement ({len(shown)} students)")
    if not shown:
        ax.text(0.5, 0.5, "no explained runs yet (distillctl explain)", ha="center")
    ax.grid(alpha=0.3)
    return save(fig, path)


def print_table(rows: list[dict[str, Any]]) -> None:
    from rich.table import Table

    from distillctl.console import console

    table = Table(title="distilled students compared")
    for _, header in COLUMNS[1:]:
        table.add_column(header)
    for row in rows:
        cells = []
        for key, _ in COLUMNS[1:]:
            value = row.get(key)
            if value is None:
                cells.append("-")
            elif key in ("test_acc", "teacher_top1"):
                cells.append(f"{100 * value:.2f}%")
            elif isinstance(value, float):
                cells.append(f"{value:.3f}")
            elif isinstance(value, int):
                cells.append(f"{value:,}")
            else:
                cells.append(str(value))
        table.add_row(*cells)
    console.print(table)


def compare_command(args: list[str]) -> dict[str, Path]:
    """`distillctl compare [RUN ...] [paths.output_root=...]`."""
    from distillctl.cli import compose_checked
    from distillctl.rundirs import reserve

    folders = [a for a in args if "=" not in a]
    cfg = compose_checked("compare", [a for a in args if "=" in a])
    root = Path(str(cfg.paths.output_root))
    rows = collect(folders, root)  # before making a folder: nothing to compare, nothing written
    return compare(rows, reserve(str(root), "compare", None, False))


def compare(rows: list[dict[str, Any]], out_dir: Path) -> dict[str, Path]:
    print_table(rows)
    written = {
        "csv": write_csv(rows, out_dir / "compare.csv"),
        "png": plot(rows, out_dir / "accuracy_vs_agreement.png"),
    }
    from distillctl.console import say

    say(f"wrote {written['csv']} and {written['png']}")
    return written
