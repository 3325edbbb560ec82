"""`vid`: Variational Information Distillation (Ahn et al., CVPR 2019).

Maximise a variational lower bound on the mutual information between teacher and student
features: a regressor predicts the mean of a Gaussian over the teacher's features from the
student's, with a learned per-channel variance (softplus, at least eps); the term is the
Gaussian's negative log-likelihood of the teacher's features (constant dropped).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from distillctl.losses import register
from distillctl.losses.features import FeatureTerm, adapter


@register("vid")
class VariationalInformation(FeatureTerm):
    def __init__(
        self,
        init_variance: float = 5.0,
        eps: float = 1e-5,
        layers="auto",
        student_layers=None,
        teacher_layers=None,
    ):
        super().__init__(layers, student_layers, teacher_layers)
        self.init_variance, self.eps = float(init_variance), float(eps)
        self.regressors = nn.ModuleList()
        self.log_scales = nn.ParameterList()

    def build_pair(self, i, student, teacher) -> None:
        channels = teacher[1][0]
        self.regressors.append(adapter(student[1], teacher[1], hidden=2 * channels))
        start = math.log(math.expm1(self.init_variance - self.eps))  # softplus^-1
        self.log_scales.append(nn.Parameter(torch.full((channels,), start)))

    def pair_loss(self, i, student, teacher) -> torch.Tensor:
        mean = self.regressors[i](student)
        variance = F.softplus(self.log_scales[i]) + self.eps
        variance = variance.view(1, -1, *[1] * (teacher.dim() - 2))
        return 0.5 * ((mean - teacher).pow(2) / variance + variance.log()).mean()
