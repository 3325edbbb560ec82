"""Annealing-KD against the authors' training loop (Huawei's Annealing-KD train.py)."""

import pytest
import torch
import torch.nn.functional as F

from distillctl.losses import build_recipe
from distillctl.losses.annealing_kd import annealing_factor
from distillctl.losses.base import Step


def reference_temperatures(epochs_p1: int, max_temperature: int) -> list[int]:
    """The reference's phase-1 loop: T = 1, raised by 1 when epoch % int(epochs /
    max_temperature) == 0 and epoch > 0, before the epoch trains."""
    t, found = 1, []
    for epoch in range(epochs_p1):
        if epoch % int(epochs_p1 / max_temperature) == 0 and epoch > 0:
            t += 1
        found.append(t)
    return found


@pytest.mark.parametrize("epochs,phase1,max_t", [(300, 2 / 3, 10), (30, 0.5, 5), (12, 0.75, 3)])
def test_the_annealing_factor_follows_the_reference_loop_then_phase_two(epochs, phase1, max_t):
    first = round(phase1 * epochs)
    expected = [t / max_t for t in reference_temperatures(first, max_t)]
    found = [annealing_factor(e, epochs, max_t, phase1) for e in range(epochs)]
    assert found[:first] == expected and found[first:] == [None] * (epochs - first)
    assert found[first - 1] == 1.0  # the last phase-1 epoch matches the teacher's own logits


def test_phase_one_is_the_mse_to_scaled_teacher_logits_and_phase_two_hard_labels():
    recipe = build_recipe({"annealing_kd": {"max_temperature": 4, "phase1": 0.5}})
    recipe.epochs = 8
    torch.manual_seed(0)
    s, t, y = torch.randn(5, 3), torch.randn(5, 3), torch.tensor([0, 1, 2, 1, -1])
    term = recipe.terms[0]

    def value(epoch):
        return term(Step(x=s, labels=y, student_logits=s, teacher_logits=t, epoch=epoch, epochs=8))

    assert torch.allclose(value(0), F.mse_loss(s, t * 0.25))
    assert torch.allclose(value(3), F.mse_loss(s, t))
    assert torch.allclose(value(4), F.cross_entropy(s[:4], y[:4]))  # the unlabelled skipped
    assert recipe.scheduled(4) == {"annealing_kd_phase": 2.0, "annealing_kd_factor": 0.0}
