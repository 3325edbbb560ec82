"""Cross-entropy on hard labels, with optional label smoothing; unlabelled samples (-1) masked."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from distillctl.losses import WeightedTerm, check_range, register

UNLABELLED = -1


class CrossEntropy(nn.Module):
    def __init__(self, label_smoothing: float = 0.0):
        super().__init__()
        self.label_smoothing = float(label_smoothing)

    def forward(
        self,
        student_logits: torch.Tensor,
        teacher_logits: torch.Tensor | None,
        labels: torch.Tensor,
    ) -> torch.Tensor:
        labelled = labels != UNLABELLED
        # sum over labelled samples / their count, written without a data-dependent branch
        per_sample = F.cross_entropy(
            student_logits,
            labels.clamp_min(0),
            reduction="none",
            label_smoothing=self.label_smoothing,
        )
        return (per_sample * labelled).sum() / labelled.sum().clamp_min(1)


def label_smoothing(loss_cfg) -> float:
    return check_range(
        "loss.label_smoothing", loss_cfg.get("label_smoothing", 0.0), 0.0, 1.0, "0.1"
    )


@register("ce")
def ce_recipe(loss_cfg) -> list[WeightedTerm]:
    return [WeightedTerm("ce", 1.0, CrossEntropy(label_smoothing(loss_cfg)))]
