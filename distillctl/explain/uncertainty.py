"""How sure an agreement figure is: a seeded bootstrap over the explained inputs.

Every mean over inputs gets n and a 95 % percentile-bootstrap interval. Two students explained
on the same inputs are compared per input (paired): the mean of their per-input differences,
with its bootstrap interval and a verdict. Inputs where either figure is undefined (NaN) are
left out and counted, never dropped silently.
"""

from __future__ import annotations

from typing import Any

import numpy as np

RESAMPLES = 2000


def bootstrap_interval(values: np.ndarray, seed: int) -> tuple[float, float] | None:
    """The 95 % percentile-bootstrap interval of the mean of `values` (None below 2 values)."""
    values = np.asarray(values, dtype=np.float64)
    if values.size < 2:
        return None
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, values.size, size=(RESAMPLES, values.size))].mean(1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def paired_difference(a: list[float], b: list[float], seed: int) -> dict[str, Any]:
    """Per-input a - b over the inputs where both are defined: mean, n, NaN count, 95 %
    bootstrap interval, verdict."""
    a_arr, b_arr = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    both = ~np.isnan(a_arr) & ~np.isnan(b_arr)
    diff = a_arr[both] - b_arr[both]
    interval = bootstrap_interval(diff, seed)
    if interval is None:
        verdict = f"no interval at n={diff.size}"
    elif interval[0] > 0 or interval[1] < 0:
        verdict = f"distinguishable from zero (95% bootstrap interval over {diff.size} inputs)"
    else:
        verdict = f"not distinguishable from zero over {diff.size} inputs"
    return {
        "mean": float(diff.mean()) if diff.size else float("nan"),
        "n": int(diff.size),
        "undefined": int((~both).sum()),
        "ci_low": None if interval is None else interval[0],
        "ci_high": None if interval is None else interval[1],
        "verdict": verdict,
    }
