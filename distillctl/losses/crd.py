"""`crd`: Contrastive Representation Distillation (Tian et al., ICLR 2020).

Student and teacher features (the pooled vector before the classifier, as RepDistiller's
feat[-1]) are embedded (a linear layer each, L2-normalised, feat_dim wide). A memory bank per
model holds one embedding for every training sample; for each sample, its own entry in the
other model's bank is the positive and `negatives` entries are the negatives, scored
exp(v . m / T) and normalised by a constant Z estimated on the first batch. The NCE loss (both
directions) trains the student and the embedders; the banks follow the embeddings with
momentum.

Negatives follow RepDistiller's CIFAR path (`dataset/cifar100.py` CIFAR100InstanceSample,
mode 'exact', `--nce_k 16384`): `sampling: other_class` draws them from samples of *other
classes* only, without replacement; `uniform` draws from all samples (the positive and its
class may appear), as CRD's non-sampling data path does. `negatives` is capped by the data:
at most the size of the smallest other-class pool (other_class; the reference would repeat
draws there), or num_train - 1 (uniform). Unlabelled samples (-1) count as one more class.

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

from distillctl.bounds import POSITIVE, POSITIVE_INT, UNIT
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


SAMPLING = ("other_class", "uniform")


def other_class_negatives(labels: torch.Tensor, index: torch.Tensor, k: int) -> torch.Tensor:
    """(N, k) training indices, for each sample k distinct ones of another class, uniformly.
    Random scores with the sample's own class pushed to -inf; the k highest are a uniform draw
    without replacement (k must not exceed the smallest other-class pool)."""
    scores = torch.rand(len(index), len(labels), device=index.device)
    same = labels[index][:, None] == labels[None, :]
    return scores.masked_fill(same, -1.0).topk(k, dim=1).indices


@register(
    "crd",
    process_state="memory banks",
    needs_every_class=True,
    feat_dim=POSITIVE_INT.eg(128),
    negatives=POSITIVE_INT.eg(1024),
    temperature=POSITIVE.eg(0.07),
    momentum=UNIT.eg(0.5),
)
class ContrastiveRepresentation(FeatureTerm):
    auto_layers = "embedding"  # RepDistiller: the pooled vector before the classifier, feat[-1]
    needs_index = True

    def __init__(
        self,
        feat_dim: int = 128,
        negatives: int = 16384,
        sampling: str = "other_class",
        temperature: float = 0.07,
        momentum: float = 0.5,
        layers="auto",
        student_layers=None,
        teacher_layers=None,
    ):
        super().__init__(layers, student_layers, teacher_layers)
        if sampling not in SAMPLING:
            raise ConfigError(
                f"loss.crd.sampling={sampling!r} is not one of {', '.join(SAMPLING)}",
                "use sampling=other_class (the reference) or sampling=uniform",
            )
        self.feat_dim, self.negatives = int(feat_dim), int(negatives)
        self.sampling = sampling
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
        labels = shapes.train_labels
        _, counts = labels.unique(return_counts=True)
        pool = n - int(counts.max()) if self.sampling == "other_class" else n - 1
        if pool < 1:
            raise ConfigError(
                f"{self.key}.sampling=other_class needs samples of at least two classes; the "
                "training split has one",
                f"set {self.key}.sampling=uniform",
            )
        self.k = min(self.negatives, pool)
        self.register_buffer("labels", labels.clone())
        self.embed_student = nn.Linear(math.prod(shapes.student[s]), self.feat_dim)
        self.embed_teacher = nn.Linear(math.prod(shapes.teacher[t]), self.feat_dim)
        bound = 1.0 / math.sqrt(self.feat_dim / 3)
        for name in ("memory_student", "memory_teacher"):
            self.register_buffer(name, torch.rand(n, self.feat_dim).mul_(2 * bound).sub_(bound))
        self.register_buffer("z", torch.full((2,), -1.0))  # normalisers, set on the first batch

    def draw_negatives(self, index: torch.Tensor) -> torch.Tensor:
        if self.sampling == "other_class":
            return other_class_negatives(self.labels, index, self.k)
        return torch.randint(0, self.num_data, (len(index), self.k), device=index.device)

    def forward(self, step: Step) -> torch.Tensor:
        ((student, teacher),) = self.pairs(step)
        index = step.index
        v_s = F.normalize(self.embed_student(student.flatten(1)), dim=1)
        v_t = F.normalize(self.embed_teacher(teacher.flatten(1)), dim=1)
        contrast = torch.cat([index[:, None], self.draw_negatives(index)], dim=1)
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
