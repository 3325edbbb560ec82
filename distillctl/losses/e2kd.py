"""`e2kd`: explanation-enhanced KD ("Good Teachers Explain", Parchami-Araghi et al. 2024).

Beside KD, make the student's explanation agree with the teacher's:
lambda * (1 - cos(E_S, E_T)), with E the Grad-CAM map at the last feature stage for the
teacher's top-1 class. The student's map is built with create_graph, so the term trains the
student through its explanation. The paper's recipe is loss=[kd,e2kd] (here usually
loss=[ce,kd,e2kd]); the weight is lambda.

`resize: input` (the default) follows the official code (m-parchami/GoodTeachersExplain,
bcos/distillation_methods/TeachersExplain.py): both Grad-CAM maps are resized to the input's
size (bilinear; linear for 1-D signals) before the cosine. `resize: feature` compares them at
feature resolution, the smaller map's size (average-pooling the larger), as an option.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from distillctl.errors import ConfigError
from distillctl.losses import Step, register
from distillctl.losses.features import FeatureTerm, match_spatial
from distillctl.losses.gradmaps import grad_cam
from distillctl.models import SPATIAL_KINDS

RESIZE = ("input", "feature")


def to_input_size(cam: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """(N, *spatial) Grad-CAM -> (N, 1, *input spatial), interpolated (bilinear / linear)."""
    mode = "bilinear" if cam.dim() == 3 else "linear"
    return F.interpolate(cam[:, None], size=tuple(x.shape[2:]), mode=mode, align_corners=False)


def compare_maps(student_cam, teacher_cam, x, resize: str) -> tuple[torch.Tensor, torch.Tensor]:
    if resize == "input":
        return to_input_size(student_cam, x), to_input_size(teacher_cam, x)
    return match_spatial(student_cam[:, None], teacher_cam[:, None])


@register("e2kd", kinds=SPATIAL_KINDS)
class ExplanationEnhancedKD(FeatureTerm):
    needs_graph = True
    auto_layers = "last"  # the official code: the last feature map before pooling

    def __init__(
        self, resize: str = "input", layers="auto", student_layers=None, teacher_layers=None
    ):
        super().__init__(layers, student_layers, teacher_layers)
        if resize not in RESIZE:
            raise ConfigError(
                f"loss.e2kd.resize={resize!r} is not one of {', '.join(RESIZE)}",
                "use resize=input (the official code) or resize=feature",
            )
        self.resize = resize

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
            s_map, t_map = compare_maps(student_cam, teacher_cam, step.x, self.resize)
            cosine = F.cosine_similarity(s_map.flatten(1), t_map.flatten(1), dim=1, eps=1e-8)
            total = total + (1.0 - cosine).mean()
        return total
