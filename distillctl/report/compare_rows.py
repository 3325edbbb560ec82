"""The rows `distillctl compare` reads: one per finished distilled (or scratch) student, joined
with the newest explain run of it; a run whose files cannot be read is a skipped row that says
why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from distillctl.errors import ConfigError
from distillctl.io import read_json
from distillctl.report.seeds import ENDED, configuration
from distillctl.runfolder import record as runs

RUN_COLUMNS = (
    ("run", "run"),
    ("seed", "seed"),
    ("method", "method"),
    ("data", "data"),
    ("student", "student"),
    ("test_acc", "test acc."),
    ("parameters", "params"),
    ("teacher_top1", "top-1 agr."),
    ("explained", "explained with"),
    ("spearman", "attr. Spearman"),
    ("spearman_norm", "attr. Spearman (chance 0, ceiling 1)"),
    ("topk", "attr. top-k"),
    ("deletion_auc", "deletion AUC"),
    ("insertion_auc", "insertion AUC"),
    ("faithfulness_corr", "faithf. corr."),
    ("randomisation_spearman", "rand. Spearman"),
)
COLUMNS = RUN_COLUMNS  # the per-run CSV's columns, in order
EXPLAINED = ("spearman", "topk")
NORMALISED = ("spearman",)  # figures also read between chance (0) and ceiling (1)
QUALITY = ("deletion_auc", "insertion_auc", "faithfulness_corr", "randomisation_spearman")


SKIPPED = "skipped"  # a run whose files cannot be read: listed under the table with why


class Unreadable(Exception):
    """A run's file that exists but cannot be read: its run is skipped and named."""


def _read(path: Path) -> dict[str, Any]:
    """A run's JSON file, {} when absent."""
    if not path.exists():
        return {}
    try:
        found = read_json(path)
    except (OSError, ValueError) as exc:
        raise Unreadable(f"{path} cannot be read ({type(exc).__name__}: {exc})") from None
    if not isinstance(found, dict):
        raise Unreadable(f"{path} holds a {type(found).__name__}, not an object")
    return found


def _config(path: Path):
    """A run's .hydra/config.yaml, empty when absent."""
    import yaml

    if not path.exists():
        return OmegaConf.create({})
    try:
        return OmegaConf.load(path)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise Unreadable(
            f".hydra/{path.name} cannot be read ({type(exc).__name__}: {first})"
        ) from None


def _explanation(metrics: dict[str, Any], name: str) -> dict[str, Any]:
    """Agreement and quality means of model `name` in an attributions/metrics.json."""
    row: dict[str, Any] = {}
    agreement = metrics.get("agreement", {}).get(name, {})
    quality = metrics.get("quality", {}).get(name, {})
    row.update({k: agreement[k]["mean"] for k in EXPLAINED if k in agreement})
    row.update({k: quality[k]["mean"] for k in QUALITY if k in quality})
    normalised = metrics.get("normalised", {}).get(name, {})
    row.update({f"{k}_norm": normalised[k] for k in NORMALISED if k in normalised})
    if metrics:  # the same student explained two ways is two rows, never one mixed group
        row["explained"] = (
            f"{metrics['explainer']['name']}, {metrics['target']} class, "
            f"{metrics['num_inputs']} inputs"
        )
    return row


def student_row(run_dir: Path, method: str | None = None) -> dict[str, Any]:
    """What a distill (or train student) run folder says about its student."""
    info = _read(run_dir / runs.RUN_FILE)
    cfg = _config(run_dir / ".hydra" / "config.yaml")
    card = _read(run_dir / "model_card.json")
    if method is None:
        from distillctl.losses import recipe_name

        method = recipe_name(cfg.loss) if "loss" in cfg else "?"
        from distillctl.data.transfer import label

        method += label(info.get("transfer"))
    return {
        "run": str(run_dir),
        "seed": info.get("seed"),
        "configuration": configuration(cfg),
        "method": method,
        "data": (info.get("data") or {}).get("name"),
        "student": card.get("arch"),
        "test_acc": card.get("test_acc"),
        "parameters": card.get("parameters"),
        "teacher_top1": (info.get("results") or {}).get("teacher_agreement"),
    }


def explanations(distill_dir: Path, output_root: Path) -> list[dict[str, Any]]:
    """metrics.json of every finished `explain` run of `distill_dir`, newest first."""
    target = str(distill_dir.resolve())
    return [
        _read(explain_dir / "attributions" / "metrics.json")
        for explain_dir, info in runs.finished_runs(output_root, "explain")
        if info.get("parents", {}).get("distill") == target
    ]


def newest_explanation(distill_dir: Path, output_root: Path) -> dict[str, Any]:
    found = explanations(distill_dir, output_root)
    return found[0] if found else {}


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
        # the pipeline's own config (the sub-runs' differ by stage and teacher path only)
        cfg = _config(run_dir / ".hydra" / "config.yaml")
        teacher = student_row(run_dir / "teacher", method="teacher")  # the reference row
        for row in (distilled, scratch, teacher):
            row["configuration"] = configuration(cfg)
        stages = (info.get("results") or {}).get("stages", {})
        scratch["teacher_top1"] = stages.get("scratch", {}).get("teacher_agreement")
        teacher["teacher_top1"] = 1.0
        own = {**distilled, **_explanation(metrics, "distilled student")}
        # later `explain` runs of the pipeline's distilled student: a row per other way of
        # explaining it (the newest of each; one student never counts twice in a group)
        later: dict[str, dict[str, Any]] = {}
        for found in explanations(run_dir / "distilled", output_root):
            row = {**distilled, **_explanation(found, "student")}
            if row.get("explained") not in (own.get("explained"), *later):
                later[row["explained"]] = row
        return [
            own,
            {**scratch, **_explanation(metrics, "scratch student")},
            *([teacher] if teacher.get("test_acc") is not None else []),
            *later.values(),
        ]
    if stage in TRAINED:
        return [student_row(run_dir, method=TRAINED[stage])]
    raise ConfigError(
        f"{run_dir} is not a finished `distill student` or `run` folder (stage: {stage})",
        "pass distill or run folders, or no folder to compare every run under outputs/",
    )


def _nested(run_dir: Path) -> bool:
    """A sub-run inside a `run` pipeline folder (compared through its pipeline)."""
    parent = runs.load(run_dir.parent) or {}
    return parent.get("stage") == "run"


TRAINED = {"train_teacher": "teacher", "train_student": "scratch"}  # rows of a seed sweep


def collect(
    paths: list[str], output_root: Path, stages: tuple[str, ...] = ("distill_student", "run")
) -> list[dict[str, Any]]:
    """One row per student of every finished run; a run that failed or was interrupted gives a
    row with its `status` and `reason` (counted in its group, never in its figures)."""
    if paths:
        folders = []
        for p in paths:
            if not (Path(p) / runs.RUN_FILE).exists():
                raise ConfigError(f"{p} is not a run folder (no run.json)", "pass run folders")
            folders.append(Path(p))
    else:
        folders = [
            d
            for stage in stages
            for d, info in runs.runs_of(output_root, stage)
            if info.get("status") in ("done", *ENDED) and not _nested(d)
        ]
        folders += unreadable_runs(output_root)
    rows = [row for folder in folders for row in rows_of_any(folder, output_root)]
    if not [r for r in rows if r.get("status") != SKIPPED]:
        skipped = "; ".join(f"{r['run']} ({r['reason']})" for r in rows)
        raise ConfigError(
            f"no finished distill or run folders under {output_root}"
            + (f" that can be read (skipped: {skipped})" if rows else ""),
            "run `distillctl run` (or distill student + explain) first, or pass run folders",
        )
    return rows


def unreadable_runs(output_root: Path) -> list[Path]:
    """Run folders whose run.json exists but cannot be read (not inside a pipeline folder,
    whose reading names them itself)."""
    root = Path(output_root)
    if not root.is_dir():
        return []
    found = [p.parent for p in root.rglob(runs.RUN_FILE) if runs.load(p.parent) is None]
    return [d for d in found if not (d.parent / runs.RUN_FILE).exists()]


def rows_of_any(run_dir: Path, output_root: Path) -> list[dict[str, Any]]:
    """rows_of for a finished run; for one that failed or was interrupted, its config's row
    with the status and reason (counted in its group, never in its figures); for one whose
    files cannot be read, a `skipped` row naming the file and why (listed, never grouped)."""
    try:
        info = _read(run_dir / runs.RUN_FILE)
        if info.get("status") in ENDED:
            row = student_row(run_dir)
            return [{**row, "status": info["status"], "reason": info.get("reason")}]
        return rows_of(run_dir, output_root)
    except Unreadable as exc:
        return [{"run": str(run_dir), "status": SKIPPED, "reason": str(exc)}]
