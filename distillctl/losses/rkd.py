"""`rkd`: Relational KD (Park et al., CVPR 2019), distance and angle.

Distance: pairwise distances within the batch, each model's divided by its mean, matched
with smooth L1. Angle: the cosines of the angles each triple of samples forms, matched with
smooth L1. loss = distance_weight * distance + angle_weight * angle (25 and 50 in the paper).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from distillctl.bounds import NON_NEGATIVE
from distillctl.losses import register
from distillctl.losses.features import FeatureTerm, flat


def normalised_distances(e: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    squared = e.pow(2).sum(1)
    d = (squared[:, None] + squared[None, :] - 2 * e @ e.t()).clamp_min(eps).sqrt()
    d = d * (1 - torch.eye(len(e), device=e.device, dtype=e.dtype))  # zero self-distances
    # the mean of the positive distances, without a data-dependent shape (no host sync)
    mean = d.sum() / (d > 0).sum().clamp_min(1)
    return d / mean.clamp_min(eps)


def angles(e: torch.Tensor) -> torch.Tensor:
    differences = F.normalize(e[None, :, :] - e[:, None, :], p=2, dim=2)
    return torch.bmm(differences, differences.transpose(1, 2)).flatten()


@register("rkd", distance_weight=NON_NEGATIVE.eg(25), angle_weight=NON_NEGATIVE.eg(50))
class RelationalKD(FeatureTerm):
    auto_layers = "embedding"  # RepDistiller: the pooled vector before the classifier, feat[-1]

    def __init__(
        self,
        distance_weight: float = 25.0,
        angle_weight: float = 50.0,
        layers="auto",
        student_layers=None,
        teacher_layers=None,
    ):
        super().__init__(layers, student_layers, teacher_layers)
        self.distance_weight = float(distance_weight)
        self.angle_weight = float(angle_weight)

    def pair_loss(self, i, student, teacher) -> torch.Tensor:
        s, t = flat(student), flat(teacher)
        distance = F.smooth_l1_loss(normalised_distances(s), normalised_distances(t))
        angle = F.smooth_l1_loss(angles(s), angles(t))
        return self.distance_weight * distance + self.angle_weight * angle
