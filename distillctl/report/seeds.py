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

from distillctl.configuration.plain import plain

# config keys that do not make two runs different experiments: the seed itself, where the
# files go, and (per seed) which teacher run the student was distilled from
ENDED = ("failed", "interrupted")  # run.json statuses of seeds that count but are not averaged
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
    node = plain(cfg, resolve=False)
    for key in NOT_CONFIGURATION:
        node.pop(key, None)
    for outer, inner in NOT_CONFIGURATION_NESTED:
        if isinstance(node.get(outer), dict):
            node[outer].pop(inner, None)
    return json.dumps(node, sort_keys=True, default=str)


def group_by_configuration(
    rows: list[dict[str, Any]], figures: tuple[str, ...]
) -> list[dict[str, Any]]:
    """Rows that differ only by seed, summarized: n, mean, std and 95 % interval of the test
    accuracy (the mean of each of `figures`), the failed seeds named, and for a distilled student
    the paired difference to the scratch student of the same configuration."""
    by_key: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for row in rows:  # how it was explained is part of what a group's figures mean
        key = (row.get("configuration", ""), row["method"], row.get("explained") or "")
        by_key.setdefault(key, []).append(row)
    # the scratch baseline's figures per seed, for pairing: accuracy per configuration,
    # attribution agreement per configuration and way of explaining
    scratch: dict[tuple[str, str, str], dict] = {}
    for (config, method, explained), members in by_key.items():
        if method == "scratch":
            for figure in PAIRED:
                key = _baseline_key(figure, config, explained)
                scratch.setdefault(key, {}).update(per_seed(members, figure))
    out = []
    for (config, method, explained), members in by_key.items():
        done = [r for r in members if r.get("status") not in ENDED]
        failed = [r for r in members if r.get("status") in ENDED]
        first = (done or members)[0]
        acc = summarize([r["test_acc"] for r in done if r.get("test_acc") is not None])
        group = {
            "method": method,
            "data": first.get("data"),
            "student": first.get("student"),
            "explained": explained or None,
            "seeds": sorted(r["seed"] for r in done if r.get("seed") is not None),
            "n": acc["n"],
            "test_acc_mean": acc["mean"],
            "test_acc_std": acc["std"],
            "test_acc_ci_low": acc["ci_low"],
            "test_acc_ci_high": acc["ci_high"],
            "parameters": first.get("parameters"),
            "failed": len(failed),
            "failed_runs": "; ".join(
                f"seed {r.get('seed')}: {r['run']} ({r.get('status')}: {r.get('reason')})"
                for r in failed
            ),
        }
        for key in figures:
            values = [r[key] for r in done if r.get(key) is not None]
            group[key] = summarize(values)["mean"] if values else None
        group["spearman_std"] = summarize(
            [r["spearman"] for r in done if r.get("spearman") is not None]
        )["std"]
        if method not in ("scratch", "teacher"):
            for figure, (prefix, scale) in PAIRED.items():
                baseline = scratch.get(_baseline_key(figure, config, explained))
                if baseline:
                    group.update(paired_columns(per_seed(done, figure), baseline, prefix, scale))
        out.append(group)
    return out


# figures paired with the scratch student per seed: their column prefix and reading scale
PAIRED = {"test_acc": ("vs_scratch", 100), "spearman": ("spearman_vs_scratch", 1)}


def _baseline_key(figure: str, config: str, explained: str) -> tuple[str, str, str]:
    """Accuracy pairs within a configuration; attribution agreement only with the scratch
    student explained the same way."""
    return (figure, config, explained if figure == "spearman" else "")


def per_seed(rows: list[dict[str, Any]], figure: str) -> dict[int, float]:
    return {r["seed"]: r[figure] for r in rows if r.get(figure) is not None}


def paired_columns(
    ours: dict[int, float], baseline: dict[int, float], prefix: str, scale: float
) -> dict[str, Any]:
    """The paired difference to the scratch baseline as a group's columns: <prefix>_mean,
    _ci_low, _ci_high, _per_seed (scaled for reading: accuracy in points) and the verdict
    (`verdict` for accuracy, `<prefix>_verdict` otherwise)."""
    diff = paired(ours, baseline)
    if not diff["n"]:
        return {}
    digits = 2 if scale == 100 else 3
    return {
        f"{prefix}_mean": diff["mean"],
        f"{prefix}_ci_low": diff["ci_low"],
        f"{prefix}_ci_high": diff["ci_high"],
        f"{prefix}_per_seed": " ".join(f"{scale * d:+.{digits}f}" for d in diff["per_seed"]),
        ("verdict" if prefix == "vs_scratch" else f"{prefix}_verdict"): diff["verdict"],
    }
