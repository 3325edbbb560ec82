"""`crd`: Contrastive Representation Distillation (Tian et al., ICLR 2020).

Student and teacher features are embedded (a linear layer each, L2-normalised, feat_dim
wide). A memory bank per model holds one embedding for every training sample; for each
sample, its own entry in the other model's bank is the positive and `negatives` random
entries are the negatives, scored exp(v . m / T) and normalised by a constant Z estimated on
the first batch. The NCE loss (both directions) trains the student and the embedders; the
banks follow the embeddings with momentum.

Needs each batch's sample indices (the data module's `with_index`). Memory: two banks of
num_train x feat_dim floats, e.g. 2 x 50,000 x 128 x 4 B = 51 MB for CIFAR's training set
(in the checkpoint too), plus one score per bank entry per sample of a batch (batch x
num_train floats, 13 MB for a batch of 64 on CIFAR).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from distillctl.errors import ConfigError
from distillctl.losses import Shapes, Step, register
from distillctl.losses.features import FeatureTerm

EPS = 1e-7


def nce_loss(scores: torch.Tensor, num_data: int) -> torch.Tensor:
    """scores (N, 1 + K): the positive first. Noise-contrastive estimation with uniform noise."""
    k = scores.shape[1] - 1
    noise = k / num_data
    positive = torch.log(scores[:, 0] / (scores[:, 0] + noise + EPS))
    negative = torch.log(noise / (scores[:, 1:] + noise + EPS))
    return -(positive.sum() + negative.sum()) / scores.shape[0]


@register("crd")
class ContrastiveRepresentation(FeatureTerm):
    needs_index = True

    def __init__(
        self,
        feat_dim: int = 128,
        negatives: int = 4096,
        temperature: float = 0.07,
        momentum: float = 0.5,
        layers="auto",
        student_layers=None,
        teacher_layers=None,
    ):
        super().__init__(layers, student_layers, teacher_layers)
        self.feat_dim, self.negatives = int(feat_dim), int(negatives)
        self.temperature, self.momentum = float(temperature), float(momentum)

    def build(self, shapes: Shapes) -> None:
        if len(self.student_layers) != 1:
            raise ConfigError(
                f"{self.key} contrasts one representation per model, got layers "
                f"{self.student_layers}",
                f"name one layer ({self.key}.layers=auto taps the penultimate stage)",
            )
        s, t = self.student_layers[0], self.teacher_layers[0]
        n = int(shapes.num_train)
        self.num_data = n
        self.k = min(self.negatives, n - 1)
        self.embed_student = nn.Linear(math.prod(shapes.student[s]), self.feat_dim)
        self.embed_teacher = nn.Linear(math.prod(shapes.teacher[t]), self.feat_dim)
        bound = 1.0 / math.sqrt(self.feat_dim / 3)
        for name in ("memory_student", "memory_teacher"):
            self.register_buffer(name, torch.rand(n, self.feat_dim).mul_(2 * bound).sub_(bound))
        self.register_buffer("z", torch.full((2,), -1.0))  # normalisers, set on the first batch

    def forward(self, step: Step) -> torch.Tensor:
        ((student, teacher),) = self.pairs(step)
        index = step.index
        v_s = F.normalize(self.embed_student(student.flatten(1)), dim=1)
        v_t = F.normalize(self.embed_teacher(teacher.flatten(1)), dim=1)
        contrast = torch.randint(0, self.num_data, (len(index), self.k + 1), device=index.device)
        contrast[:, 0] = index
        # the student's embedding against the teacher's bank, and the other way round: one
        # (N x bank) product, then the sampled columns (cheaper than gathering N x K rows)
        out_s = torch.exp((v_s @ self.memory_teacher.t()).gather(1, contrast) / self.temperature)
        out_t = torch.exp((v_t @ self.memory_student.t()).gather(1, contrast) / self.temperature)
        # Z is estimated once, on the first batch; written without a host sync
        estimate = torch.stack([out_s.mean(), out_t.mean()]).detach() * self.num_data
        self.z.copy_(torch.where(self.z < 0, estimate, self.z))
        loss = nce_loss(out_s / self.z[0], self.num_data) + nce_loss(
            out_t / self.z[1], self.num_data
        )
        with torch.no_grad():  # out of place: the products above saved the old banks
            for name, v in (("memory_student", v_s), ("memory_teacher", v_t)):
                bank = getattr(self, name)
                moved = F.normalize(bank[index] * self.momentum + v * (1 - self.momentum), dim=1)
                setattr(self, name, bank.index_copy(0, index, moved))
        return loss
