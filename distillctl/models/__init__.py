"""Architectures behind one door: `create_model(cfg, input_shape)`, as timm's create_model.

Each architecture is one module that registers a builder. Models are plain nn.Modules built
from layers (no functional activations, no in-place ops, no reused modules) so that every
explainer, SHAP's DeepExplainer included, can walk them; layers have stable names for taps,
and each builder lists its feature stages in forward order as `model.feature_info` and names
the layer that gives the classifier's input vector as `model.embedding` (see models/taps.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from distillctl.bounds import Bound
from distillctl.configuration.plain import plain
from distillctl.errors import ConfigError
from distillctl.registry import Registry, checked_options

# the input kinds a network that flattens its input (or takes any tensor) builds for
ANY_FLOAT_KIND = ("image", "signal", "tabular")
# ... and token ids besides (terms on logits or pooled vectors, perturbation explainers)
ANY_KIND = (*ANY_FLOAT_KIND, "text")
# the input kinds whose feature maps keep spatial axes (attention maps, Grad-CAM)
SPATIAL_KINDS = ("image", "signal")


@dataclass(frozen=True)
class ArchFacts:
    """What an architecture declares on registration."""

    # the input kinds (data.kind: image, signal, tabular) it builds for
    kinds: tuple[str, ...] = ("image",)
    # its own options' rules, checked where a role chooses it (before any run folder) and by the
    # builder: (option, rule, example)
    options: tuple[tuple[str, Bound, str], ...] = ()
    # a check of the config alone (role's node, role) before any run folder exists: a user's
    # class can be imported, a timm name exists
    early: Callable[[dict, str], None] | None = None
    # built by another library or the user's code: no one network to compare weights with
    external: bool = False
    # a check of the role's node against the whole config (its data), before any run folder,
    # for the stages that use the role: (node, cfg, role) -> None or a ConfigError
    fits_data: Callable[[dict, Any, str], None] | None = None


MODELS: Registry[Callable[..., nn.Module]] = Registry(
    "architecture", package=__name__, facts=ArchFacts
)
register = MODELS.register
# the student option naming the teacher blocks it starts from (models/init_from_teacher.py)
INIT_KEY = "init_from_teacher"
# keys of a teacher/student config that are not arguments of the builder
NON_BUILD_KEYS = frozenset({"arch", "ckpt", INIT_KEY})


def check_options(arch: str, given: dict[str, Any], role: str) -> None:
    """`given` against the rules `arch` declares for its options (ArchFacts.options)."""
    from distillctl.bounds import check

    for option, bound, example in MODELS.facts(arch, f"{role} architecture").options:
        if option in given:
            check(f"{role}.{option}", given[option], bound.eg(example))


def create_model(model_cfg: Any, input_shape: tuple[int, ...], role: str = "model") -> nn.Module:
    """Build the architecture `model_cfg['arch']` for inputs of `input_shape` (no batch dim)."""
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
