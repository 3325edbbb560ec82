"""Speed options that are not Trainer arguments, applied to a module's networks before `fit`:
`engine.channels_last` (NHWC memory format for convolutions), `engine.compile` with
`compile_mode` and `compile_backend` (torch.compile of the student and of the teacher, in
place, so checkpoint keys stay those of the plain network). Mixed precision is Lightning's own
`trainer.precision` (bf16-mixed, 16-mixed); cudnn's autotuner is on for GPU runs."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

# engine.* keys read here
KEYS = ("channels_last", "compile", "compile_mode", "compile_backend")


def networks(module: nn.Module) -> list[nn.Module]:
    """The student (`model`) and, when distilling, the frozen teacher."""
    return [m for m in (getattr(module, "model", None), getattr(module, "teacher", None)) if m]


def apply(module: nn.Module, options: dict[str, Any], on_gpu: bool) -> None:
    if on_gpu:
        torch.backends.cudnn.benchmark = True
    for network in networks(module):
        if options.get("channels_last"):
            network.to(memory_format=torch.channels_last)
        if options.get("compile"):
            network.compile(
                mode=str(options.get("compile_mode") or "default"),
                backend=str(options.get("compile_backend") or "inductor"),
            )
