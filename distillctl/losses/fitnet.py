"""`fitnet`: FitNets hints (Romero et al., ICLR 2015).

A learned regressor maps the student's hint layer to the teacher's guided layer's shape; the
term is their mean squared error. As RepDistiller (`train_student.py`, `models/util.py`
ConvReg): one middle stage is the hint (feat[hint_layer=2], the middle of a CIFAR ResNet's
three stages), and the regressor is one convolution chosen by the two sizes (stride 2 when the
student's map is twice the teacher's, a stride-2 transposed convolution when half, else a
(1 + s - t)-wide kernel), then BatchNorm and ReLU. Vectors get Linear + BatchNorm + ReLU; maps
and vectors, a linear map of the flattened features. The regressor trains with the student
and is not part of the exported student.

`regressor=false` is plain feature matching, L = (1/d) ||f_s - f_t||^2 per sample (d the
number of feature values), which needs equal shapes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from distillctl.errors import ConfigError
from distillctl.losses import register
from distillctl.losses.base import masked_mean
from distillctl.losses.features import FeatureTerm, Shape, adapter

CONV = {
    2: (nn.Conv1d, nn.ConvTranspose1d, nn.BatchNorm1d),
    3: (nn.Conv2d, nn.ConvTranspose2d, nn.BatchNorm2d),
}


def conv_regressor(student: Shape, teacher: Shape, key: str) -> nn.Module:
    """RepDistiller's ConvReg for maps of rank 2 (C, L) or 3 (C, H, W)."""
    conv, transposed, norm = CONV[len(student)]
    s_size, t_size = student[1:], teacher[1:]
    if all(s == 2 * t for s, t in zip(s_size, t_size)):
        layer = conv(student[0], teacher[0], 3, stride=2, padding=1)
    elif all(2 * s == t for s, t in zip(s_size, t_size)):
        layer = transposed(student[0], teacher[0], 4, stride=2, padding=1)
    elif all(s >= t for s, t in zip(s_size, t_size)):
        layer = conv(student[0], teacher[0], tuple(1 + s - t for s, t in zip(s_size, t_size)))
    else:
        raise ConfigError(
            f"{key}: the student's hint map {student} is smaller than the teacher's {teacher} "
            "(and not half of it), which FitNets' convolutional regressor cannot map",
            f"tap a teacher layer no larger than the student's ({key}.teacher_layers=[...])",
        )
    return nn.Sequential(layer, norm(teacher[0]), nn.ReLU())


def regressor_for(student: Shape, teacher: Shape, key: str) -> nn.Module:
    if len(student) == len(teacher) and len(student) in CONV:
        return conv_regressor(student, teacher, key)
    if len(student) == len(teacher) == 1:
        return nn.Sequential(
            nn.Linear(student[0], teacher[0]), nn.BatchNorm1d(teacher[0]), nn.ReLU()
        )
    return adapter(student, teacher)


@register("fitnet")
class FitNet(FeatureTerm):
    auto_layers = "middle"  # RepDistiller: hint_layer=2, the middle stage
    reads_mask = True

    def __init__(
        self, regressor: bool = True, layers="auto", student_layers=None, teacher_layers=None
    ):
        super().__init__(layers, student_layers, teacher_layers)
        self.use_regressor = bool(regressor)
        self.regressors = nn.ModuleList()

    def build_pair(self, i, student, teacher) -> None:
        if self.use_regressor:
            self.regressors.append(regressor_for(student[1], teacher[1], self.key))
        elif student[1] != teacher[1]:
            raise ConfigError(
                f"{self.key}: student layer '{student[0]}' gives {student[1]} but teacher layer "
                f"'{teacher[0]}' gives {teacher[1]}, and without a regressor the shapes must "
                "be equal",
                f"set {self.key}.regressor=true (a learned map to the teacher's shape), or tap "
                "layers of equal shape",
            )
        else:
            self.regressors.append(nn.Identity())

    def pair_loss(self, i, student, teacher, mask=None) -> torch.Tensor:
        """Mean squared error over the feature values; on padded texts' per-token maps
        (B, d, L) over the real tokens' values only, on attention maps (B, heads, L, L) over
        the pairs of real tokens only."""
        fitted = self.regressors[i](student)
        length = None if mask is None else mask.shape[-1]
        if length is None or teacher.dim() not in (3, 4) or teacher.shape[-1] != length:
            return F.mse_loss(fitted, teacher)
        keep = mask[:, None, :]  # (B, 1, L)
        if teacher.dim() == 4:  # query and key positions both real
            if teacher.shape[-2] != length:
                return F.mse_loss(fitted, teacher)
            keep = (mask[:, :, None] & mask[:, None, :])[:, None]  # (B, 1, L, L)
        return masked_mean((fitted - teacher).pow(2), keep)
