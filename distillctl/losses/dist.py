"""`dist`: DIST (Huang et al., NeurIPS 2022), knowledge distillation from a stronger teacher.

Instead of matching probabilities exactly (KL), match their relations with Pearson
correlation: inter-class (each sample's class distribution) and intra-class (each class's
scores across the batch). loss = T^2 * (beta * (1 - inter) + gamma * (1 - intra)).
"""

from __future__ import annotations

import torch

from distillctl.bounds import NON_NEGATIVE, POSITIVE
from distillctl.losses import Step, Term, register


def pearson(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Row-wise Pearson correlation of two (N, D) tensors."""
    a = a - a.mean(-1, keepdim=True)
    b = b - b.mean(-1, keepdim=True)
    return (a * b).sum(-1) / (a.norm(dim=-1) * b.norm(dim=-1) + eps)


@register("dist", beta=NON_NEGATIVE.eg(1), gamma=NON_NEGATIVE.eg(1), temperature=POSITIVE.eg(1))
class DIST(Term):
    def __init__(self, beta: float = 2.0, gamma: float = 2.0, temperature: float = 4.0):
        super().__init__()
        self.beta, self.gamma = float(beta), float(gamma)
        self.temperature = float(temperature)

    def forward(self, step: Step) -> torch.Tensor:
        t = self.temperature
        p_s = (step.student_logits / t).softmax(-1)
        p_t = (step.teacher_logits / t).softmax(-1)
        inter = 1.0 - pearson(p_s, p_t).mean()
        intra = 1.0 - pearson(p_s.t(), p_t.t()).mean()
        return t * t * (self.beta * inter + self.gamma * intra)
