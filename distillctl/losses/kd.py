"""`kd`: Hinton, Vinyals & Dean 2015, soft targets at temperature T.

kd = T^2 * KL(softmax(t / T) || softmax(s / T)), averaged over the batch. The T^2 keeps the
gradient's size independent of T. The classic recipe is loss=[ce,kd] with weights 0.1 and 0.9.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from distillctl.bounds import POSITIVE, one_of
from distillctl.losses import SampleTerm, Step, every_sample, register
from distillctl.losses.schedules import SCHEDULE, parse


def soft_kl(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    temperature: float,
    per_sample: bool = False,
) -> torch.Tensor:
    """T^2 * KL(p_teacher || p_student) at temperature T; batch mean, or one value per sample."""
    log_p_student = F.log_softmax(student_logits / temperature, dim=-1)
    log_p_teacher = F.log_softmax(teacher_logits / temperature, dim=-1)
    kl = F.kl_div(log_p_student, log_p_teacher, reduction="none", log_target=True).sum(-1)
    kl = kl * temperature**2
    return kl if per_sample else kl.mean()


def entropy_weights(student_logits: torch.Tensor) -> torch.Tensor:
    """Dynamic KD's per-sample weights (Li et al., EMNLP 2021; lancopku/DynamicKD's
    `dynamic_kd_loss`): the student's predictive entropy at T = 1 over its upper bound log C,
    without gradient; a sample the student is unsure of counts more."""
    with torch.no_grad():
        p = F.softmax(student_logits, dim=-1)
        entropy = -(p * torch.log(p + 1e-6)).sum(-1)
        return entropy / math.log(student_logits.shape[-1])


SAMPLE_WEIGHTS = ("none", "entropy")


@register(
    "kd",
    temperature=POSITIVE,
    temperature_schedule=SCHEDULE.eg("cosine:0.25"),
    sample_weight=one_of(*SAMPLE_WEIGHTS),
)
class SoftTargetKL(SampleTerm):
    def __init__(
        self,
        temperature: float = 4.0,
        temperature_schedule: str = "constant",
        sample_weight: str = "none",
    ):
        super().__init__()
        self.temperature = float(temperature)
        # entropy: each sample's KL times entropy_weights, then the batch mean (Dynamic KD)
        self.sample_weight = str(sample_weight)
        # T of an epoch = temperature * the schedule's factor (losses/schedules.py)
        self.temperature_schedule = parse(temperature_schedule, "loss.kd.temperature_schedule")

    def temperature_at(self, epoch: int, epochs: int) -> float:
        return self.temperature * self.temperature_schedule.factor(epoch, epochs)

    def scheduled(self, epoch: int, epochs: int) -> dict[str, float]:
        if self.temperature_schedule.constant:
            return {}
        return {"temperature": self.temperature_at(epoch, epochs)}

    def per_sample(self, step: Step) -> tuple[torch.Tensor, torch.Tensor]:
        temperature = self.temperature_at(step.epoch, step.epochs)
        values = soft_kl(step.student_logits, step.teacher_logits, temperature, per_sample=True)
        if self.sample_weight == "entropy":
            values = values * entropy_weights(step.student_logits)
        return every_sample(values)
