"""`saliency_match`: match the student's input-gradient map to the teacher's.

Gradient-based attention transfer (Zagoruyko & Komodakis 2017, section 3.2): the saliency
map d logit / d x for the teacher's top-1 class, reduced over input channels to a
normalised map |g|^p (as `at` does for activations); the term is the mean squared difference
of the two maps. The student's gradient is taken with create_graph, so it trains.
"""

from __future__ import annotations

import torch

from distillctl.bounds import POSITIVE
from distillctl.losses import Step, Term, register
from distillctl.losses.at import attention_distance
from distillctl.losses.gradmaps import input_gradient
from distillctl.models import ANY_FLOAT_KIND


def with_channel_axis(grads: torch.Tensor) -> torch.Tensor:
    """(N, F) tabular gradients get a channel axis: (N, 1, F); images and signals have one."""
    return grads[:, None] if grads.dim() == 2 else grads


# input gradients: token ids have none
@register("saliency_match", kinds=ANY_FLOAT_KIND, p=POSITIVE.eg(2))
class SaliencyMatch(Term):
    needs_graph = True

    def __init__(self, p: float = 2.0):
        super().__init__()
        self.p = float(p)

    def forward(self, step: Step) -> torch.Tensor:
        target = step.teacher_logits.argmax(-1)
        student = input_gradient(step.student_logits, step.x, target, create_graph=True)
        teacher = input_gradient(step.graph["teacher_logits"], step.x, target, False).detach()
        return attention_distance(with_channel_axis(student), with_channel_axis(teacher), self.p)
