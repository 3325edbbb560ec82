"""`cc`: Correlation Congruence (Peng et al., ICCV 2019).

Beyond matching each sample, match the correlation *between* samples: the batch's Gaussian
RBF kernel matrix of L2-normalised embeddings, k(a, b) = exp(-gamma * ||a - b||^2), computed
with the paper's order-P Taylor expansion of exp(2 gamma a.b), compared as
||C_s - C_t||^2 / N^2. Feature widths may differ (the matrices are N x N).

Reference: the paper's equations (Peng et al. 2019, the Gaussian-RBF correlation with its
Taylor expansion), on the pooled vector before the classifier (RepDistiller's feat[-1]), with
no learned embedding. RepDistiller's `distiller_zoo/CC.py` (code the authors shared) computes
something else, mean_i sum_d |e_s - e_t|_i,d * |e_s - e_t|_(i+1),d over consecutive samples of
learned 128-d embeddings; distillctl follows the paper, and its weight (1) is not tuned.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from distillctl.bounds import NON_NEGATIVE
from distillctl.losses import register
from distillctl.losses.features import FeatureTerm, flat


def correlation(features: torch.Tensor, gamma: float, order: int) -> torch.Tensor:
    e = F.normalize(flat(features), dim=1)
    cos = e @ e.t()
    series = sum((2 * gamma) ** p / math.factorial(p) * cos.pow(p) for p in range(order + 1))
    return math.exp(-2 * gamma) * series


@register("cc", gamma=NON_NEGATIVE.eg(1))
class CorrelationCongruence(FeatureTerm):
    auto_layers = "embedding"  # RepDistiller: the pooled vector before the classifier, feat[-1]

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
