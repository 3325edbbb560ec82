"""Distillation recipes as weighted sums of small loss terms.

A term is an nn.Module called as term(student_logits, teacher_logits, labels) -> scalar tensor.
A recipe (`loss=<name>`) turns its config into a list of (name, weight, term); the Distiller
sums them and logs each one. Adding a method is adding one module that registers itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from distillctl.errors import ConfigError
from distillctl.registry import Registry

RECIPES: Registry[Callable[[Any], list[WeightedTerm]]] = Registry("loss")
register = RECIPES.register


@dataclass
class WeightedTerm:
    name: str
    weight: float
    term: nn.Module


def build_recipe(loss_cfg: Any) -> list[WeightedTerm]:
    from distillctl.losses import ce, kd  # noqa: F401  (they register themselves)

    recipe = RECIPES.get_or_fail(loss_cfg.name)
    return [t for t in recipe(loss_cfg) if t.weight != 0.0]


def check_range(
    name: str,
    value: float,
    low: float,
    high: float | None,
    example: str,
    low_inclusive: bool = True,
) -> float:
    """Reject a config value outside [low, high] (or (low, high]) with the key's name."""
    value = float(value)
    too_low = value < low if low_inclusive else value <= low
    if too_low or (high is not None and value > high):
        bound = f"{'[' if low_inclusive else '('}{low}, {high if high is not None else 'inf'}"
        bound += "]" if high is not None else ")"
        raise ConfigError(f"{name}={value} is outside {bound}", f"set {name}={example}")
    return value
