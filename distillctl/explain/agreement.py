"""How alike two models' explanations are, per input: rank, top-k, sign and cosine agreement.

Every figure is computed per input over its features, on the maps as the explainer gives them
(signed values), and then averaged over inputs. An input where a measure is undefined (a
constant map has no ranking; a tie at the k-th place has no top-k set) gets NaN: counted as
`undefined` in the summary, never scored.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from distillctl.explain.uncertainty import bootstrap_interval

METRICS = ("spearman", "topk", "sign", "cosine")

# what each figure is, written into metrics.json and the report beside it
DEFINITIONS = {
    "spearman": "per input: Spearman rank correlation of the two signed maps over the "
    "features (average ranks for ties); mean over inputs",
    "topk": "per input: |A & B| / k for the k features of largest |attribution| in each map; "
    "undefined when a map is constant or ties at the k-th place; mean over inputs",
    "sign": "per input, signed explainers only: share of features, where either map is "
    "non-zero, on which the signs agree; mean over inputs",
    "cosine": "per input: cosine similarity of the two signed maps; mean over inputs",
}


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")  # a constant map has no ranking
    return float(spearmanr(a, b).statistic)  # average ranks for ties (zeros are common)


def _top_set(a: np.ndarray, k: int) -> set[int] | None:
    """The k features of largest |a|, or None when they are not determined (ties at the
    boundary, a constant map)."""
    magnitude = np.abs(a)
    if np.ptp(magnitude) == 0:
        return None
    order = np.argsort(-magnitude, kind="stable")
    if k < len(a) and magnitude[order[k - 1]] == magnitude[order[k]]:
        return None
    return set(order[:k].tolist())


def _topk(a: np.ndarray, b: np.ndarray, k: int) -> float:
    top_a, top_b = _top_set(a, k), _top_set(b, k)
    if top_a is None or top_b is None:
        return float("nan")
    return len(top_a & top_b) / k


def _sign(a: np.ndarray, b: np.ndarray) -> float:
    active = (a != 0) | (b != 0)
    if not active.any():
        return float("nan")
    return float((np.sign(a[active]) == np.sign(b[active])).mean())


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    norm = np.linalg.norm(a) * np.linalg.norm(b)
    return float(a @ b / norm) if norm > 0 else float("nan")


def measures(signed: bool) -> tuple[str, ...]:
    """The agreement figures for maps of this kind: sign agreement only for signed maps."""
    return METRICS if signed else tuple(m for m in METRICS if m != "sign")


def agreement(
    a: np.ndarray,
    b: np.ndarray,
    top_k_fraction: float = 0.1,
    signed: bool = True,
    mask: np.ndarray | None = None,
) -> dict[str, list]:
    """Per-input agreement of attribution maps a and b (shape (N, ...)): lists of N floats.
    `signed`: whether the explainer gives signed maps (saliency with abs and Grad-CAM after
    its ReLU do not; their sign agreement would only measure overlap of non-zero features).
    `mask` (N, ...): the features that count per input (a padded text's real tokens); k of
    top-k is then a fraction of each input's own count."""
    a = a.reshape(len(a), -1).astype(np.float64)
    b = b.reshape(len(b), -1).astype(np.float64)
    keep = np.ones(a.shape, bool) if mask is None else np.asarray(mask, bool).reshape(a.shape)
    functions = {
        "spearman": spearman,
        "topk": lambda x, y: _topk(x, y, max(1, math.ceil(top_k_fraction * len(x)))),
        "sign": _sign,
        "cosine": _cosine,
    }
    rows: dict[str, list] = {name: [] for name in measures(signed)}
    for x, y, m in zip(a, b, keep):
        x, y = x[m], y[m]
        for name in rows:
            rows[name].append(functions[name](x, y) if len(x) else float("nan"))
    return rows


def summarise(rows: dict[str, list], seed: int = 0) -> dict[str, dict[str, float]]:
    """Mean and standard deviation of each metric over the inputs where it is defined; `n`
    inputs scored, `undefined` left out (NaN), and the mean's 95 % bootstrap interval
    (`ci_low`, `ci_high`; None below 2 inputs), seeded."""
    out = {}
    for name, values in rows.items():
        arr = np.asarray(values, dtype=np.float64)
        undefined = int(np.isnan(arr).sum())
        arr = arr[~np.isnan(arr)]
        interval = bootstrap_interval(arr, seed)
        out[name] = {
            "mean": float(arr.mean()) if arr.size else float("nan"),
            "std": float(arr.std()) if arr.size else float("nan"),
            "n": int(arr.size),
            "undefined": undefined,
            "ci_low": None if interval is None else interval[0],
            "ci_high": None if interval is None else interval[1],
        }
    return out


def agreement_per_class(
    per_input: dict[str, dict[str, list]], labels: np.ndarray, measure: str = "spearman"
) -> dict[str, dict[int, dict[str, Any]]]:
    """{student: {class: {"mean", "n"}}} of `measure` over the inputs of each true class
    (undefined inputs left out)."""
    out: dict[str, dict[int, dict[str, Any]]] = {}
    for name, rows in per_input.items():
        values = np.asarray(rows[measure], dtype=np.float64)
        out[name] = {}
        for cls in sorted(set(labels.tolist())):
            kept = values[(labels == cls) & ~np.isnan(values)]
            out[name][int(cls)] = {
                "mean": float(kept.mean()) if kept.size else float("nan"),
                "n": int(kept.size),
            }
    return out
