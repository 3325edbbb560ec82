"""The seed groups of `compare` (and of every `-m` sweep) as the terminal shows them: one row per
group, accuracy and attribution agreement each with the paired difference distilled - scratch,
its 95 % t-interval and a verdict in a few words (compare.csv keeps every figure and sentence).
"""

from __future__ import annotations

from typing import Any


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}"


def _interval(low: float | None, high: float | None, scale: float, digits: int) -> str:
    return "" if low is None else f" [{scale * low:+.{digits}f}, {scale * high:+.{digits}f}]"


def _difference(g: dict[str, Any], prefix: str, scale: float, digits: int) -> str:
    """'+0.19 [-0.98, +0.61] (+0.00 +0.00 -0.56)': the paired mean, its interval, per seed."""
    if g.get(f"{prefix}_mean") is None:
        return "-"
    return (
        f"{scale * g[f'{prefix}_mean']:+.{digits}f}"
        + _interval(g.get(f"{prefix}_ci_low"), g.get(f"{prefix}_ci_high"), scale, digits)
        + f" ({g[f'{prefix}_per_seed']})"
    )


def _short(verdict: str | None) -> str:
    """The verdict in a few words for the terminal (compare.csv keeps the sentence)."""
    if not verdict:
        return "-"
    if verdict.startswith("distinguishable"):
        return "differs from 0"
    return "within noise" if verdict.startswith("not") else "one seed: no interval"


def print_table(summary: list[dict[str, Any]]) -> None:
    """The seed groups: accuracy and attribution agreement, each with the paired difference
    distilled - scratch over seeds, its 95 % t-interval and a verdict."""
    from rich.table import Table

    from distillctl.console import console

    table = Table(title="distilled students compared (runs that differ only by seed grouped)")
    for header in (
        "method",
        "data",
        "student",
        "n",
        "test acc. % mean +- std [95% CI]",
        "acc. distilled - scratch, points [95% CI] (per seed)",
        "verdict",
        "attr. Spearman vs T, mean +- std",
        "Spearman distilled - scratch [95% CI] (per seed)",
        "verdict ",
        "params",
        "top-1 agr. %",
        "failed",
    ):
        table.add_column(header, no_wrap=header.startswith("verdict"))
    for g in summary:
        std = "" if g["test_acc_std"] is None else f" +- {_pct(g['test_acc_std'])}"
        ci = _interval(g["test_acc_ci_low"], g["test_acc_ci_high"], 100, 2).replace("+", "")
        spearman = "-" if g.get("spearman") is None else f"{g['spearman']:.3f}"
        if g.get("spearman_std") is not None:
            spearman += f" +- {g['spearman_std']:.3f}"
        table.add_row(
            str(g["method"]),
            str(g["data"]),
            str(g["student"]),
            str(g["n"]),
            f"{_pct(g['test_acc_mean'])}{std}{ci}",
            _difference(g, "vs_scratch", 100, 2),
            _short(g.get("verdict")),
            spearman,
            _difference(g, "spearman_vs_scratch", 1, 3),
            _short(g.get("spearman_vs_scratch_verdict")),
            "-" if g.get("parameters") is None else f"{g['parameters']:,}",
            _pct(g.get("teacher_top1")),
            str(g["failed"]) if not g["failed"] else f"{g['failed']} (compare.csv says why)",
        )
    console.print(table)
    explained = sorted({g["explained"] for g in summary if g.get("explained")})
    if explained:
        console.print(f"attributions explained with: {'; '.join(explained)}")
    console.print(
        "verdicts: 95% t-intervals of the per-seed paired differences (same initial weights and "
        "data order per seed); compare.csv has every figure"
    )


def print_skipped(skipped: list[dict[str, Any]]) -> None:
    """The runs left out because their files cannot be read, each with the file and why."""
    if not skipped:
        return
    from distillctl.console import console

    console.print(f"skipped {len(skipped)} run(s) whose files cannot be read:", soft_wrap=True)
    for row in skipped:
        console.print(f"  {row['run']}: {row['reason']}", soft_wrap=True, markup=False)
