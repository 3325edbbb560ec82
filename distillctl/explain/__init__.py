"""Explainers behind one interface: `explainer=<name>` picks a function

    attribute(model, inputs, targets, background, cfg) -> attributions shaped like inputs

that explains, for each input, the model's output for that input's target class. Adding an
explainer is adding one module that registers itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from distillctl.bounds import ANY_INT, Bound
from distillctl.errors import ConfigError
from distillctl.models import ANY_FLOAT_KIND
from distillctl.registry import Registry

Attribute = Callable[[nn.Module, torch.Tensor, torch.Tensor, torch.Tensor, Any], torch.Tensor]
# explainers whose maps should sum to f(x) - f(reference): reference(cfg, inputs, background)
# gives the reference inputs (f(reference) is the mean output over them)
Reference = Callable[[Any, torch.Tensor, torch.Tensor], torch.Tensor]
# what an explainer chose for a model, to name in the report: details(model, input_shape, cfg)
Details = Callable[[nn.Module, tuple[int, ...], Any], dict[str, str]]


def _always(cfg: Any) -> bool:
    return True


@dataclass(frozen=True)
class ExplainerFacts:
    """What an explainer declares on registration."""

    # whether its maps carry a sign, given its config (saliency with abs and Grad-CAM after its
    # ReLU give magnitudes only)
    signed: Callable[[Any], bool] = _always
    # its maps depend on random draws (seeded from explainer.seed, which it then takes)
    stochastic: bool = False
    # the reference its maps sum from, if they should (completeness)
    complete: Reference | None = None
    # what it chose for a model, for the report (e.g. Grad-CAM's layer)
    details: Details | None = None
    # its options' rules, checked before any run folder exists
    bounds: dict[str, Bound] = field(default_factory=dict)
    # the input kinds (data.kind) it explains
    kinds: tuple[str, ...] = ANY_FLOAT_KIND


EXPLAINERS: Registry[Attribute] = Registry(
    "explainer", package=f"{__name__}.methods", facts=ExplainerFacts
)


def from_background(cfg: Any, inputs: torch.Tensor, background: torch.Tensor) -> torch.Tensor:
    """The expected-gradients family's reference: every background input."""
    return background


def from_baseline(cfg: Any, inputs: torch.Tensor, background: torch.Tensor) -> torch.Tensor:
    """Path methods' reference: the explainer's own baseline input, shared (1, *shape), or
    each input's own as (N, 1, *shape) where the kind makes one per input (texts)."""
    found = baseline(cfg.baseline, inputs, background)
    return found if len(found) == 1 else found[:, None]


def register(
    name: str,
    signed: Callable[[Any], bool] = _always,
    stochastic: bool = False,
    complete: Reference | None = None,
    details: Details | None = None,
    kinds: tuple[str, ...] = ANY_FLOAT_KIND,
    **bounds: Bound,
):
    """Register an explainer under `name` with its facts (ExplainerFacts); `bounds` are those
    of its options (a stochastic one also takes `seed`)."""
    declared = {**({"seed": ANY_INT.eg(0)} if stochastic else {}), **bounds}
    return EXPLAINERS.register(
        name,
        signed=signed,
        stochastic=stochastic,
        complete=complete,
        details=details,
        bounds=declared,
        kinds=tuple(kinds),
    )


def explainer_bounds(name: str) -> dict[str, Bound]:
    return EXPLAINERS.facts(name).bounds


def explainer_details(cfg: Any, model: nn.Module, input_shape: tuple[int, ...]) -> dict:
    """What the explainer `cfg` names chose for `model` (e.g. Grad-CAM's layer), or {}."""
    details = EXPLAINERS.facts(cfg.name).details
    return {} if details is None else details(model, input_shape, cfg)


def completeness_reference(
    cfg: Any, inputs: torch.Tensor, background: torch.Tensor
) -> torch.Tensor | None:
    """The inputs the explainer `cfg` names sums its maps from (None: no such property)."""
    reference = EXPLAINERS.facts(cfg.name).complete
    return None if reference is None else reference(cfg, inputs, background)


def signed_maps(cfg: Any) -> bool:
    """Whether the explainer `cfg` names gives signed maps."""
    return bool(EXPLAINERS.facts(cfg.name).signed(cfg))


def is_stochastic(name: str) -> bool:
    return EXPLAINERS.facts(name).stochastic


def get_explainer(name: str) -> Attribute:
    return EXPLAINERS.get_or_fail(name)


class ClassOutput(nn.Module):
    """The model's logit for one class, as a (N, 1) output: one explained output per call."""

    def __init__(self, model: nn.Module, target: int):
        super().__init__()
        self.model = model
        self.target = int(target)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)[:, self.target : self.target + 1]


def per_target(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    explain_one: Callable[[nn.Module, torch.Tensor], torch.Tensor],
) -> torch.Tensor:
    """Explain each input for its own target class: the inputs are grouped by target, and
    `explain_one(single_output_model, group)` explains a group for one class."""
    out = torch.zeros_like(inputs)
    for target in torch.unique(targets).tolist():
        idx = (targets == target).nonzero(as_tuple=True)[0]
        out[idx] = explain_one(ClassOutput(model, target), inputs[idx]).to(out)
    return out


def baseline(
    how: str, inputs: torch.Tensor, background: torch.Tensor, key: str = "explainer.baseline"
) -> torch.Tensor:
    """The reference input (1, *shape), as the inputs' kind defines it (zeros, or the
    background's mean): explainers that integrate from it and the faithfulness measures that
    remove features to it share it."""
    from distillctl.inputs import kind_of

    if how not in ("zero", "mean"):
        raise ConfigError(f"{key}={how} is not a baseline", "choose zero or mean")
    try:
        return kind_of(inputs).baseline(how, inputs, background)
    except ConfigError as exc:  # the kind's own refusal, named by the option that chose it
        raise ConfigError(f"{key}: {exc.problem}", exc.fix) from None
