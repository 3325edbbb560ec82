"""`cc`: Correlation Congruence (Peng et al., ICCV 2019).

Beyond matching each sample, match the correlation *between* samples: the batch's Gaussian
RBF kernel matrix of L2-normalised embeddings, k(a, b) = exp(-gamma * ||a - b||^2), computed
with the paper's order-P Taylor expansion of exp(2 gamma a.b), compared as
||C_s - C_t||^2 / N^2. Feature widths may differ (the matrices are N x N).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from distillctl.losses import register
from distillctl.losses.features import FeatureTerm, flat


def correlation(features: torch.Tensor, gamma: float, order: int) -> torch.Tensor:
    e = F.normalize(flat(features), dim=1)
    cos = e @ e.t()
    series = sum((2 * gamma) ** p / math.factorial(p) * cos.pow(p) for p in range(order + 1))
    return math.exp(-2 * gamma) * series


@register("cc")
class CorrelationCongruence(FeatureTerm):
    def __init__(
        self,
        gamma: float = 0.4,
        order: int = 2,
        layers="auto",
        student_layers=None,
        teacher_layers=None,
    ):
        super().__init__(layers, student_layers, teacher_layers)
        self.gamma, self.order = float(gamma), int(order)

    def pair_loss(self, i, student, teacher) -> torch.Tensor:
        n = student.shape[0]
        c_s = correlation(student, self.gamma, self.order)
        c_t = correlation(teacher, self.gamma, self.order)
        return (c_s - c_t).pow(2).sum() / (n * n)
