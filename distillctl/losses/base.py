"""What every loss term is: the batch it reads (Step), the shapes it builds from (Shapes), and
the base classes (Term, SampleTerm)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn


@dataclass
class Step:
    """What a term may read about one training batch. Teacher tensors are detached; with a
    term that `needs_graph`, `graph` holds the teacher's logits and features with their graph
    (the input requires grad then, so input gradients exist too)."""

    x: torch.Tensor
    labels: torch.Tensor
    student_logits: torch.Tensor
    teacher_logits: torch.Tensor
    student_features: dict[str, torch.Tensor] = field(default_factory=dict)
    teacher_features: dict[str, torch.Tensor] = field(default_factory=dict)
    index: torch.Tensor | None = None
    epoch: int = 0
    # the stage's epochs (schedules over them: losses/schedules.py)
    epochs: int = 1
    graph: dict[str, Any] = field(default_factory=dict)
    # which positions of padded inputs are real (B, L): texts; None for fixed-shape inputs
    mask: torch.Tensor | None = None


@dataclass
class Shapes:
    """Per-sample output shapes of the tapped layers, and the training set's labels (their
    count is the training-set size; -1 marks an unlabelled sample)."""

    student: dict[str, tuple[int, ...]]
    teacher: dict[str, tuple[int, ...]]
    train_labels: torch.Tensor

    @property
    def num_train(self) -> int:
        return len(self.train_labels)


class Term(nn.Module):
    """One loss term: `forward(step) -> scalar tensor`.

    needs_index: reads `step.index` (the training samples' positions; CRD's memory bank).
    needs_graph: differentiates through the forward passes (explanation-guided terms).
    """

    needs_index = False
    needs_graph = False
    # reads true labels, so it applies to labelled samples only (label -1 marks the others)
    needs_labels = False
    key = "loss"

    def bind(self, student: nn.Module, teacher: nn.Module) -> None:
        """Resolve layer names against the two models (feature terms)."""

    def tapped(self) -> tuple[list[str], list[str]]:
        """Layer names this term reads from the student and from the teacher."""
        return [], []

    def scheduled(self, epoch: int, epochs: int) -> dict[str, float]:
        """Its own options that move with the epoch (kd's temperature), by name."""
        return {}

    def build(self, shapes: Shapes) -> None:
        """Create auxiliary modules from the tapped shapes; reject shapes it cannot use."""

    def samples(self, labels: torch.Tensor) -> torch.Tensor:
        """How many samples of the last batch the term applied to (after `forward`)."""
        # device tensors made on the device: no host-to-device copy in the training step
        return (labels != -1).sum() if self.needs_labels else labels.new_full((), len(labels))

    def forward(self, step: Step) -> torch.Tensor:
        raise NotImplementedError


class SampleTerm(Term):
    """A term that is a mean over samples of one value per sample: `per_sample(step)` gives
    the values (B,) and which samples count (B,) bool; the term is their mean over the counted
    ones. Such a term can also be taken in expectation over a soft tree's leaves
    (distillctl/losses/leafwise.py)."""

    # True: the values of the samples not counted are zeroed but the mean is still over the
    # whole batch (FixMatch's masked mean), so the term's scale does not follow how many count
    mean_over_batch = False

    def __init__(self):
        super().__init__()
        self._counted: torch.Tensor | None = None

    def per_sample(self, step: Step) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def reduce(self, values: torch.Tensor, counted: torch.Tensor) -> torch.Tensor:
        """The mean over the counted samples (or over the batch, `mean_over_batch`), without a
        data-dependent branch (0 when none count)."""
        self._counted = counted.sum()
        over = values.new_tensor(float(len(values))) if self.mean_over_batch else self._counted
        return (values * counted).sum() / over.clamp_min(1)

    def forward(self, step: Step) -> torch.Tensor:
        return self.reduce(*self.per_sample(step))

    def samples(self, labels: torch.Tensor) -> torch.Tensor:
        return self._counted if self._counted is not None else super().samples(labels)


def every_sample(values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """`per_sample`'s answer for a term that applies to every sample."""
    return values, torch.ones_like(values, dtype=torch.bool)


def masked_mean(values: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """The mean of `values` over the entries `keep` marks (broadcast to its shape): a padded
    text's real tokens, or pairs of them."""
    keep = keep.to(values.dtype).expand_as(values)
    return (values * keep).sum() / keep.sum().clamp_min(1.0)
