"""The explain run in plain words: which student reasons more like the teacher, by how much,
with the interval, against chance and ceiling, and where the figures mean little.

Read from the explain stage's metrics (attributions/metrics.json); the Spearman figure is the
one spoken about (per input, signed maps).
"""

from __future__ import annotations

import math
from typing import Any

MEASURE = "spearman"
# below this (ceiling - chance) the measure cannot tell models apart
NARROW_RANGE = 0.2
# a normalised figure below this is reported as barely above chance
NEAR_CHANCE = 0.1


def _position(metrics: dict[str, Any], name: str) -> str:
    value = metrics["agreement"][name][MEASURE]["mean"]
    norm = (metrics.get("normalised") or {}).get(name, {}).get(MEASURE)
    if norm is None or math.isnan(norm):
        return f"{value:.3f}"
    return f"{value:.3f} ({norm:.2f} of the way from chance to ceiling)"


def plain_summary(metrics: dict[str, Any]) -> list[str]:
    """A few sentences on the explain run's agreement figures."""
    agreement = metrics.get("agreement") or {}
    if not agreement:
        return []
    reference = metrics.get("reference", "teacher")
    lines = []
    level = (metrics.get("levels") or {}).get(MEASURE)
    if level:
        lines.append(
            f"Attribution agreement with the {reference} (Spearman per input on signed maps, "
            f"{metrics['explainer']['name']}): chance {level['chance_max']:.3f}, ceiling "
            f"{level['ceiling']:.3f} ({level['ceiling_kind']})."
        )
        if level["ceiling"] - level["chance_max"] < NARROW_RANGE:
            lines.append(
                "Chance and ceiling are close: this measure cannot tell the models apart here; "
                "try more explainer samples or another explainer."
            )
    for name in agreement:
        sentence = f"{name}: {_position(metrics, name)}."
        norm = (metrics.get("normalised") or {}).get(name, {}).get(MEASURE)
        if norm is not None and not math.isnan(norm) and norm < 0:
            sentence += " Below what a map with no knowledge of the teacher scores."
        elif norm is not None and not math.isnan(norm) and norm < NEAR_CHANCE:
            sentence += " Barely above what a map with no knowledge of the teacher scores."
        lines.append(sentence)
    for pair, by_measure in (metrics.get("paired") or {}).items():
        d = by_measure.get(MEASURE)
        if not d or d["ci_low"] is None:
            continue
        first, second = pair.split(" - ", 1)
        if d["ci_low"] > 0 or d["ci_high"] < 0:
            closer = first if d["mean"] > 0 else second
            lines.append(
                f"The {closer}'s explanations are closer to the {reference}'s: {pair} "
                f"{d['mean']:+.3f}, 95% interval [{d['ci_low']:+.3f}, {d['ci_high']:+.3f}] over "
                f"{d['n']} inputs."
            )
        else:
            lines.append(
                f"{pair}: {d['mean']:+.3f}, 95% interval [{d['ci_low']:+.3f}, "
                f"{d['ci_high']:+.3f}] over {d['n']} inputs: no difference the inputs can show."
            )
    return lines
