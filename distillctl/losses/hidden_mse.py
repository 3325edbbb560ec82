"""`hidden_mse`: TinyBERT's hidden-state and embedding-layer distillation (Jiao et al., EMNLP
Findings 2020; huawei-noah/Pretrained-Language-Model, TinyBERT/task_distill.py).

L = MSE(E_s W, E_t) + sum over student blocks m of MSE(H_s[m] W, H_t[g(m)]), with E the embedding
layer's output, H a block's output, W one learned linear map from the student's width to the
teacher's shared by every pair (task_distill.py's `fit_dense`), and g the layer mapping
(`uniform`: the last teacher block of each group of N / M; or a list). As the reference, each
MSE is the mean over the feature values, here over the real tokens only (the reference
averages over padding too).
"""

from __future__ import annotations

import torch
from torch import nn

from distillctl.losses import Shapes, Step, Term, register
from distillctl.losses.base import masked_mean
from distillctl.losses.transformer_taps import declared, layer_map


@register("hidden_mse", kinds=("text",), archs=("transformer", "hf"))
class HiddenMSE(Term):
    def __init__(self, layer_map="uniform", embedding: bool = True):
        super().__init__()
        self.spec, self.embedding = layer_map, bool(embedding)
        self.pairs_: list[tuple[str, str]] = []

    def bind(self, student: nn.Module, teacher: nn.Module) -> None:
        s, t = declared(student, "student", self.key), declared(teacher, "teacher", self.key)
        chosen = layer_map(self.spec, len(s["states"]), len(t["states"]), self.key)
        self.pairs_ = [(s["states"][m], t["states"][g]) for m, g in enumerate(chosen)]
        if self.embedding:
            self.pairs_.insert(0, (s["embedding"], t["embedding"]))

    def tapped(self) -> tuple[list[str], list[str]]:
        return [s for s, _ in self.pairs_], [t for _, t in self.pairs_]

    def build(self, shapes: Shapes) -> None:
        widths = {(shapes.student[s][0], shapes.teacher[t][0]) for s, t in self.pairs_}
        (s_width, t_width), *more = sorted(widths)
        assert not more, f"{self.key}: one width per model, got {sorted(widths)}"
        self.fit = nn.Linear(s_width, t_width)  # states are channel-first (B, d, L)

    def forward(self, step: Step) -> torch.Tensor:
        total = 0.0
        for s, t in self.pairs_:
            fitted = self.fit(step.student_features[s].transpose(1, 2))  # (B, L, d_t)
            target = step.teacher_features[t].transpose(1, 2)
            keep = (
                step.mask[:, :, None]
                if step.mask is not None
                else torch.ones_like(target[..., :1], dtype=torch.bool)
            )
            total = total + masked_mean((fitted - target).pow(2), keep)
        return total
