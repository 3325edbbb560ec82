"""Feature stages in timm's `feature_info` format, for every model the same way.

timm models list their feature stages as dicts {"module": name, "num_chs": C, "reduction": R}
(R: input size / the stage's spatial size). `declare(model, input_shape, names, embedding)`
measures those by one dry forward, so a builder only names its stages; `stage_names(model)`
reads the names back from either that format or a plain list of names.
"""

from __future__ import annotations

from typing import Any

from torch import nn


def declare(
    model: nn.Module, input_shape: tuple[int, ...], names: list[str], embedding: str
) -> nn.Module:
    from distillctl.models.taps import output_shapes

    shapes = output_shapes(model, tuple(input_shape), list(names))
    size = input_shape[-1] if len(input_shape) > 1 else 1
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
