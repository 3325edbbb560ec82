"""A soft decision tree drawn as the tree (Frosst & Hinton 2017, their figures): every inner
node's learned filter w_i (an image for image data, a curve for signals, the largest feature
weights for tables), and under the deepest drawn level the class distribution each branch ends
in. Each node says how much of the explained inputs' probability mass reaches it.

Trees deeper than `levels` are cut there: a cut branch shows the mixture of the leaves under it,
weighted by the mass that reaches each leaf on the inputs (the leaves' plain mean where none
does).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from distillctl.inputs import kind as input_kind
from distillctl.models.soft_tree import SoftTree, is_soft_tree

LEVELS = 4  # inner-node levels drawn: 15 filters and 16 distributions fit across a page
TOP_FEATURES = 5


def tree_summary(tree: SoftTree, inputs: torch.Tensor) -> dict[str, np.ndarray]:
    """Filters (N, *input shape), mean reach probability of every inner node (N,) and of every
    leaf (L,) over `inputs`, and the leaves' distributions (L, K)."""
    with torch.no_grad():
        routing = tree.route(inputs.to(tree.leaves.device))
        return {
            "filters": tree.inner.weight.detach().cpu().numpy().reshape(-1, *tree.input_shape),
            "reach": routing.log_reach.exp().mean(0).cpu().numpy(),
            "leaf_reach": routing.path.mean(0).cpu().numpy(),
            "leaves": routing.leaf_log_probs.exp().cpu().numpy(),
        }


def branch_distributions(summary: dict[str, np.ndarray], levels: int) -> np.ndarray:
    """(2^levels, K): the class distribution reached through each node of level `levels`."""
    leaves, mass = summary["leaves"], summary["leaf_reach"]
    groups = len(leaves) // 2**levels  # leaves under each cut node, contiguous
    out = []
    for g in range(2**levels):
        part = slice(g * groups, (g + 1) * groups)
        w = mass[part]
        w = w / w.sum() if w.sum() > 0 else np.full(groups, 1.0 / groups)
        out.append(w @ leaves[part])
    return np.stack(out)


def image_filter(ax, w: np.ndarray, feature_names) -> None:
    image = w.mean(0)  # signed, averaged over colour channels
    scale = float(np.abs(image).max()) or 1.0
    ax.imshow(image, cmap="bwr", vmin=-scale, vmax=scale)
    ax.set_xticks([])
    ax.set_yticks([])


def signal_filter(ax, w: np.ndarray, feature_names) -> None:
    ax.axhline(0, color="0.7", lw=0.5)
    ax.plot(w.reshape(w.shape[0], -1).mean(0) if w.ndim > 1 else w, color="k", lw=0.8)
    ax.set_xticks([])
    ax.set_yticks([])


def table_filter(ax, w: np.ndarray, feature_names) -> None:
    flat = w.reshape(-1)
    order = np.argsort(-np.abs(flat))[:TOP_FEATURES][::-1]
    names = feature_names or [f"x{i}" for i in range(len(flat))]
    colours = ["tab:red" if v > 0 else "tab:blue" for v in flat[order]]
    ax.barh(range(len(order)), flat[order], color=colours)
    ax.set_yticks(range(len(order)), [names[i][:14] for i in order], fontsize=5)
    ax.tick_params(axis="x", labelsize=5)
    ax.axvline(0, color="0.5", lw=0.5)


def draw_tree(
    tree: SoftTree,
    inputs: torch.Tensor,
    kind: str,
    path: Path,
    title: str,
    class_names: list[str] | None = None,
    feature_names: list[str] | None = None,
) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    from distillctl.report.figures import save

    summary = tree_summary(tree, inputs)
    levels = min(tree.depth, LEVELS)
    slots = 2**levels
    rows = levels + 1
    fig = plt.figure(figsize=(max(1.15 * slots, 6.0), 1.5 * rows + 0.6))
    box_w, box_h = 0.72 / slots, 0.62 / rows
    top = 1 - 0.5 / (1.5 * rows + 0.6)

    def centre(level: int, j: int) -> tuple[float, float]:
        return (j + 0.5) / 2**level, top - (level + 0.5) * (top / rows)

    for level in range(levels):
        for j in range(2**level):
            node = 2**level - 1 + j
            x, y = centre(level, j)
            ax = fig.add_axes((x - box_w / 2, y - box_h / 2, box_w, box_h))
            input_kind(kind).draw_filter(ax, summary["filters"][node], feature_names)
            ax.set_title(f"node {node} · {summary['reach'][node]:.0%}", fontsize=8, pad=2)
            for side in (0, 1):  # lines to the left (w.x + b < 0) and right children
                cx, cy = centre(level + 1, 2 * j + side)
                fig.add_artist(
                    Line2D(
                        [x, cx],
                        [y - box_h / 2, cy + box_h / 2],
                        transform=fig.transFigure,
                        color="tab:red" if side else "tab:blue",
                        lw=0.6,
                    )
                )
    dists = branch_distributions(summary, levels)
    classes = class_names or [str(k) for k in range(dists.shape[1])]
    mass = summary["leaf_reach"].reshape(slots, -1).sum(1)
    for j, dist in enumerate(dists):
        x, y = centre(levels, j)
        ax = fig.add_axes((x - box_w / 2, y - box_h / 2, box_w, box_h))
        best = int(dist.argmax())
        colours = ["tab:green" if k == best else "0.6" for k in range(len(dist))]
        ax.bar(range(len(dist)), dist, color=colours)
        ax.set_ylim(0, 1)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"{classes[best][:10]} {dist[best]:.0%} · {mass[j]:.0%}", fontsize=8, pad=2)
    fig.suptitle(title, fontsize=9)
    return save(fig, path)


def caption(tree: SoftTree, kind: str) -> str:
    drawn = min(tree.depth, LEVELS)
    what = input_kind(kind).tree_caption.format(top=TOP_FEATURES)
    cut = (
        f"the top {drawn} of its {tree.depth} levels; each bottom box is the mixture of the "
        f"{2 ** (tree.depth - drawn)} leaves under it"
        if tree.depth > drawn
        else "every level; each bottom box is one leaf's class distribution"
    )
    return (
        f"Soft decision tree (depth {tree.depth}, {cut}). Each inner node i shows {what}; it "
        "routes x right with probability sigmoid(beta (w_i . x + b_i)); red lines lead right, "
        "blue left. Percentages: the share of the explained inputs' probability mass reaching "
        "the node; bottom boxes: the most likely class and its probability, then the mass."
    )


def draw_trees(models: list, splits, inputs: torch.Tensor, out_dir: Path) -> list[tuple[Path, str]]:
    """(picture, caption) of every soft tree among the explained models (none: [])."""
    return [
        (
            draw_tree(
                m.model,
                inputs,
                splits.kind,
                out_dir / f"tree_{m.name.replace(' ', '_')}.png",
                f"{m.name}: what the soft tree learned",
                splits.class_names,
                splits.feature_names,
            ),
            caption(m.model, splits.kind),
        )
        for m in models
        if is_soft_tree(m.model)
    ]
