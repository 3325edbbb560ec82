"""`consistency`: the student is pushed to agree with the teacher's predictions.

form=mse (default): the consistency cost of the Pi-model / Temporal Ensembling (Laine & Aila,
ICLR 2017) and Mean Teacher (Tarvainen & Valpola, NeurIPS 2017), as the Mean Teacher reference
code computes it (CuriousAI/mean-teacher, pytorch/mean_teacher/losses.py `softmax_mse_loss`,
summed over the batch, divided by the number of classes, then by the batch size):

    L = mean_i (1/K) sum_k (softmax(s_i / T)_k - softmax(t_i / T)_k)^2

It is bounded and does not blow up on confident wrong predictions, which is why those papers
chose it over KL for targets that may be wrong; it is the default here for that reason.

form=softplus: L = mean_i (1/K) sum_k log(1 + exp(theta * (s_ik - t_ik))), a smooth one-sided
penalty on student logits above the teacher's (theta a temperature-like scale). On its own it
only pushes logits down, so use it beside a term that pulls them (ce or kd).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from distillctl.bounds import POSITIVE, one_of
from distillctl.losses import SampleTerm, Step, every_sample, register


def softmax_mse(student_logits, teacher_logits, temperature: float) -> torch.Tensor:
    """Per sample."""
    p_s = F.softmax(student_logits / temperature, dim=-1)
    p_t = F.softmax(teacher_logits / temperature, dim=-1)
    return ((p_s - p_t) ** 2).mean(-1)


def softplus_gap(student_logits, teacher_logits, theta: float) -> torch.Tensor:
    """Per sample."""
    return F.softplus(theta * (student_logits - teacher_logits)).mean(-1)


FORMS = {
    "mse": lambda term, s, t: softmax_mse(s, t, term.temperature),
    "softplus": lambda term, s, t: softplus_gap(s, t, term.theta),
}


@register(
    "consistency",
    form=one_of(*FORMS).eg("mse"),
    temperature=POSITIVE.eg(1),
    theta=POSITIVE.eg(1),
)
class Consistency(SampleTerm):
    def __init__(self, form: str = "mse", temperature: float = 1.0, theta: float = 1.0):
        super().__init__()
        self.form, self.temperature, self.theta = str(form), float(temperature), float(theta)

    def per_sample(self, step: Step) -> tuple[torch.Tensor, torch.Tensor]:
        return every_sample(FORMS[self.form](self, step.student_logits, step.teacher_logits))
