"""`annealing_kd`: Annealing-KD (Jafari et al., EACL 2021; the authors' code: Huawei's
Annealing-KD `train.py`, TrainManager.train).

Phase 1 (the first `phase1` share of the stage's epochs): the student's logits regress the
teacher's logits scaled by the annealing factor T / max_temperature, MSE; T starts at 1 and
rises by 1 every phase1_epochs // max_temperature epochs (the reference's `epoch %
int(epochs / max_temperature) == 0 and epoch > 0`), so the target sharpens from 1 / max_T of
the teacher's logits to all of them. Phase 2 (the remaining epochs): cross-entropy on the hard
labels alone. The reference trains the phases as two runs (phase 2 restarts from phase 1's best
checkpoint with a fresh optimiser and learning-rate schedule: 200 + 100 epochs on CIFAR); here
they are two spans of one stage with one optimiser, which it states in run.json's terms.
Use it alone (loss=[annealing_kd]): it carries its own hard-label phase.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from distillctl.bounds import OPEN_UNIT, POSITIVE_INT
from distillctl.losses import SampleTerm, Step, every_sample, register
from distillctl.losses.ce import labelled_cross_entropy


def annealing_factor(epoch: int, epochs: int, max_temperature: int, phase1: float) -> float | None:
    """T / max_temperature at 0-based `epoch` of phase 1, or None in phase 2."""
    first = max(int(round(phase1 * epochs)), 1)
    if epoch >= first:
        return None
    every = max(first // int(max_temperature), 1)
    return min(1 + epoch // every, int(max_temperature)) / int(max_temperature)


@register("annealing_kd", max_temperature=POSITIVE_INT, phase1=OPEN_UNIT)
class AnnealingKD(SampleTerm):
    needs_labels = True

    def __init__(self, max_temperature: int = 10, phase1: float = 0.67):
        super().__init__()
        self.max_temperature, self.phase1 = int(max_temperature), float(phase1)

    def factor(self, epoch: int, epochs: int) -> float | None:
        return annealing_factor(epoch, epochs, self.max_temperature, self.phase1)

    def scheduled(self, epoch: int, epochs: int) -> dict[str, float]:
        found = self.factor(epoch, epochs)
        return {"phase": 1.0 if found is not None else 2.0, "factor": found or 0.0}

    def per_sample(self, step: Step) -> tuple[torch.Tensor, torch.Tensor]:
        found = self.factor(step.epoch, step.epochs)
        if found is None:  # phase 2: the hard labels alone
            return labelled_cross_entropy(step.student_logits, step.labels)
        target = step.teacher_logits * found
        return every_sample(F.mse_loss(step.student_logits, target, reduction="none").mean(-1))
