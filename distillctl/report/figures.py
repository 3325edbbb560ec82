"""Pictures of attributions: the drawers each input kind names (distillctl/inputs/), and the
histogram and per-class chart every report has.

Matplotlib with the Agg backend; every figure is saved as a PNG and returned as a path.
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from distillctl.io import atomic_write_bytes  # noqa: E402


def save(fig, path: Path) -> Path:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def _symmetric(values: np.ndarray) -> float:
    peak = float(np.abs(values).max())
    return peak if peak > 0 else 1.0


def row_scale(maps: dict[str, np.ndarray], i: int) -> float:
    """One symmetric colour limit for input i shared by every model's map (channels summed),
    so a weaker map looks weaker instead of being stretched to full colour."""
    return _symmetric(np.stack([maps[name][i].sum(axis=0) for name in maps]))


def prediction_text(predictions: dict, name: str, i: int) -> str:
    """'predicts 3 (p=0.97)' for model `name` on input i, when predictions are known."""
    if name not in predictions:
        return ""
    classes, probabilities = predictions[name]
    return f"predicts {classes[i]} (p={probabilities[i]:.2f})"


def viewable(image: np.ndarray, normalise=None) -> np.ndarray:
    """An input as a person sees it: normalisation undone (pixels back in [0, 1]), channels
    last for colour; grey images stay one 2-D plane."""
    image = np.asarray(image, np.float64)
    if normalise is not None:
        mean, std = (np.asarray(v, np.float64).reshape(-1, 1, 1) for v in normalise)
        image = np.clip(image * std + mean, 0.0, 1.0)
    return image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)


def image_maps(
    inputs,
    maps,
    labels,
    targets,
    out_dir: Path,
    chosen: list[int],
    predictions=None,
    normalise=None,
    **_,
) -> list[Path]:
    """Per chosen input: the image, then each model's map on one shared symmetric scale (red:
    for the explained class, blue: against), with the model's prediction and probability."""
    paths = []
    names = list(maps)
    predictions = predictions or {}
    for i in chosen:
        fig, axes = plt.subplots(1, len(names) + 1, figsize=(2.4 * (len(names) + 1), 2.6))
        axes[0].imshow(viewable(inputs[i], normalise), cmap="gray")
        axes[0].set_title(f"input (label {labels[i]})\nexplained: class {targets[i]}", fontsize=8)
        vmax = row_scale(maps, i)
        for ax, name in zip(axes[1:], names):
            shown = ax.imshow(maps[name][i].sum(axis=0), cmap="bwr", vmin=-vmax, vmax=vmax)
            ax.set_title(f"{name}\n{prediction_text(predictions, name, i)}", fontsize=8)
        fig.colorbar(shown, ax=list(axes[1:]), shrink=0.8, label="attribution (shared scale)")
        for ax in axes:
            ax.set_xticks([])
            ax.set_yticks([])
        paths.append(save(fig, out_dir / f"input_{i:03d}.png"))
    return [*paths, image_grid(inputs, maps, labels, out_dir, normalise=normalise)]


def image_grid(inputs, maps, labels, out_dir: Path, columns: int = 12, normalise=None) -> Path:
    """A grid: the first `columns` inputs across, the input then each model's map down."""
    n = min(columns, len(inputs))
    names = list(maps)
    fig, axes = plt.subplots(
        len(names) + 1, n, figsize=(1.1 * n + 1.4, 1.15 * (len(names) + 1)), squeeze=False
    )
    for j in range(n):
        axes[0, j].imshow(viewable(inputs[j], normalise), cmap="gray")
        axes[0, j].set_title(str(labels[j]), fontsize=8)
        vmax = row_scale(maps, j)  # one scale per input, shared by the models
        for row, name in enumerate(names, start=1):
            axes[row, j].imshow(maps[name][j].sum(axis=0), cmap="bwr", vmin=-vmax, vmax=vmax)
    for row, name in enumerate(["input", *names]):
        axes[row, 0].set_ylabel(name, fontsize=8, rotation=0, ha="right", va="center")
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    return save(fig, out_dir / "grid.png")


def signal_maps(
    inputs, maps, labels, targets, out_dir: Path, chosen: list[int], predictions=None, **_
) -> list[Path]:
    """Per chosen input: the signal, with each model's attribution along it (one axis)."""
    predictions = predictions or {}
    paths = []
    for i in chosen:
        fig, (top, bottom) = plt.subplots(2, 1, figsize=(6, 3.6), sharex=True)
        top.plot(inputs[i].sum(axis=0), color="black")
        top.set_title(f"input (label {labels[i]}, explained class {targets[i]})", fontsize=9)
        for name, amap in maps.items():
            said = prediction_text(predictions, name, i)
            bottom.plot(amap[i].sum(axis=0), label=f"{name}: {said}" if said else name)
        bottom.axhline(0, color="grey", linewidth=0.5)
        bottom.set_ylabel("attribution")
        bottom.legend(fontsize=8)
        paths.append(save(fig, out_dir / f"input_{i:03d}.png"))
    return paths


def tabular_bars(
    inputs, maps, labels, targets, out_dir: Path, chosen: list[int], feature_names=(), **_
) -> list[Path]:
    """Each feature's share of mean |attribution|, the reference model's top 15, side by side."""
    names = list(maps)
    importance = {}
    for name in names:  # each model's share of its own total: logits of models differ in scale
        mean_abs = np.abs(maps[name]).reshape(len(maps[name]), -1).mean(axis=0)
        importance[name] = mean_abs / max(float(mean_abs.sum()), 1e-12)
    order = np.argsort(-importance[names[0]])[:15][::-1]
    labels_ = [feature_names[j] if j < len(feature_names) else f"x{j}" for j in order]
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(order) + 1.2))
    height = 0.8 / len(names)
    for k, name in enumerate(names):
        ax.barh(np.arange(len(order)) + k * height, importance[name][order], height, label=name)
    ax.set_yticks(np.arange(len(order)) + 0.4 - height / 2, labels_, fontsize=8)
    ax.set_xlabel("share of the model's mean |attribution|")
    ax.legend(fontsize=8)
    bars = save(fig, out_dir / "feature_importance.png")
    return [bars, beeswarm(inputs, maps, order[::-1], labels_[::-1], out_dir)]


def beeswarm(inputs, maps, order, feature_labels, out_dir: Path) -> Path:
    """SHAP's beeswarm, per model side by side: per feature (most important on top), one dot
    per input at its attribution, coloured by the feature's value (blue low, red high)."""
    names = list(maps)
    x = inputs.reshape(len(inputs), -1)
    fig, axes = plt.subplots(
        1, len(names), figsize=(3.6 * len(names), 0.32 * len(order) + 1.3), sharey=True
    )
    axes = np.atleast_1d(axes)
    rng = np.random.default_rng(0)
    for ax, name in zip(axes, names):
        attr = maps[name].reshape(len(maps[name]), -1)
        for row, j in enumerate(order):
            values = x[:, j]
            spread = values.max() - values.min()
            colour = (values - values.min()) / spread if spread > 0 else np.full_like(values, 0.5)
            jitter = rng.uniform(-0.3, 0.3, len(values))
            ax.scatter(attr[:, j], len(order) - 1 - row + jitter, c=colour, cmap="coolwarm", s=6)
        ax.axvline(0, color="grey", linewidth=0.5)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("attribution", fontsize=8)
    axes[0].set_yticks(range(len(order)), list(feature_labels)[::-1], fontsize=7)
    return save(fig, out_dir / "beeswarm.png")


def agreement_histogram(per_input: dict[str, dict[str, list]], out_dir: Path) -> Path:
    """Distribution over inputs of each model's rank agreement with the reference."""
    fig, ax = plt.subplots(figsize=(5, 2.8))
    for name, rows in per_input.items():
        values = np.asarray(rows["spearman"], dtype=float)
        ax.hist(values[~np.isnan(values)], bins=20, range=(-1, 1), alpha=0.6, label=name)
    ax.set_xlabel("Spearman rank correlation with the teacher's map")
    ax.set_ylabel("inputs")
    ax.legend(fontsize=8)
    return save(fig, out_dir / "agreement_hist.png")


def per_class_chart(per_class: dict[str, dict], out_dir: Path) -> Path:
    """Each student's mean Spearman with the teacher per true class, as grouped bars."""
    names = list(per_class)
    classes = sorted({c for rows in per_class.values() for c in rows}, key=int)
    fig, ax = plt.subplots(figsize=(max(4.0, 0.5 * len(classes) + 2), 2.6))
    width = 0.8 / max(1, len(names))
    for k, name in enumerate(names):
        values = [per_class[name][c]["mean"] for c in classes]
        ax.bar(np.arange(len(classes)) + k * width, values, width, label=name)
    ax.set_xticks(np.arange(len(classes)) + 0.4 - width / 2, [str(c) for c in classes])
    ax.set_xlabel("true class")
    ax.set_ylabel("Spearman with the teacher")
    ax.legend(fontsize=8)
    return save(fig, out_dir / "agreement_per_class.png")


def draw(
    kind: str,
    explained: dict,
    out_dir: Path,
    count: int,
    feature_names=(),
    normalise=None,
    class_names=(),
    vocabulary=(),
) -> list[tuple[Path, str]]:
    """Every picture of an explain run as (path, caption): the chosen inputs (each says why
    it was chosen, report/selection.py), the agreement histogram and the per-class chart.
    Images are shown with their normalisation undone; labels by class name where known."""
    from distillctl.report.selection import choose_inputs

    def named(classes):
        names = [class_names[int(c)] if int(c) < len(class_names) else c for c in classes]
        return np.asarray(names, dtype=object)

    predictions = {
        name: (named(classes), probabilities)
        for name, (classes, probabilities) in explained.get("predictions", {}).items()
    }
    labels = named(explained["labels"])
    per_input = explained["metrics"]["per_input"]
    chosen = choose_inputs(per_input, predictions, labels, count)
    reasons = {f"input_{i:03d}": f"test input {i}: {why}" for i, why in chosen}
    from distillctl.inputs import kind as input_kind

    paths = input_kind(kind).draw_maps(
        explained["inputs"],
        explained["maps"],
        labels,
        named(explained["targets"]),
        out_dir,
        [i for i, _ in chosen],
        feature_names=feature_names,
        predictions=predictions,
        normalise=normalise,
        vocabulary=vocabulary,
        rationale=explained.get("rationale"),
    )
    pictures = [(path, reasons.get(path.stem, "")) for path in paths]
    if per_input:
        pictures.append((agreement_histogram(per_input, out_dir), ""))
    per_class = explained["metrics"].get("per_class")
    if per_class:
        pictures.append((per_class_chart(per_class, out_dir), "Spearman per true class"))
    return pictures
