"""`pkt`: Probabilistic Knowledge Transfer (Passalis & Tefas, ECCV 2018).

Turn each model's cosine similarities within the batch into conditional probabilities
(shifted to [0, 1], rows normalised) and minimise KL(teacher || student) between them.
Feature widths may differ.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from distillctl.bounds import POSITIVE
from distillctl.losses import register
from distillctl.losses.features import FeatureTerm, flat


def conditional_probabilities(features: torch.Tensor, eps: float) -> torch.Tensor:
    f = F.normalize(flat(features), dim=1, eps=eps)
    similarity = (f @ f.t() + 1.0) / 2.0
    return similarity / similarity.sum(1, keepdim=True)


@register("pkt", eps=POSITIVE.eg("1e-7"))
class ProbabilisticTransfer(FeatureTerm):
    auto_layers = "embedding"  # RepDistiller: the pooled vector before the classifier, feat[-1]

    def __init__(self, eps: float = 1e-7, layers="auto", student_layers=None, teacher_layers=None):
        super().__init__(layers, student_layers, teacher_layers)
        self.eps = float(eps)

    def pair_loss(self, i, student, teacher) -> torch.Tensor:
        p_s = conditional_probabilities(student, self.eps)
        p_t = conditional_probabilities(teacher, self.eps)
        return (p_t * torch.log((p_t + self.eps) / (p_s + self.eps))).mean()
