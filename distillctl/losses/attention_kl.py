"""`attention_kl`: distilling a transformer's self-attention, in the two forms of its papers.

- `form=mse`, TinyBERT (Jiao et al. 2020; TinyBERT/task_distill.py): for each student block m
  and its mapped teacher block g(m) (`uniform`: the last of each group of N / M), the MSE
  between the unnormalised attention matrices QK^T / sqrt(d_head), per head, with the masked
  entries set to 0 as the reference does; the mean over heads and over pairs of real tokens
  (the reference's over every entry).
- `form=kl`, MiniLM (Wang et al., NeurIPS 2020, eq. 3): KL(teacher || student) between the
  attention distributions of the teacher's last block and the student's last block, per head
  and real query token: (1 / (A_h |x|)) sum_a sum_t KL(A_t[a, t] || A_s[a, t]), averaged over
  the batch.
Both compare head by head: the two transformers need the same number of heads.
"""

from __future__ import annotations

import torch
from torch import nn

from distillctl.bounds import one_of
from distillctl.losses import Step, Term, register
from distillctl.losses.base import masked_mean
from distillctl.losses.transformer_taps import declared, layer_map, provided, same_heads


def query_mask(step: Step, like: torch.Tensor) -> torch.Tensor:
    """(B, 1, L, 1): the real query positions (all where the inputs have no padding)."""
    if step.mask is None:
        return torch.ones(like.shape[0], 1, like.shape[2], 1, dtype=torch.bool, device=like.device)
    return step.mask[:, None, :, None]


def kl_rows(teacher: torch.Tensor, student: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """Mean over the kept rows of KL(teacher row || student row), both probabilities."""
    kl = (teacher * (teacher.clamp_min(1e-12).log() - student.clamp_min(1e-12).log())).sum(-1)
    return masked_mean(kl.unsqueeze(-1), rows)


@register("attention_kl", kinds=("text",), archs=("transformer", "hf"), form=one_of("mse", "kl"))
class AttentionTransfer(Term):
    def __init__(self, form: str = "kl", layer_map="uniform"):
        super().__init__()
        self.form, self.spec = str(form), layer_map
        self.pairs_: list[tuple[str, str]] = []

    def bind(self, student: nn.Module, teacher: nn.Module) -> None:
        s, t = declared(student, "student", self.key), declared(teacher, "teacher", self.key)
        same_heads(s, t, self.key)
        if self.form == "kl":  # MiniLM: the last block of each
            self.pairs_ = [(s["probs"][-1], t["probs"][-1])]
            return
        s_scores = provided(s, "scores", "student", self.key)
        t_scores = provided(t, "scores", "teacher", self.key)
        chosen = layer_map(self.spec, len(s_scores), len(t_scores), self.key)
        self.pairs_ = [(s_scores[m], t_scores[g]) for m, g in enumerate(chosen)]

    def tapped(self) -> tuple[list[str], list[str]]:
        return [s for s, _ in self.pairs_], [t for _, t in self.pairs_]

    def forward(self, step: Step) -> torch.Tensor:
        total = 0.0
        for s, t in self.pairs_:
            student, teacher = step.student_features[s], step.teacher_features[t]
            rows = query_mask(step, student)
            if self.form == "kl":
                total = total + kl_rows(teacher, student, rows)
                continue
            keys = rows.transpose(2, 3)  # (B, 1, 1, L): the real key positions
            real = rows & keys
            # the reference zeroes masked scores (<= -1e2) before its MSE
            student = torch.where(real, student, torch.zeros_like(student))
            teacher = torch.where(real, teacher, torch.zeros_like(teacher))
            total = total + masked_mean((student - teacher).pow(2), real)
        return total
