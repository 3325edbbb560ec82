"""How stored samples become model inputs: uint8 pixels scaled to [0, 1], then normalised with
the training split's per-channel statistics. One implementation for the training batches (on
the device, around the augmentation) and for the arrays explainers read (`Splits.inputs`)."""

from __future__ import annotations

import torch


class Pixels:
    """uint8 images become model inputs on the device: scaled to [0, 1] before augmentation
    (so padding fills black, as torchvision's RandomCrop does), normalised after it."""

    def __init__(self, normalise: tuple[list[float], list[float]] | None):
        self.normalise = normalise
        self._stats: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def scale(self, x: torch.Tensor) -> torch.Tensor:
        return x.float().div_(255.0) if x.dtype == torch.uint8 else x

    def standardise(self, x: torch.Tensor) -> torch.Tensor:
        if self.normalise is None:
            return x
        key = str(x.device)
        if key not in self._stats:
            shape = (1, -1, *[1] * (x.dim() - 2))
            mean, std = (
                torch.tensor(v, dtype=x.dtype, device=x.device).view(shape) for v in self.normalise
            )
            self._stats[key] = (mean, std)
        mean, std = self._stats[key]
        return (x - mean) / std

    def mask(self, x: torch.Tensor) -> None:
        """Images, signals and tables have no padding."""
        return None

    def inputs(self, x: torch.Tensor) -> torch.Tensor:
        """Both steps at once, where nothing happens between them (evaluation, explanation)."""
        return self.standardise(self.scale(x))
