"""Plain evaluation outside the Trainer: a model's accuracy on a split, on the run's device."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn


def device_for(cfg: Any) -> torch.device:
    """The device the trainer config would train on (a GPU only when it asks for one and one
    is visible)."""
    wanted = str(cfg.trainer.get("accelerator", "auto")).lower()
    if wanted in ("auto", "gpu", "cuda") and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


@torch.no_grad()
def accuracy_on(model: nn.Module, batches: Iterable, device: torch.device) -> float:
    """Top-1 accuracy of `model` (put in eval mode on `device`) on Batches there."""
    right = total = 0
    model.eval().to(device)
    for batch in batches:
        right += int((model(batch.inputs).argmax(-1) == batch.labels).sum())
        total += len(batch)
    return right / max(total, 1)
