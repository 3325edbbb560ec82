"""Each trained model's curves over its epochs, from its run folder's metrics.csv: training
loss and validation accuracy, what a schedule moved (`train/weight_<term>`, kd's
`train/kd_temperature`, Annealing-KD's factor), and an agreement controller's checks
(`control/agreement` and `control/lambda`, train/control.py): one picture per model that has a
metrics.csv."""

from __future__ import annotations

import csv
import math
from pathlib import Path

# metrics.csv columns that a schedule writes (losses/schedules.py, Term.scheduled)
MOVING = ("train/weight_", "_temperature", "_factor")
# what an agreement controller writes at each check
CONTROL = ("control/agreement", "control/lambda")


def read_metrics(path: Path) -> dict[str, list[tuple[int, float]]]:
    """column -> [(epoch, value)] of the rows that have it."""
    found: dict[str, list[tuple[int, float]]] = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            for key, text in row.items():
                if key in ("epoch", "step") or not text:
                    continue
                try:
                    value = float(text)
                except ValueError:
                    continue
                if math.isfinite(value):
                    found.setdefault(key, []).append((int(float(row["epoch"])), value))
    return found


def control_target(run_dir: Path) -> float | None:
    """The agreement target of a controlled run (its run.json), if any."""
    from distillctl.runfolder.record import load

    found = ((load(run_dir) or {}).get("control") or {}).get("target")
    return None if found is None else float(found)


def draw_curves(models, out_dir: Path) -> list[tuple[Path, str]]:
    from distillctl.report.figures import plt, save

    pictures = []
    for entry in models:
        path = Path(entry.run_dir or "") / "metrics.csv"
        if entry.run_dir is None or not path.is_file():
            continue
        found = read_metrics(path)
        moving = [k for k in found if any(m in k for m in MOVING)]
        control = [k for k in CONTROL if k in found]
        panels = [p for p in (["train/loss"], ["val/acc"], moving, control) if p]
        fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3))
        target = control_target(Path(entry.run_dir)) if control else None
        for ax, keys in zip(axes, panels):
            for key in keys:
                if key in found:
                    epochs, values = zip(*found[key])
                    ax.plot(epochs, values, marker=".", label=key)
            if keys is control and target is not None:
                ax.axhline(target, color="grey", ls="--", lw=1, label="agreement target")
            ax.set_xlabel("epoch")
            ax.legend(fontsize=7)
        fig.suptitle(entry.name)
        fig.tight_layout()
        out = save(fig, out_dir / f"curves_{entry.name.replace(' ', '_')}.png")
        caption = (
            f"{entry.name}: training loss, validation accuracy"
            + (", what its schedules moved per epoch" if moving else "")
            + (
                ", and its agreement controller's checks (the agreement measured on the "
                "validation subset at an epoch's start, and the weight lambda used from then)"
                if control
                else ""
            )
        )
        pictures.append((out, caption))
    return pictures
