"""`pseudo_ce`: cross-entropy of the student against the teacher's top-1 class (a pseudo-label,
Lee 2013, "Pseudo-Label"; the hard-label counterpart of `kd`), with label smoothing `alpha`
(Szegedy et al. 2016: the target puts 1 - alpha on the pseudo-label and alpha / K on every
class), for every sample, labelled or not:

    L = (1 / B) sum_i m_i (-sum_k q_ik log softmax(s_i)_k),   m_i = [max_k p_T(k | x_i) >= tau]
    q_ik = (1 - alpha) [k = argmax t_i] + alpha / K

`min_confidence` (tau) keeps only samples whose teacher softmax peak is at least that; as in
FixMatch (Sohn et al. 2020, eq. 4: (1 / mu B) sum_b 1(max q_b >= tau) H(q^_b, p_b); its PyTorch
ports take `(F.cross_entropy(..., reduction='none') * mask).mean()`), the masked values are
averaged over the whole batch B, so the term's weight does not swing with how many pass.
`mean_over=kept` averages over the kept samples instead. metrics.csv's train/samples_pseudo_ce
counts the kept ones.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from distillctl.bounds import HALF_OPEN_UNIT, Bound, one_of
from distillctl.losses import SampleTerm, Step, register

UNIT = Bound("a number in [0, 1]", lambda v: isinstance(v, int | float) and 0 <= v <= 1)
MEAN_OVER = ("batch", "kept")


@register(
    "pseudo_ce",
    alpha=HALF_OPEN_UNIT.eg(0.1),
    min_confidence=UNIT.eg(0.9),
    mean_over=one_of(*MEAN_OVER).eg("batch"),
)
class PseudoLabelCE(SampleTerm):
    def __init__(self, alpha: float = 0.0, min_confidence: float = 0.0, mean_over: str = "batch"):
        super().__init__()
        self.alpha, self.min_confidence = float(alpha), float(min_confidence)
        self.mean_over_batch = mean_over == "batch"

    def per_sample(self, step: Step) -> tuple[torch.Tensor, torch.Tensor]:
        teacher = F.softmax(step.teacher_logits.float(), dim=-1)
        confidence, pseudo = teacher.max(-1)
        values = F.cross_entropy(
            step.student_logits, pseudo, reduction="none", label_smoothing=self.alpha
        )
        return values, confidence >= self.min_confidence
