"""How alike two models' explanations are, per input: rank, top-k, sign and cosine agreement."""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import spearmanr

METRICS = ("spearman", "topk", "sign", "cosine")


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")  # a constant map has no ranking
    return float(spearmanr(a, b).statistic)  # average ranks for ties (zeros are common)


def _topk(a: np.ndarray, b: np.ndarray, k: int) -> float:
    top_a = set(np.argsort(-np.abs(a), kind="stable")[:k].tolist())
    top_b = set(np.argsort(-np.abs(b), kind="stable")[:k].tolist())
    return len(top_a & top_b) / k


def _sign(a: np.ndarray, b: np.ndarray) -> float:
    active = (a != 0) | (b != 0)
    if not active.any():
        return float("nan")
    return float((np.sign(a[active]) == np.sign(b[active])).mean())


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    norm = np.linalg.norm(a) * np.linalg.norm(b)
    return float(a @ b / norm) if norm > 0 else float("nan")


def agreement(a: np.ndarray, b: np.ndarray, top_k_fraction: float = 0.1) -> dict[str, list]:
    """Per-input agreement of attribution maps a and b (shape (N, ...)): lists of N floats."""
    a = a.reshape(len(a), -1).astype(np.float64)
    b = b.reshape(len(b), -1).astype(np.float64)
    k = max(1, math.ceil(top_k_fraction * a.shape[1]))
    rows = {name: [] for name in METRICS}
    for x, y in zip(a, b):
        rows["spearman"].append(spearman(x, y))
        rows["topk"].append(_topk(x, y, k))
        rows["sign"].append(_sign(x, y))
        rows["cosine"].append(_cosine(x, y))
    return rows


def summarise(rows: dict[str, list]) -> dict[str, dict[str, float]]:
    """Mean and standard deviation of each metric over the inputs (NaN inputs left out)."""
    out = {}
    for name, values in rows.items():
        arr = np.asarray(values, dtype=np.float64)
        arr = arr[~np.isnan(arr)]
        out[name] = {
            "mean": float(arr.mean()) if arr.size else float("nan"),
            "std": float(arr.std()) if arr.size else float("nan"),
            "n": int(arr.size),
        }
    return out
