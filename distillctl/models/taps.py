"""Feature taps: forward hooks that record the outputs of modules named by their
`named_modules()` names (`features.block2`, `fc1`), and the dry forward that measures them.
Which layers a name like `last` means is models/stages.py's job.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from distillctl.inputs import example_input


def layer_names(model: nn.Module) -> list[str]:
    return [name for name, _ in model.named_modules() if name]


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
            model(example_input(tuple(input_shape), device=device, model=model))
    finally:
        model.train(was_training)
        taps.remove()
    return {
        name: tuple(outputs[name].shape[1:])
        for name in names
        if isinstance(outputs.get(name), torch.Tensor)
    }
