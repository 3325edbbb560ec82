"""`value_relation`: MiniLM's value-relation transfer (Wang et al., NeurIPS 2020, eqs. 4-5).

Per head a, the value relation VR[a] = softmax(V[a] V[a]^T / sqrt(d_head)) over the real key
tokens, of the teacher's last block and the student's last block; the term is
(1 / (A_h |x|)) sum_a sum_t KL(VR_t[a, t] || VR_s[a, t]) over the real query tokens t, averaged
over the batch. The head widths may differ (the relations are L x L); the head counts must
match.
"""

from __future__ import annotations

import torch
from torch import nn

from distillctl.losses import Step, Term, register
from distillctl.losses.attention_kl import kl_rows, query_mask
from distillctl.losses.transformer_taps import declared, same_heads


def relation(values: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """softmax(V V^T / sqrt(d_head)) per head (B, heads, L, L), over the real keys."""
    scores = values @ values.transpose(-1, -2) / values.shape[-1] ** 0.5
    if mask is not None:
        scores = scores.masked_fill(~mask[:, None, None, :], torch.finfo(scores.dtype).min)
    return scores.softmax(-1)


@register("value_relation", kinds=("text",), archs=("transformer",))
class ValueRelation(Term):
    def __init__(self):
        super().__init__()
        self.pair: tuple[str, str] = ("", "")

    def bind(self, student: nn.Module, teacher: nn.Module) -> None:
        s, t = declared(student, "student", self.key), declared(teacher, "teacher", self.key)
        same_heads(s, t, self.key)
        self.pair = (s["values"][-1], t["values"][-1])

    def tapped(self) -> tuple[list[str], list[str]]:
        return [self.pair[0]], [self.pair[1]]

    def forward(self, step: Step) -> torch.Tensor:
        student = relation(step.student_features[self.pair[0]], step.mask)
        teacher = relation(step.teacher_features[self.pair[1]], step.mask)
        return kl_rows(teacher, student, query_mask(step, student))
