"""`dkd`: Decoupled KD (Zhao et al., CVPR 2022).

KD splits into target-class KD (TCKD: the binary [p_gt, 1 - p_gt] distributions) and
non-target-class KD (NCKD: the distributions over the other classes):
KD = TCKD + (1 - p_teacher_gt) * NCKD. DKD weighs them freely: alpha * TCKD + beta * NCKD,
ramped in linearly over the first `warmup` epochs. The target is the label (the teacher's
top-1 for unlabelled samples).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from distillctl.bounds import NON_NEGATIVE, NON_NEGATIVE_INT, POSITIVE
from distillctl.losses import SampleTerm, Step, every_sample, register
from distillctl.losses.ce import UNLABELLED

MASK = 1000.0  # subtracted from the target logit to leave it out of the non-target softmax


def _kl(log_p_student: torch.Tensor, log_p_teacher: torch.Tensor) -> torch.Tensor:
    return F.kl_div(log_p_student, log_p_teacher, reduction="none", log_target=True).sum(-1)


def dkd_parts(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    target: torch.Tensor,
    temperature: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample (TCKD, NCKD), each scaled by T^2 as KD is."""
    t = temperature
    gt = F.one_hot(target, student_logits.shape[-1]).to(student_logits.dtype)

    def binary(logits: torch.Tensor) -> torch.Tensor:
        log_p = F.log_softmax(logits / t, dim=-1)
        log_gt = (log_p * gt).sum(-1)
        log_rest = torch.logsumexp(log_p - MASK * gt, dim=-1)
        return torch.stack([log_gt, log_rest], dim=-1)

    tckd = _kl(binary(student_logits), binary(teacher_logits)) * t * t
    nckd = _kl(
        F.log_softmax(student_logits / t - MASK * gt, dim=-1),
        F.log_softmax(teacher_logits / t - MASK * gt, dim=-1),
    )
    return tckd, nckd * t * t


@register(
    "dkd",
    alpha=NON_NEGATIVE.eg(1),
    beta=NON_NEGATIVE.eg(8),
    temperature=POSITIVE.eg(4),
    warmup=NON_NEGATIVE_INT.eg(20),
)
class DecoupledKD(SampleTerm):
    def __init__(
        self, alpha: float = 1.0, beta: float = 8.0, temperature: float = 4.0, warmup: int = 5
    ):
        super().__init__()
        self.alpha, self.beta = float(alpha), float(beta)
        self.temperature = float(temperature)
        self.warmup = int(warmup)

    def per_sample(self, step: Step) -> tuple[torch.Tensor, torch.Tensor]:
        target = torch.where(step.labels == UNLABELLED, step.teacher_logits.argmax(-1), step.labels)
        tckd, nckd = dkd_parts(step.student_logits, step.teacher_logits, target, self.temperature)
        ramp = min((step.epoch + 1) / self.warmup, 1.0) if self.warmup else 1.0
        return every_sample(ramp * (self.alpha * tckd + self.beta * nckd))
