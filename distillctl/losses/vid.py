"""`vid`: Variational Information Distillation (Ahn et al., CVPR 2019).

Maximise a variational lower bound on the mutual information between teacher and student
features: a regressor predicts the mean of a Gaussian over the teacher's features from the
student's, with a learned per-channel variance (softplus, at least eps); the term is the
Gaussian's negative log-likelihood of the teacher's features (constant dropped), averaged.

As RepDistiller's `distiller_zoo/VID.py` (the authors' code) and its `train_student.py`: every
stage is tapped (feat[1:-1]), the regressor is three bias-free 1x1 convolutions
student -> teacher -> teacher -> teacher channels with ReLUs between, and when the two maps differ
in size the larger one (student's or teacher's) is average-pooled to the smaller one.
Vectors (an MLP's layers) get the same stack as linear layers.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from distillctl.bounds import POSITIVE
from distillctl.errors import ConfigError
from distillctl.losses import register
from distillctl.losses.features import FeatureTerm, match_spatial


def vid_regressor(in_channels: int, out_channels: int, rank: int) -> nn.Sequential:
    """in -> out -> out -> out channels, bias-free, ReLU between: 1x1 convolutions for maps
    (rank 2 or 3 per sample), linear layers for vectors (rank 1)."""
    layer = {1: nn.Linear, 2: nn.Conv1d, 3: nn.Conv2d}[rank]
    widths = [in_channels, out_channels, out_channels, out_channels]

    def make(a: int, b: int) -> nn.Module:
        return layer(a, b, bias=False) if rank == 1 else layer(a, b, 1, bias=False)

    layers: list[nn.Module] = []
    for a, b in zip(widths, widths[1:]):
        layers += [make(a, b), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


@register("vid", eps=POSITIVE.eg("1e-5"))
class VariationalInformation(FeatureTerm):
    auto_layers = "all"  # RepDistiller: every stage, feat[1:-1], one regressor each

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
        if len(student[1]) != len(teacher[1]):
            raise ConfigError(
                f"{self.key}: student layer '{student[0]}' gives {student[1]} but teacher layer "
                f"'{teacher[0]}' gives {teacher[1]}: VID regresses maps onto maps (or vectors "
                "onto vectors)",
                f"tap layers of the same kind ({self.key}.student_layers / teacher_layers)",
            )
        channels = teacher[1][0]
        self.regressors.append(vid_regressor(student[1][0], channels, len(teacher[1])))
        start = math.log(math.expm1(self.init_variance - self.eps))  # softplus^-1
        self.log_scales.append(nn.Parameter(torch.full((channels,), start)))

    def pair_loss(self, i, student, teacher) -> torch.Tensor:
        if student.dim() > 2:
            student, teacher = match_spatial(student, teacher)
        mean = self.regressors[i](student)
        variance = F.softplus(self.log_scales[i]) + self.eps
        variance = variance.view(1, -1, *[1] * (teacher.dim() - 2))
        return 0.5 * ((mean - teacher).pow(2) / variance + variance.log()).mean()
