"""`ce`: cross-entropy on hard labels, with optional label smoothing; unlabelled samples (-1)
are masked out. Most recipes keep it beside a distillation term: loss=[ce,kd]."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from distillctl.bounds import HALF_OPEN_UNIT
from distillctl.losses import SampleTerm, Step, register

UNLABELLED = -1


def labelled_cross_entropy(
    logits: torch.Tensor, labels: torch.Tensor, label_smoothing: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample cross-entropy (B,) and which samples are labelled (B,)."""
    per_sample = F.cross_entropy(
        logits, labels.clamp_min(0), reduction="none", label_smoothing=label_smoothing
    )
    return per_sample, labels != UNLABELLED


def masked_cross_entropy(
    logits: torch.Tensor, labels: torch.Tensor, label_smoothing: float = 0.0
) -> torch.Tensor:
    """Mean cross-entropy over the labelled samples (0 when there are none)."""
    per_sample, labelled = labelled_cross_entropy(logits, labels, label_smoothing)
    # sum over labelled samples / their count, written without a data-dependent branch
    return (per_sample * labelled).sum() / labelled.sum().clamp_min(1)


@register("ce", label_smoothing=HALF_OPEN_UNIT.eg(0.1))
class CrossEntropy(SampleTerm):
    needs_labels = True

    def __init__(self, label_smoothing: float = 0.0):
        super().__init__()
        self.label_smoothing = float(label_smoothing)

    def per_sample(self, step: Step) -> tuple[torch.Tensor, torch.Tensor]:
        return labelled_cross_entropy(step.student_logits, step.labels, self.label_smoothing)


def label_smoothing(recipe: Any) -> float:
    """The `ce` term's label smoothing (a RecipeSpec's), which supervised training uses too (0
    without `ce`)."""
    return float(recipe.option("ce", "label_smoothing", 0.0)) if recipe is not None else 0.0
