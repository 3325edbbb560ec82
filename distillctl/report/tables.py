"""The numbers a report shows, gathered from run folders: accuracy, size, speed, agreement."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from distillctl.io import read_json


def model_row(name: str, run_dir: Path | None) -> dict[str, Any]:
    """One model's row from its run folder's model_card.json and metrics.json."""
    row: dict[str, Any] = {"model": name, "run_dir": str(run_dir) if run_dir else None}
    if run_dir is None:
        return row
    for file in ("model_card.json", "metrics.json"):
        path = Path(run_dir) / file
        if path.exists():
            data = read_json(path)
            if file == "metrics.json":
                row["test_f1"] = data.get("test", {}).get("test/f1")
                row["checkpoint"] = data.get("checkpoint")
            else:
                row.update(
                    {
                        k: data.get(k)
                        for k in (
                            "arch",
                            "parameters",
                            "size_bytes",
                            "macs",
                            "cpu_latency_ms_per_sample",
                            "test_acc",
                        )
                    }
                )
    return row


def model_rows(
    models: list[tuple[str, Path | None]],
    agreement: dict | None = None,
    normalised: dict | None = None,
) -> list[dict]:
    """Rows for each model; compression is the first (the teacher's) parameters over each's;
    `normalised`: each model's agreement between chance (0) and ceiling (1)."""
    rows = [model_row(name, run_dir) for name, run_dir in models]
    reference = rows[0].get("parameters") if rows else None
    for row in rows:
        params = row.get("parameters")
        row["compression"] = reference / params if reference and params else None
        summary = (agreement or {}).get(row["model"])
        row["spearman"] = summary["spearman"]["mean"] if summary else None
        row["topk"] = summary["topk"]["mean"] if summary else None
        row["spearman_norm"] = ((normalised or {}).get(row["model"]) or {}).get("spearman")
    return rows


def fmt(value: Any, kind: str = "") -> str:
    if value is None:
        return "-"
    if kind == "acc":
        return f"{100 * value:.2f}%"
    if kind == "x":
        return f"{value:.1f}x"
    if kind == "int":
        return f"{int(value):,}"
    if kind == "kb":
        return f"{value / 1024:.1f} KiB"
    if kind == "ms":
        return f"{value:.3f} ms"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


# (header, key, format) of the columns both the terminal table and the HTML table show
COLUMNS = (
    ("model", "model", ""),
    ("arch", "arch", ""),
    ("test acc", "test_acc", "acc"),
    ("macro F1", "test_f1", "acc"),
    ("params", "parameters", "int"),
    ("compression", "compression", "x"),
    ("size", "size_bytes", "kb"),
    ("CPU latency", "cpu_latency_ms_per_sample", "ms"),
    ("attr. Spearman vs T", "spearman", ""),
    ("Spearman, chance=0 ceiling=1", "spearman_norm", ""),
    ("attr. top-k vs T", "topk", ""),
)


def print_summary(rows: list[dict], report: Path | None, title: str) -> None:
    from rich.table import Table

    from distillctl.console import console

    table = Table(title=title)
    for header, _, _ in COLUMNS:
        table.add_column(header, justify="left" if header in ("model", "arch") else "right")
    for row in rows:
        table.add_row(*(fmt(row.get(key), kind) for _, key, kind in COLUMNS))
    console.print(table)
    if report is not None:
        console.print(f"[bold]report:[/] {report}")
