"""Architectures behind one door: `create_model(cfg, input_shape)`, as timm's create_model.

Each architecture is one module that registers a builder. Models are plain nn.Modules built
from layers (no functional activations, no in-place ops, no reused modules) so that every
explainer, SHAP's DeepExplainer included, can walk them; layers have stable names for taps,
and each builder lists its feature stages in forward order as `model.feature_info` and names
the layer that gives the classifier's input vector as `model.embedding` (see models/taps.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from distillctl.errors import ConfigError
from distillctl.registry import Registry, checked_options

MODELS: Registry[Callable[..., nn.Module]] = Registry("architecture")
register = MODELS.register
# keys of a teacher/student config that are not arguments of the builder
NON_BUILD_KEYS = frozenset({"arch", "ckpt"})


def _load_builtin() -> None:
    from distillctl.models import (  # noqa: F401  (they register themselves)
        cnn,
        cnn1d,
        external,
        mlp,
        mobilenetv2,
        resnet,
        shufflenet,
        soft_tree,
        vgg,
        wrn,
    )


def plain(model_cfg: Any) -> dict[str, Any]:
    from omegaconf import OmegaConf

    if OmegaConf.is_config(model_cfg):
        return OmegaConf.to_container(model_cfg, resolve=True)
    return dict(model_cfg)


def create_model(model_cfg: Any, input_shape: tuple[int, ...], role: str = "model") -> nn.Module:
    """Build the architecture `model_cfg['arch']` for inputs of `input_shape` (no batch dim)."""
    _load_builtin()
    spec = plain(model_cfg)
    arch = spec.get("arch")
    builder = MODELS.get_or_fail(arch, f"{role} architecture")
    kwargs = checked_options(
        builder,
        {k: v for k, v in spec.items() if k not in NON_BUILD_KEYS},
        role,
        f"the '{arch}' architecture",
    )
    if int(kwargs.get("num_classes", 0)) < 2:
        raise ConfigError(
            f"{role}.num_classes={kwargs.get('num_classes')} must be at least 2",
            f"leave {role}.num_classes at the data's class count",
        )
    try:
        return builder(input_shape=tuple(input_shape), **kwargs)
    except ShapeError as exc:
        raise ConfigError(f"{role}={arch} {exc.problem}", exc.fix) from None
    except (RuntimeError, ValueError) as exc:  # its dry forward could not take these inputs
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise ConfigError(
            f"{role}={arch} cannot be built for inputs of shape {tuple(input_shape)} "
            f"({type(exc).__name__}: {first})",
            "choose an architecture for inputs of this size, or resize them (images: "
            "data.image_size=<pixels>)",
        ) from None


class ShapeError(ConfigError):
    """An architecture that cannot take the data's input shape."""


def expect_rank(arch: str, input_shape: tuple[int, ...], rank: int, what: str, fits: str) -> None:
    if len(input_shape) != rank:
        raise ShapeError(
            f"needs {what} inputs, but the data gives shape {tuple(input_shape)}",
            f"choose an architecture for this data, e.g. {fits}",
        )
