"""`distillctl compare [RUN ...]`: distilled students side by side, across runs.

Each finished `distill student` run is one row (its recipe, accuracy, size, top-1 agreement
with the teacher), joined with the newest `explain` run of it (attribution agreement and
explanation quality); a `run` pipeline gives its distilled and scratch students. Without
arguments, every finished run under paths.output_root.

Runs whose configurations differ only by seed are one group (distillctl/report/seeds.py):
mean +- std, n and a 95 % t-interval; a distilled student against the scratch student of the
same pipelines gets the paired difference per seed with its interval and a verdict. Runs of a
group that failed or were interrupted are counted and named, and left out of the figures.
Writes compare.csv (one row per group), compare_runs.csv (one row per run) and
accuracy_vs_agreement.png (means with std error bars) to a new folder under
<output_root>/compare/, and prints the table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from distillctl.report.compare_files import NUMERIC, plot, write_csv, write_groups
from distillctl.report.compare_rows import SKIPPED, collect
from distillctl.report.seed_table import print_skipped, print_table
from distillctl.report.seeds import group_by_configuration


def compare_command(args: list[str]) -> dict[str, Path]:
    """`distillctl compare [RUN ...] [paths.output_root=...]`."""
    from distillctl.configuration.overrides import compose_checked
    from distillctl.runfolder.naming import reserve

    folders = [a for a in args if "=" not in a]
    cfg = compose_checked("compare", [a for a in args if "=" in a])
    root = Path(str(cfg.paths.output_root))
    rows = collect(folders, root)  # before making a folder: nothing to compare, nothing written
    return compare(rows, reserve(str(root), "compare", None, False))


def groups(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows grouped by configuration (seeds.group_by_configuration), with every figure;
    skipped (unreadable) runs are left out."""
    return group_by_configuration([r for r in rows if r.get("status") != SKIPPED], NUMERIC[1:])


def compare(rows: list[dict[str, Any]], out_dir: Path) -> dict[str, Path]:
    summary = groups(rows)
    print_table(summary)
    print_skipped([r for r in rows if r.get("status") == SKIPPED])
    written = {
        "csv": write_groups(summary, out_dir / "compare.csv"),
        "runs_csv": write_csv(rows, out_dir / "compare_runs.csv"),
        "png": plot(summary, out_dir / "accuracy_vs_agreement.png"),
    }
    from distillctl.console import say

    say(f"wrote {written['csv']} and {written['png']}")
    return written
