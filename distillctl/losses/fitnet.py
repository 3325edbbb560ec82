"""`fitnet`: FitNets hints (Romero et al., ICLR 2015).

A learned regressor maps the student's hint layer to the teacher's guided layer's shape
(1x1 convolutions between maps, a linear layer otherwise); the term is their mean squared
error. The regressor trains with the student and is not part of the exported student.
`regressor=false` compares the features as they are, which needs equal shapes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from distillctl.errors import ConfigError
from distillctl.losses import register
from distillctl.losses.features import FeatureTerm, adapter


@register("fitnet")
class FitNet(FeatureTerm):
    def __init__(
        self, regressor: bool = True, layers="auto", student_layers=None, teacher_layers=None
    ):
        super().__init__(layers, student_layers, teacher_layers)
        self.use_regressor = bool(regressor)
        self.regressors = nn.ModuleList()

    def build_pair(self, i, student, teacher) -> None:
        if self.use_regressor:
            self.regressors.append(adapter(student[1], teacher[1]))
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

    def pair_loss(self, i, student, teacher) -> torch.Tensor:
        return F.mse_loss(self.regressors[i](student), teacher)
