"""The end of a multi-objective search (`objective=[val_acc,val_agreement]`, Optuna's NSGA-II
sampler: configs/hparams_search/optuna_pareto.yaml): its Pareto front over the finished trials,
as a table (printed, and pareto.csv with every trial), a plot (pareto.png) and each front
point's full config (pareto/<job>.yaml), in the sweep folder.

A trial is on the front when no other trial is at least as good on every objective and better
on one (every objective maximised). The front is computed here from each trial's run.json, the
same figures the trials returned to the sweeper; Optuna's own list is in
optimization_results.yaml.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path
from typing import Any


def front(points: list[tuple[float, ...]]) -> list[bool]:
    """Whether each point is non-dominated (all objectives maximised)."""

    def dominates(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
        return all(x >= y for x, y in zip(a, b)) and any(x > y for x, y in zip(a, b))

    return [not any(dominates(q, p) for q in points) for p in points]


def trials(sweep_dir: Path, names: list[str]) -> list[dict[str, Any]]:
    """The finished trials of a sweep folder with their objectives and overrides."""
    from distillctl.report.sweep import job_folders, overrides_of
    from distillctl.runfolder.record import load
    from distillctl.train.objective import value

    out = []
    for folder in job_folders(sweep_dir):
        info = load(folder) or {}
        found = value(info.get("results") or {}, names) if info.get("status") == "done" else None
        if found is None:
            continue
        given = overrides_of(folder)
        out.append({"job": folder.name, "folder": folder, "values": found, "overrides": given})
    return out


def write_front(sweep_dir: Path, names: list[str]) -> list[dict[str, Any]]:
    """Table, CSV, plot and configs of the sweep's Pareto front; returns the front's trials."""
    from rich.console import Console
    from rich.table import Table

    from distillctl.console import say

    found = trials(sweep_dir, names)
    if not found:
        say(f"sweep {sweep_dir}: no finished trial, so no Pareto front")
        return []
    on = front([tuple(t["values"]) for t in found])
    best = [t for t, keep in zip(found, on) if keep]
    best.sort(key=lambda t: tuple(-v for v in t["values"]))
    with open(sweep_dir / "pareto.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["job", *names, "pareto", "overrides"])
        for t, keep in zip(found, on):
            writer.writerow([t["job"], *t["values"], keep, " ".join(t["overrides"])])
    configs = sweep_dir / "pareto"
    configs.mkdir(exist_ok=True)
    for t in best:
        shutil.copyfile(t["folder"] / ".hydra" / "config.yaml", configs / f"{t['job']}.yaml")
    table = Table(title=f"Pareto front of {len(found)} finished trials ({', '.join(names)})")
    for column in ("job", *names, "overrides"):
        table.add_column(column)
    for t in best:
        table.add_row(t["job"], *(f"{v:.4f}" for v in t["values"]), " ".join(t["overrides"]))
    Console(width=160, stderr=True).print(table)
    if len(names) == 2:
        plot(found, on, names, sweep_dir / "pareto.png")
    say(f"Pareto front: {len(best)} of {len(found)} trials; configs in {configs}")
    return best


def plot(found: list[dict[str, Any]], on: list[bool], names: list[str], path: Path) -> Path:
    from distillctl.report.figures import plt, save

    fig, ax = plt.subplots(figsize=(5.5, 4))
    xs = [t["values"][0] for t in found]
    ys = [t["values"][1] for t in found]
    ax.scatter(xs, ys, c=["tab:red" if k else "tab:grey" for k in on], zorder=2)
    edge = sorted((x, y) for x, y, k in zip(xs, ys, on) if k)
    ax.step([p[0] for p in edge], [p[1] for p in edge], where="post", color="tab:red", lw=1)
    for t, x, y in zip(found, xs, ys):
        ax.annotate(t["job"], (x, y), textcoords="offset points", xytext=(4, 3), fontsize=7)
    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1])
    ax.set_title("trials (red: the Pareto front)")
    ax.grid(alpha=0.3)
    return save(fig, path)
