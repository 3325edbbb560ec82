"""`lskd`: KD with logit standardisation (Sun et al., CVPR 2024).

Each sample's logits are z-scored before the softmax, so the student matches the teacher's
logit *relations* rather than their scale; then KD at temperature T (T^2-scaled). The
paper's CIFAR setting weighs it 90 times the hard-label term (ce 0.1, kd 9) at T = 2.
"""

from __future__ import annotations

import torch

from distillctl.bounds import POSITIVE
from distillctl.losses import SampleTerm, Step, every_sample, register
from distillctl.losses.kd import soft_kl


def standardise(logits: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    mean = logits.mean(-1, keepdim=True)
    std = logits.std(-1, keepdim=True)
    return (logits - mean) / (std + eps)


@register("lskd", temperature=POSITIVE.eg(2))
class StandardisedKD(SampleTerm):
    def __init__(self, temperature: float = 2.0):
        super().__init__()
        self.temperature = float(temperature)

    def per_sample(self, step: Step) -> tuple[torch.Tensor, torch.Tensor]:
        s, t = standardise(step.student_logits), standardise(step.teacher_logits)
        return every_sample(soft_kl(s, t, self.temperature, per_sample=True))
