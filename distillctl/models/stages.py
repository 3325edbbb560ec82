"""Feature stages in timm's `feature_info` format, for every model the same way, and the layers
a config's named choice means.

timm models list their feature stages as dicts {"module": name, "num_chs": C, "reduction": R}
(R: input size / the stage's spatial size). `declare(model, input_shape, names, embedding)`
measures those by one dry forward, so a builder only names its stages; `stage_names(model)`
reads the names back from either that format or a plain list of names.

Builders name the layer whose output is the vector the classifier reads as `model.embedding`.
Named choices, in RepDistiller's terms (its `feat` list: stem, stages..., pooled vector):
  `all`        every feature stage (`feat[1:-1]`; AT, NST, VID)
  `last`       the last feature stage (`feat[-2]`; SP, Grad-CAM for E2KD)
  `middle`     the middle stage, the lower one of two (`feat[hint_layer=2]`; FitNets)
  `embedding`  the vector right before the classifier (`feat[-1]`; RKD, PKT, CC, CRD)
  `attention`  a transformer's attention probabilities per block (heads, L, L), declared
               apart from its hidden-state stages so `last` and `middle` stay states
`auto` is each method's own choice (its reference's), declared by the term.
`distillctl list layers teacher=cnn` prints the names and output shapes of any model.
"""

from __future__ import annotations

import difflib
from typing import Any

from torch import nn

from distillctl.errors import ConfigError
from distillctl.models.taps import layer_names, output_shapes


def declare(
    model: nn.Module, input_shape: tuple[int, ...], names: list[str], embedding: str
) -> nn.Module:
    shapes = output_shapes(model, tuple(input_shape), list(names))
    # positions along the last axis: a map's width, a signal's or a text's length
    size = input_shape[-1] if len(input_shape) > 1 or getattr(model, "input_kind", None) else 1
    info = []
    for name in names:
        shape = shapes[name]
        spatial = shape[-1] if len(shape) > 1 else 1
        info.append(
            {"module": name, "num_chs": int(shape[0]), "reduction": size // max(spatial, 1)}
        )
    model.feature_info = info
    model.embedding = embedding
    return model


def stage_names(model: nn.Module) -> list[str]:
    info: Any = getattr(model, "feature_info", None) or []
    if hasattr(info, "module_name"):  # a timm FeatureInfo object
        return list(info.module_name())
    return [entry["module"] if isinstance(entry, dict) else str(entry) for entry in info]


def _listing_hint(role: str) -> str:
    return f"`distillctl list layers {role}=<arch>` prints the layer names of a model"


def feature_stages(model: nn.Module, role: str) -> list[str]:
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


def _attention(model: nn.Module, role: str) -> list[str]:
    names = list(getattr(model, "attention_layers", None) or [])
    if not names:
        raise ConfigError(
            f"the {role} model declares no attention probabilities (only the transformer does)",
            f"name the layers (loss.<method>.{role}_layers=[<name>]); {_listing_hint(role)}",
        )
    return names


NAMED: dict[str, Any] = {
    "all": feature_stages,
    "last": lambda model, role: feature_stages(model, role)[-1:],
    "middle": _middle,
    "embedding": _embedding,
    "attention": _attention,
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
