"""`at`: Attention Transfer (Zagoruyko & Komodakis, ICLR 2017).

A layer's attention map is the channel mean of |activation|^p (p = 2), flattened and
L2-normalised; the term is the mean squared difference of the student's and the teacher's
maps, summed over the tapped layer pairs. Maps of different spatial size are average-pooled
to the smaller one. beta = 1000 (the paper's) is the term's weight.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from distillctl.bounds import POSITIVE
from distillctl.losses import register
from distillctl.losses.features import FeatureTerm, match_spatial
from distillctl.models import SPATIAL_KINDS


def attention_map(features: torch.Tensor, p: float = 2.0) -> torch.Tensor:
    """(N, C, *spatial) -> (N, prod(spatial)): normalised channel mean of |f|^p."""
    return F.normalize(features.abs().pow(p).mean(1).flatten(1), dim=1)


def attention_distance(
    student: torch.Tensor, teacher: torch.Tensor, p: float = 2.0
) -> torch.Tensor:
    return (attention_map(student, p) - attention_map(teacher, p)).pow(2).mean()


@register("at", kinds=SPATIAL_KINDS, p=POSITIVE.eg(2))
class AttentionTransfer(FeatureTerm):
    auto_layers = "all"  # RepDistiller: every stage, feat[1:-1], summed

    def __init__(self, p: float = 2.0, layers="auto", student_layers=None, teacher_layers=None):
        super().__init__(layers, student_layers, teacher_layers)
        self.p = float(p)

    def build_pair(self, i, student, teacher) -> None:
        self.need_maps(student, teacher, "spatial attention maps")

    def pair_loss(self, i, student, teacher) -> torch.Tensor:
        return attention_distance(*match_spatial(student, teacher), self.p)
