"""Input kinds: what differs between images, signals, tables (and what a new kind brings).

An input kind is one module in this package that registers an InputKind: the shape of one
input (its rank), how inputs are stored, the example input a dry run feeds a network, the
augmentation `distill.transfer=augment` turns on where the data config has none, the
explainers' and faithfulness measures' reference input, and the report's pictures of maps
and of a soft tree's filters (named as "module:function", imported only when a report is
drawn). A data source says which kind its splits are (`Splits.kind`); everything else asks
`kind(name)` instead of branching on the name. docs/architecture.md says how to add one.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from distillctl.errors import ConfigError
from distillctl.registry import Registry


def patches(shape: tuple[int, ...], size: int) -> torch.Tensor:
    """Group ids of one input's features: square patches of `size` over its spatial axes (an
    image's H x W, a signal's length), all channels of a position together."""
    spatial = shape[1:]
    ids = torch.zeros(spatial, dtype=torch.long)
    per_axis = [-(-n // size) for n in spatial]
    grids = torch.meshgrid(*[torch.arange(n) // size for n in spatial], indexing="ij")
    for axis, grid in enumerate(grids):
        stride = 1
        for later in per_axis[axis + 1 :]:
            stride *= later
        ids = ids + grid * stride
    return ids.expand(shape).clone()


def single_features(shape: tuple[int, ...], size: int) -> torch.Tensor:
    """Group ids of one input's features: each feature its own group (a table's columns)."""
    return torch.arange(int(torch.tensor(shape).prod())).reshape(shape)


def _pixels(normalise: Any) -> Any:
    from distillctl.data.pixels import Pixels

    return Pixels(normalise)


def _lazy(target: str) -> Callable[..., Any]:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class InputKind:
    name: str
    # axes of one input: image (C, H, W) 3, signal (C, L) 2, table (F,) 1
    rank: int
    # the augmentation `augment` turns on where the data config has none: shape -> options
    views: Callable[[tuple[int, ...]], dict[str, float]]
    # "module:function" drawing the chosen inputs' maps (report/figures.py's signature)
    drawer: str
    # "module:function" drawing one soft-tree filter, and what the caption says of it ({top}:
    # how many features a filter shows)
    tree_filter: str
    tree_caption: str
    # how inputs are fed to networks (None: torch's default float type, as the networks' own)
    dtype: torch.dtype | None = None
    # how a perturbation masks features together (LIME's interpretable features): the group id
    # of every feature of one input, given its shape and a group size (explainer.patch)
    feature_groups: Callable[[tuple[int, ...], int], torch.Tensor] = patches
    # how stored samples become network inputs, given the training split's per-channel
    # statistics (Splits.normalise): an object with scale (before augmentation), standardise
    # (after it) and inputs (both); by default data/pixels.py's (uint8 scaled to [0, 1], then
    # normalised where there are statistics; float inputs pass through)
    preparation: Callable[[Any], Any] = _pixels
    # the reference inputs `baseline` can make (explainer.baseline, explain.quality.baseline)
    baselines: tuple[str, ...] = ("zero", "mean")

    def example(self, shape: tuple[int, ...], n: int = 2, device: Any = None) -> torch.Tensor:
        """`n` inputs a dry run feeds a network to measure its layers: zeros of the storage
        dtype (two by default: BatchNorm in train mode needs more than one)."""
        dtype = self.dtype or torch.get_default_dtype()
        return torch.zeros(n, *shape, dtype=dtype, device=device)

    def baseline(self, how: str, inputs: torch.Tensor, background: torch.Tensor) -> torch.Tensor:
        """The reference input (1, *shape) explainers integrate from and faithfulness measures
        remove features to: zeros, or the background's mean."""
        if how == "zero":
            return torch.zeros_like(inputs[:1])
        if how == "mean":
            return background.mean(0, keepdim=True)
        raise ConfigError(f"baseline={how} is not a baseline", "choose zero or mean")

    def mask(self, inputs: torch.Tensor) -> torch.Tensor | None:
        """Which positions of padded inputs are real (N, L), or None: inputs of one fixed
        shape have no padding."""
        return None

    def model_free(self, inputs: torch.Tensor, background: torch.Tensor) -> torch.Tensor:
        """A map of how unusual each feature is with no model at all (the sanity check's
        comparison): |x - mean(background)|."""
        return (inputs - background.mean(0, keepdim=True)).abs()

    def draw_maps(self, *args: Any, **kwargs: Any):
        return _lazy(self.drawer)(*args, **kwargs)

    def draw_filter(self, *args: Any, **kwargs: Any) -> None:
        _lazy(self.tree_filter)(*args, **kwargs)


KINDS: Registry[InputKind] = Registry("input kind", package=__name__)


def register(kind: InputKind) -> InputKind:
    return KINDS.register(kind.name)(kind)


def kind(name: str) -> InputKind:
    return KINDS.get_or_fail(name)


# any tensor of a shape no registered kind has (a user's network may take one): float zeros
# for dry runs, zero / mean baselines; it has no pictures
TENSOR = InputKind(
    name="tensor", rank=-1, views=lambda shape: {}, drawer="", tree_filter="", tree_caption=""
)


def for_shape(shape: tuple[int, ...]) -> InputKind:
    """The float kind whose inputs have as many axes as `shape`, else TENSOR (a dry run or an
    explainer's baseline, where only the tensor is known)."""
    for entry in KINDS.values():
        if entry.rank == len(shape) and (entry.dtype is None or entry.dtype.is_floating_point):
            return entry
    return TENSOR


def kind_of(inputs: torch.Tensor) -> InputKind:
    """The kind of a batch of inputs (N, *shape): by dtype first (token ids are the only
    integer inputs), then by rank (see for_shape)."""
    if not inputs.is_floating_point():
        for entry in KINDS.values():
            if entry.dtype == inputs.dtype and entry.rank == inputs.dim() - 1:
                return entry
    return for_shape(tuple(inputs.shape[1:]))


def example_input(
    shape: tuple[int, ...], n: int = 2, device: Any = None, model: Any = None
) -> torch.Tensor:
    """The example input of `model`'s input kind (a network that names one as `input_kind`:
    the text networks), else of the kind of `shape` (see for_shape)."""
    named = getattr(model, "input_kind", None)
    entry = kind(named) if named else for_shape(tuple(shape))
    return entry.example(tuple(shape), n, device)
