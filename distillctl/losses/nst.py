"""`nst`: Neuron Selectivity Transfer (Huang & Wang, 2017).

Each channel's activation pattern over the spatial positions (L2-normalised) is a sample
from the model's "neuron selectivity" distribution; match the student's and the teacher's
distributions with the squared MMD under the polynomial kernel k(a, b) = (a . b)^2.
Channel counts may differ; maps of different size are average-pooled to the smaller one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from distillctl.losses import register
from distillctl.losses.features import FeatureTerm, match_spatial
from distillctl.models import SPATIAL_KINDS


def polynomial_kernel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(N, Ca, P), (N, Cb, P) -> (N, Ca, Cb) of (a_i . b_j)^2."""
    return torch.bmm(a, b.transpose(1, 2)).pow(2)


@register("nst", kinds=SPATIAL_KINDS)
class NeuronSelectivityTransfer(FeatureTerm):
    auto_layers = "all"  # RepDistiller: every stage, feat[1:-1], summed

    def build_pair(self, i, student, teacher) -> None:
        self.need_maps(student, teacher, "channel activation patterns over spatial positions")

    def pair_loss(self, i, student, teacher) -> torch.Tensor:
        s, t = match_spatial(student, teacher)
        s = F.normalize(s.flatten(2), dim=2)
        t = F.normalize(t.flatten(2), dim=2)
        return (
            polynomial_kernel(t, t).mean()
            + polynomial_kernel(s, s).mean()
            - 2 * polynomial_kernel(s, t).mean()
        )
