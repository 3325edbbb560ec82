"""`kd`: Hinton, Vinyals & Dean 2015, soft targets at temperature T.

kd = T^2 * KL(softmax(t / T) || softmax(s / T)), averaged over the batch. The T^2 keeps the
gradient's size independent of T. The classic recipe is loss=[ce,kd] with weights 0.1 and 0.9.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from distillctl.bounds import POSITIVE
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


@register("kd", temperature=POSITIVE, temperature_schedule=SCHEDULE.eg("cosine:0.25"))
class SoftTargetKL(SampleTerm):
    def __init__(self, temperature: float = 4.0, temperature_schedule: str = "constant"):
        super().__init__()
        self.temperature = float(temperature)
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
        return every_sample(
            soft_kl(step.student_logits, step.teacher_logits, temperature, per_sample=True)
        )
