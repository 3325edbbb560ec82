"""Where an agreement figure sits between chance and ceiling.

A Spearman of 0.54 between a student's maps and the teacher's means nothing alone. Per explain
run and per agreement measure this computes, against the reference model's (teacher's) maps T:

- the ceiling: T against the teacher explained again with independent draws (another seed)
  for a stochastic explainer; 1 by construction for a deterministic one;
- three chance levels: T against the maps of the teacher with re-initialised weights (Adebayo
  et al. 2018's randomised model), against a model-free map |x - mean(background)|, and
  against the teacher's own maps for mismatched inputs (input i paired with input i+1);

and, for every model, (a - chance) / (ceiling - chance) with chance the highest of the three:
0 is no better than the best-scoring map that knows nothing of the teacher's reasoning, 1 is as
close as the teacher's explanations are to themselves.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from omegaconf import OmegaConf

from distillctl.explain.agreement import agreement, summarise
from distillctl.explain.faithfulness import model_free_map, randomised_copy

CHANCE = ("randomised_model", "model_free", "mismatched_inputs")


def levels(
    teacher: torch.nn.Module,
    teacher_maps: np.ndarray,
    explain,
    explainer_cfg: Any,
    stochastic: bool,
    inputs: torch.Tensor,
    background: torch.Tensor,
    top_k_fraction: float,
    signed: bool,
    randomised_maps: np.ndarray | None = None,
    mask: np.ndarray | None = None,
) -> dict[str, Any]:
    """Ceiling and chance levels of every agreement measure, as {measure: {...}}.
    `explain(model, cfg)` explains `model` on the run's inputs and targets with `cfg`;
    `randomised_maps`: the teacher's `randomised_copy` already explained (by the sanity
    check), if it was; `mask`: the features that count per input (a text's real tokens)."""

    def summary(other: np.ndarray) -> dict[str, dict]:
        return summarise(agreement(teacher_maps, other, top_k_fraction, signed, mask))

    if stochastic:
        redraw = OmegaConf.merge(explainer_cfg, {"seed": int(explainer_cfg.seed) + 1})
        ceiling = summary(explain(teacher, redraw).detach().cpu().numpy())
    else:
        ceiling = None
    if randomised_maps is None:
        randomised_maps = explain(randomised_copy(teacher), explainer_cfg).detach().cpu().numpy()
    chance = {
        "randomised_model": summary(randomised_maps),
        "model_free": summary(model_free_map(inputs, background).cpu().numpy()),
        "mismatched_inputs": summary(np.roll(teacher_maps, 1, axis=0)),
    }
    out = {}
    for measure in next(iter(chance.values())):
        top = ceiling[measure]["mean"] if ceiling else 1.0
        levels_of = {name: chance[name][measure]["mean"] for name in CHANCE}
        defined = [v for v in levels_of.values() if not math.isnan(v)]
        out[measure] = {
            "ceiling": top,
            "ceiling_kind": "independent draws (explainer.seed + 1)"
            if ceiling
            else "1 by construction (deterministic explainer)",
            "chance": levels_of,
            "chance_max": max(defined) if defined else float("nan"),
        }
    return out


def normalised(value: float, level: dict[str, Any]) -> float:
    """(value - chance) / (ceiling - chance); NaN where the two coincide or are undefined."""
    chance, top = level["chance_max"], level["ceiling"]
    if any(math.isnan(v) for v in (value, chance, top)) or top - chance <= 1e-9:
        return float("nan")
    return (value - chance) / (top - chance)
