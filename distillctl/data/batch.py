"""One batch as every stage, loss and measure reads it: named fields, not a positional tuple."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Batch:
    """A batch on the training device. Lightning moves dataclasses field by field, so a Batch
    crosses `transfer_batch_to_device` like a tuple did.

    inputs: the inputs as the network takes them (B, *shape), in the kind's dtype
    labels: class indices (B,), -1 for a sample without a class (transfer sets)
    index: the samples' positions in the training split (B,) when a term reads them (CRD's
        memory bank, the teacher-output cache), else None
    mask: which positions of each input are real (B, L) for inputs padded to a common
        length, None for inputs of one fixed shape
    """

    inputs: torch.Tensor
    labels: torch.Tensor
    index: torch.Tensor | None = None
    mask: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.labels)
