"""`pseudo_ce`: cross-entropy of the student against the teacher's top-1 class (a pseudo-label,
Lee 2013, "Pseudo-Label"; the hard-label counterpart of `kd`), with label smoothing `alpha`
(Szegedy et al. 2016: the target puts 1 - alpha on the pseudo-label and alpha / K on every
class), for every sample, labelled or not:

    L = mean over kept i of  -sum_k q_ik log softmax(s_i)_k,
    q_ik = (1 - alpha) [k = argmax t_i] + alpha / K

`min_confidence` keeps only samples whose teacher softmax peak is at least that (FixMatch's
threshold, Sohn et al. 2020); metrics.csv's train/samples_pseudo_ce counts the kept ones.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from distillctl.bounds import HALF_OPEN_UNIT, Bound
from distillctl.losses import SampleTerm, Step, register

UNIT = Bound("a number in [0, 1]", lambda v: isinstance(v, int | float) and 0 <= v <= 1)


@register("pseudo_ce", alpha=HALF_OPEN_UNIT.eg(0.1), min_confidence=UNIT.eg(0.9))
class PseudoLabelCE(SampleTerm):
    def __init__(self, alpha: float = 0.0, min_confidence: float = 0.0):
        super().__init__()
        self.alpha, self.min_confidence = float(alpha), float(min_confidence)

    def per_sample(self, step: Step) -> tuple[torch.Tensor, torch.Tensor]:
        teacher = F.softmax(step.teacher_logits.float(), dim=-1)
        confidence, pseudo = teacher.max(-1)
        values = F.cross_entropy(
            step.student_logits, pseudo, reduction="none", label_smoothing=self.alpha
        )
        return values, confidence >= self.min_confidence  # the mean is over the kept ones
