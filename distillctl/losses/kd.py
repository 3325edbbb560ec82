"""Hinton, Vinyals & Dean 2015: soft targets at temperature T.

kd term = T^2 * KL(softmax(t / T) || softmax(s / T)), averaged over the batch. The T^2 keeps the
gradient's size independent of T. The recipe: alpha * CE(labels) + (1 - alpha) * kd.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from distillctl.losses import WeightedTerm, check_range, register
from distillctl.losses.ce import CrossEntropy, label_smoothing


class SoftTargetKL(nn.Module):
    def __init__(self, temperature: float = 4.0):
        super().__init__()
        self.temperature = float(temperature)

    def forward(
        self,
        student_logits: torch.Tensor,
        teacher_logits: torch.Tensor,
        labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        t = self.temperature
        log_p_student = F.log_softmax(student_logits / t, dim=-1)
        log_p_teacher = F.log_softmax(teacher_logits / t, dim=-1)
        kl = F.kl_div(log_p_student, log_p_teacher, reduction="batchmean", log_target=True)
        return kl * (t * t)


@register("kd")
def kd_recipe(loss_cfg) -> list[WeightedTerm]:
    temperature = check_range(
        "loss.temperature", loss_cfg.temperature, 0.0, None, "4", low_inclusive=False
    )
    alpha = check_range("loss.alpha", loss_cfg.alpha, 0.0, 1.0, "0.1")
    return [
        WeightedTerm("ce", alpha, CrossEntropy(label_smoothing(loss_cfg))),
        WeightedTerm("kd", 1.0 - alpha, SoftTargetKL(temperature)),
    ]
