"""`e2kd`: explanation-enhanced KD ("Good Teachers Explain", Parchami-Araghi et al. 2024).

Beside KD, make the student's explanation agree with the teacher's:
lambda * (1 - cos(E_S, E_T)), with E the Grad-CAM map at a named layer for the teacher's
top-1 class. The student's map is built with create_graph, so the term trains the student
through its explanation. Maps of different size are average-pooled to the smaller one.
The paper's recipe is loss=[kd,e2kd] (here usually loss=[ce,kd,e2kd]); the weight is lambda.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from distillctl.losses import Step, register
from distillctl.losses.features import FeatureTerm, match_spatial
from distillctl.losses.gradmaps import grad_cam


@register("e2kd")
class ExplanationEnhancedKD(FeatureTerm):
    needs_graph = True

    def build_pair(self, i, student, teacher) -> None:
        self.need_maps(student, teacher, "Grad-CAM maps")

    def forward(self, step: Step) -> torch.Tensor:
        target = step.teacher_logits.argmax(-1)
        total = 0.0
        for s, t in zip(self.student_layers, self.teacher_layers):
            teacher_cam = grad_cam(
                step.graph["teacher_logits"], step.graph["teacher_features"][t], target, False
            ).detach()
            student_cam = grad_cam(step.student_logits, step.student_features[s], target, True)
            s_map, t_map = match_spatial(student_cam[:, None], teacher_cam[:, None])
            cosine = F.cosine_similarity(s_map.flatten(1), t_map.flatten(1), dim=1, eps=1e-8)
            total = total + (1.0 - cosine).mean()
        return total
