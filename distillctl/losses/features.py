"""What feature-based terms share: layer pairs, shape checks, and learned adapters.

A FeatureTerm compares student layer i with teacher layer i. `layers` names them for both
models, or picks them by a named choice (see distillctl/models/taps.py: `all` stages, paired from
the end; `last`; `middle`; `embedding`); `auto` is the term's `auto_layers`, the place its
reference implementation taps. `student_layers` / `teacher_layers` override one side.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from distillctl.errors import ConfigError
from distillctl.losses import Shapes, Step, Term
from distillctl.models.stages import resolve_layers

Shape = tuple[int, ...]


class FeatureTerm(Term):
    auto_layers = "last"  # what `auto` means for this method: its reference's tap
    # its pair_loss takes the batch's attention mask (`mask=`) for per-token maps of texts
    reads_mask = False

    def __init__(
        self, layers: Any = "auto", student_layers: Any = None, teacher_layers: Any = None
    ):
        super().__init__()
        self.spec = {
            "student": (student_layers, "student_layers")
            if student_layers is not None
            else (layers, "layers"),
            "teacher": (teacher_layers, "teacher_layers")
            if teacher_layers is not None
            else (layers, "layers"),
        }
        self.student_layers: list[str] = []
        self.teacher_layers: list[str] = []

    def bind(self, student: nn.Module, teacher: nn.Module) -> None:
        chosen, picked = {}, set()
        for role, model in (("student", student), ("teacher", teacher)):
            spec, option = self.spec[role]
            spec = self.auto_layers if spec in (None, "auto") else spec
            picked.add(spec if isinstance(spec, str) else None)
            chosen[role] = resolve_layers(model, spec, role, f"{self.key}.{option}")
        if picked & {"all", "attention"}:  # every stage (block) of each, paired from the end
            n = min(len(chosen["student"]), len(chosen["teacher"]))
            chosen = {role: names[len(names) - n :] for role, names in chosen.items()}
        if len(chosen["student"]) != len(chosen["teacher"]):
            raise ConfigError(
                f"{self.key} pairs student layers {chosen['student']} with teacher layers "
                f"{chosen['teacher']}: the counts differ",
                f"name as many student as teacher layers ({self.key}.student_layers / "
                f"{self.key}.teacher_layers)",
            )
        self.student_layers, self.teacher_layers = chosen["student"], chosen["teacher"]

    def tapped(self) -> tuple[list[str], list[str]]:
        return self.student_layers, self.teacher_layers

    def build(self, shapes: Shapes) -> None:
        for i, (s, t) in enumerate(zip(self.student_layers, self.teacher_layers)):
            self.build_pair(i, (s, shapes.student[s]), (t, shapes.teacher[t]))

    def build_pair(self, i: int, student: tuple[str, Shape], teacher: tuple[str, Shape]) -> None:
        """Check (and make adapters for) pair i: (layer name, per-sample shape) of each side."""

    def pairs(self, step: Step) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return [
            (step.student_features[s], step.teacher_features[t])
            for s, t in zip(self.student_layers, self.teacher_layers)
        ]

    def forward(self, step: Step) -> torch.Tensor:
        if step.mask is not None and self.reads_mask:
            pairs = enumerate(self.pairs(step))
            return sum(self.pair_loss(i, s, t, mask=step.mask) for i, (s, t) in pairs)
        return sum(self.pair_loss(i, s, t) for i, (s, t) in enumerate(self.pairs(step)))

    def pair_loss(self, i: int, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def need_maps(self, student: tuple[str, Shape], teacher: tuple[str, Shape], what: str) -> None:
        """Reject a pair that is not two spatial maps (C, L) / (C, H, W) of the same rank."""
        for role, (name, shape) in (("student", student), ("teacher", teacher)):
            if len(shape) < 2:
                raise ConfigError(
                    f"{self.key} compares {what}, but {role} layer '{name}' gives a vector "
                    f"{shape} with no spatial axis",
                    f"tap convolutional layers ({self.key}.{role}_layers=[...]; `distillctl "
                    f"list layers {role}=<arch>`), or use a method for vectors (sp, pkt, rkd, "
                    "cc, crd, fitnet)",
                )
        if len(student[1]) != len(teacher[1]):
            raise ConfigError(
                f"{self.key}: student layer '{student[0]}' gives {student[1]} but teacher layer "
                f"'{teacher[0]}' gives {teacher[1]}: maps of different rank",
                "tap layers of the same kind (both 1-D or both 2-D maps)",
            )


def match_spatial(
    student: torch.Tensor, teacher: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Average-pool the larger of two maps (N, C, *spatial) down to the smaller's size."""
    size = tuple(min(a, b) for a, b in zip(student.shape[2:], teacher.shape[2:]))
    pool = F.adaptive_avg_pool1d if student.dim() == 3 else F.adaptive_avg_pool2d
    if tuple(student.shape[2:]) != size:
        student = pool(student, size)
    if tuple(teacher.shape[2:]) != size:
        teacher = pool(teacher, size)
    return student, teacher


def adapter(student: Shape, teacher: Shape) -> nn.Module:
    """A learned linear map from the flattened student features to the teacher's shape (for
    layers of different kinds, a map and a vector)."""
    return nn.Sequential(
        nn.Flatten(), nn.Linear(math.prod(student), math.prod(teacher)), nn.Unflatten(1, teacher)
    )


def flat(features: torch.Tensor) -> torch.Tensor:
    return features.flatten(1)
