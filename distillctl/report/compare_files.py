"""What `distillctl compare` writes: compare.csv (one row per configuration over its seeds),
compare_runs.csv (one row per run) and the accuracy-against-agreement plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from distillctl.io import atomic_write_csv
from distillctl.report.compare_rows import EXPLAINED, NORMALISED, QUALITY, RUN_COLUMNS

NUMERIC = ("test_acc", "teacher_top1", *EXPLAINED, *(f"{k}_norm" for k in NORMALISED), *QUALITY)


GROUP_COLUMNS = (
    "method",
    "data",
    "student",
    "n",
    "seeds",
    "test_acc_mean",
    "test_acc_std",
    "test_acc_ci_low",
    "test_acc_ci_high",
    "vs_scratch_mean",
    "vs_scratch_ci_low",
    "vs_scratch_ci_high",
    "vs_scratch_per_seed",
    "verdict",
    "parameters",
    "teacher_top1",
    "explained",
    "spearman",
    "spearman_std",
    "spearman_vs_scratch_mean",
    "spearman_vs_scratch_ci_low",
    "spearman_vs_scratch_ci_high",
    "spearman_vs_scratch_per_seed",
    "spearman_vs_scratch_verdict",
    "spearman_norm",
    "topk",
    *QUALITY,
    "failed",
    "failed_runs",
)


def write_csv(rows: list[dict[str, Any]], path: Path) -> Path:
    """compare_runs.csv: one row per run."""
    return atomic_write_csv(path, rows, [k for k, _ in RUN_COLUMNS] + ["status", "reason"])


def write_groups(summary: list[dict[str, Any]], path: Path) -> Path:
    """compare.csv: one row per configuration, over its seeds."""
    return atomic_write_csv(path, summary, list(GROUP_COLUMNS))


def plot(summary: list[dict[str, Any]], path: Path) -> Path:
    """Mean test accuracy against mean attribution agreement, one point per configuration,
    std error bars; the axes span at least 5 accuracy points and 0.2 Spearman so that a
    difference inside the noise does not fill the picture."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from distillctl.report.figures import save

    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    shown = [
        g for g in summary if g.get("test_acc_mean") is not None and g.get("spearman") is not None
    ]
    for g in shown:
        x, y = g["spearman"], 100 * g["test_acc_mean"]
        ax.errorbar(
            x,
            y,
            xerr=g.get("spearman_std") or 0,
            yerr=100 * (g.get("test_acc_std") or 0),
            fmt="o",
            capsize=3,
            markersize=5,
        )
        ax.annotate(
            f"{g['method']} (n={g['n']})",
            (x, y),
            fontsize=7,
            xytext=(4, 4),
            textcoords="offset points",
        )
    if shown:
        xs = [g["spearman"] for g in shown]
        ys = [100 * g["test_acc_mean"] for g in shown]
        _span(ax.set_xlim, min(xs), max(xs), 0.2)
        _span(ax.set_ylim, min(ys), max(ys), 5.0)
    ax.set_xlabel("attribution Spearman with the teacher (mean over seeds, +- std)")
    ax.set_ylabel("test accuracy (%, mean over seeds, +- std)")
    ax.set_title(f"accuracy against attribution agreement ({len(shown)} configurations)")
    if not shown:
        ax.text(0.5, 0.5, "no explained runs yet (distillctl explain)", ha="center")
    ax.grid(alpha=0.3)
    return save(fig, path)


def _span(set_lim, low: float, high: float, least: float) -> None:
    middle, half = (low + high) / 2, max((high - low) * 0.6, least / 2)
    set_lim(middle - half, middle + half)
