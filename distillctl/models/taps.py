"""Feature taps: forward hooks that record the outputs of modules named in the config.

A model's layers are addressed by their `named_modules()` names (`features.block2`, `fc1`).
Builders list their feature stages, in forward order, as `model.feature_info` in timm's format
(dicts with `module`, `num_chs`, `reduction`; see models/stages.py),
and name the layer whose output is the vector the classifier reads as `model.embedding`.
Named choices, in RepDistiller's terms (its `feat` list: stem, stages..., pooled vector):
  `all`        every feature stage (`feat[1:-1]`; AT, NST, VID)
  `last`       the last feature stage (`feat[-2]`; SP, Grad-CAM for E2KD)
  `middle`     the middle stage, the lower one of two (`feat[hint_layer=2]`; FitNets)
  `embedding`  the vector right before the classifier (`feat[-1]`; RKD, PKT, CC, CRD)
`auto` is each method's own choice (its reference's), declared by the term.
`distillctl list layers teacher=cnn` prints the names and output shapes of any model.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from distillctl.errors import ConfigError


def layer_names(model: nn.Module) -> list[str]:
    return [name for name, _ in model.named_modules() if name]


def _listing_hint(role: str) -> str:
    return f"`distillctl list layers {role}=<arch>` prints the layer names of a model"


def feature_stages(model: nn.Module, role: str) -> list[str]:
    from distillctl.models.stages import stage_names

    stages = stage_names(model)
    if not stages:
        raise ConfigError(
            f"the {role} model declares no feature stages, so 'auto' cannot pick a layer",
            f"name the layers (e.g. loss.<method>.{role}_layers=[<name>]); {_listing_hint(role)}",
        )
    return stages


def _middle(model: nn.Module, role: str) -> list[str]:
    stages = feature_stages(model, role)
    return [stages[(len(stages) - 1) // 2]]


def _embedding(model: nn.Module, role: str) -> list[str]:
    name = getattr(model, "embedding", None)
    if not name:
        raise ConfigError(
            f"the {role} model names no embedding layer (the vector its classifier reads)",
            f"name the layer (loss.<method>.{role}_layers=[<name>]); {_listing_hint(role)}",
        )
    return [name]


NAMED: dict[str, Any] = {
    "all": feature_stages,
    "last": lambda model, role: feature_stages(model, role)[-1:],
    "middle": _middle,
    "embedding": _embedding,
}


def resolve_layers(model: nn.Module, spec: Any, role: str, key: str) -> list[str]:
    """The layer names `spec` means in `model`: a list of names, a name, one of NAMED, or
    `auto` = `last` (loss terms map `auto` to their reference's choice before asking)."""
    if spec in (None, "auto"):
        spec = "last"
    if isinstance(spec, str) and spec in NAMED:
        return NAMED[spec](model, role)
    names = [spec] if isinstance(spec, str) else [str(s) for s in spec]
    if not names:
        raise ConfigError(f"{key} is empty", f"name at least one layer, or set {key}=auto")
    known = layer_names(model)
    for name in names:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
            hint = f"did you mean {', '.join(close)}? " if close else ""
            raise ConfigError(
                f"{key}: the {role} has no layer '{name}'",
                f"{hint}its layers are: {', '.join(known)}; {_listing_hint(role)}",
            )
    return names


class FeatureTaps:
    """Forward hooks on named modules; outputs are kept only inside `capture()`."""

    def __init__(self, model: nn.Module, names: list[str]):
        self.outputs: dict[str, torch.Tensor] = {}
        self.names = list(dict.fromkeys(names))
        self._armed = False
        self._handles = [
            model.get_submodule(name).register_forward_hook(self._hook(name))
            for name in dict.fromkeys(names)
        ]

    def _hook(self, name: str):
        def record(module: nn.Module, args: Any, output: torch.Tensor) -> None:
            if self._armed:
                self.outputs[name] = output

        return record

    @contextmanager
    def capture(self) -> Iterator[dict[str, torch.Tensor]]:
        self.outputs = {}
        self._armed = True
        try:
            yield self.outputs
        finally:
            self._armed = False

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []


@torch.no_grad()
def output_shapes(
    model: nn.Module, input_shape: tuple[int, ...], names: list[str] | None = None
) -> dict[str, tuple[int, ...]]:
    """Per-sample output shape of each named layer (all layers by default), by one dry forward
    of two zero inputs in eval mode (BatchNorm statistics are left as they were)."""
    names = layer_names(model) if names is None else names
    taps = FeatureTaps(model, names)
    was_training = model.training
    model.eval()
    try:
        with taps.capture() as outputs:
            device = next(model.parameters()).device
            model(torch.zeros(2, *input_shape, device=device))
    finally:
        model.train(was_training)
        taps.remove()
    return {
        name: tuple(outputs[name].shape[1:])
        for name in names
        if isinstance(outputs.get(name), torch.Tensor)
    }
