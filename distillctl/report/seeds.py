"""Runs that differ only by seed, read as a group: mean +- std, n, a 95 % interval, and for a
distilled student against its scratch baseline the paired difference per seed.

Intervals are Student-t intervals: for a mean, mean +- t(0.975, n-1) * std / sqrt(n); for
distilled vs scratch, the same over the per-seed paired differences (each seed's distilled
and scratch students share initial weights and data order, so the pairing is exact). With
n = 1 there is no interval, and the verdict says so.
"""

from __future__ import annotations

import json
import math
import statistics
from typing import Any

from omegaconf import OmegaConf

# config keys that do not make two runs different experiments: the seed itself, where the
# files go, and (per seed) which teacher run the student was distilled from
NOT_CONFIGURATION = ("seed", "tag", "resume", "paths", "hydra", "explain", "stage")
NOT_CONFIGURATION_NESTED = (("teacher", "ckpt"), ("trainer", "enable_progress_bar"))


def t_quantile(n: int) -> float:
    from scipy import stats

    return float(stats.t.ppf(0.975, n - 1))


def summarize(values: list[float]) -> dict[str, Any]:
    """mean, std (sample), n and the 95 % t-interval of the mean (None below n = 2)."""
    n = len(values)
    if n == 0:
        return {"mean": None, "std": None, "n": 0, "ci_low": None, "ci_high": None}
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if n > 1 else None
    half = t_quantile(n) * std / math.sqrt(n) if n > 1 else None
    return {
        "mean": mean,
        "std": std,
        "n": n,
        "ci_low": None if half is None else mean - half,
        "ci_high": None if half is None else mean + half,
    }


def verdict(low: float | None, high: float | None, n: int) -> str:
    if n < 2 or low is None or high is None:
        return f"no interval at n={n} (one seed cannot show a difference from noise)"
    if low > 0 or high < 0:
        return f"distinguishable from zero (95% t-interval, n={n})"
    return f"not distinguishable from zero at n={n}"


def paired(distilled: dict[int, float], scratch: dict[int, float]) -> dict[str, Any]:
    """The per-seed differences distilled - scratch over the seeds both have, summarized."""
    seeds = sorted(set(distilled) & set(scratch))
    diffs = [distilled[s] - scratch[s] for s in seeds]
    out = summarize(diffs)
    out.update(
        seeds=seeds,
        per_seed=diffs,
        verdict=verdict(out["ci_low"], out["ci_high"], out["n"]),
    )
    return out


def configuration(cfg: Any) -> str:
    """A run's configuration without its seed (and what never changes the experiment): runs
    with the same string are seeds of one experiment."""
    plain = OmegaConf.to_container(cfg, resolve=False) if OmegaConf.is_config(cfg) else dict(cfg)
    for key in NOT_CONFIGURATION:
        plain.pop(key, None)
    for outer, inner in NOT_CONFIGURATION_NESTED:
        if isinstance(plain.get(outer), dict):
            plain[outer].pop(inner, None)
    return json.dumps(plain, sort_keys=True, default=str)
