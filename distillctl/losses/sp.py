"""`sp`: Similarity-Preserving KD (Tung & Mori, ICCV 2019).

Inputs that the teacher represents alike should be represented alike by the student: match
the row-normalised batch similarity matrices G = normalize(F F^T) of the flattened features,
||G_s - G_t||_F^2 / N^2. Feature widths may differ (the matrices are N x N).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from distillctl.losses import register
from distillctl.losses.features import FeatureTerm, flat


def similarity(features: torch.Tensor) -> torch.Tensor:
    f = flat(features)
    return F.normalize(f @ f.t(), dim=1)


@register("sp")
class SimilarityPreserving(FeatureTerm):
    auto_layers = "last"  # RepDistiller: the last stage's map, feat[-2]

    def pair_loss(self, i, student, teacher) -> torch.Tensor:
        n = student.shape[0]
        return (similarity(student) - similarity(teacher)).pow(2).sum() / (n * n)
