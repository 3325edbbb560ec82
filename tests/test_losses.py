import math

import pytest
import torch
from omegaconf import OmegaConf

from distillctl.errors import ConfigError
from distillctl.losses import build_recipe
from distillctl.losses.ce import CrossEntropy
from distillctl.losses.kd import SoftTargetKL


def manual_kd(student, teacher, t):
    """T^2 * mean over the batch of sum_c p_t log(p_t / p_s), written out by hand."""
    total = 0.0
    for s_row, t_row in zip(student.tolist(), teacher.tolist()):
        zs = [math.exp(v / t) for v in s_row]
        zt = [math.exp(v / t) for v in t_row]
        ps = [v / sum(zs) for v in zs]
        pt = [v / sum(zt) for v in zt]
        total += sum(a * math.log(a / b) for a, b in zip(pt, ps))
    return t * t * total / len(student)


def test_kd_is_zero_when_student_equals_teacher():
    logits = torch.randn(5, 7)
    assert SoftTargetKL(4.0)(logits, logits.clone()).item() == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("t", [1.0, 2.0, 4.0, 8.0])
def test_kd_matches_the_formula_with_t_squared(t):
    student = torch.tensor([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])
    teacher = torch.tensor([[2.0, 0.0, 1.0], [1.0, 1.0, -2.0]])
    assert SoftTargetKL(t)(student, teacher).item() == pytest.approx(
        manual_kd(student, teacher, t), rel=1e-5
    )


def test_t_squared_scaling_keeps_gradients_comparable_across_temperatures():
    # Hinton's reason for T^2: at high T, the soft-target gradient shrinks like 1/T^2.
    teacher = torch.tensor([[3.0, 1.0, 0.0, -1.0]])
    grads = []
    for t in (4.0, 16.0):
        student = torch.zeros(1, 4, requires_grad=True)
        SoftTargetKL(t)(student, teacher).backward()
        grads.append(student.grad.norm().item())
    # with T^2 the gradient barely changes from T=4 to T=16; without it, it would fall 16-fold
    assert grads[1] == pytest.approx(grads[0], rel=0.25)
    unscaled = [g / t**2 for g, t in zip(grads, (4.0, 16.0))]
    assert unscaled[1] / unscaled[0] < 0.1


def test_kd_recipe_weights_alpha_ce_and_one_minus_alpha_kd():
    cfg = OmegaConf.create({"name": "kd", "temperature": 2.0, "alpha": 0.3, "label_smoothing": 0.0})
    terms = build_recipe(cfg)
    assert [(t.name, t.weight) for t in terms] == [("ce", 0.3), ("kd", pytest.approx(0.7))]
    student, teacher = torch.randn(4, 3), torch.randn(4, 3)
    labels = torch.tensor([0, 1, 2, 1])
    total = sum(t.weight * t.term(student, teacher, labels) for t in terms)
    expected = 0.3 * torch.nn.functional.cross_entropy(student, labels) + 0.7 * manual_kd(
        student, teacher, 2.0
    )
    assert total.item() == pytest.approx(float(expected), rel=1e-5)


def test_alpha_one_drops_the_kd_term():
    cfg = OmegaConf.create({"name": "kd", "temperature": 2.0, "alpha": 1.0, "label_smoothing": 0.0})
    assert [t.name for t in build_recipe(cfg)] == ["ce"]


def test_cross_entropy_masks_unlabelled_samples():
    logits = torch.randn(4, 3)
    labels = torch.tensor([0, -1, 2, -1])
    expected = torch.nn.functional.cross_entropy(logits[[0, 2]], labels[[0, 2]])
    assert CrossEntropy()(logits, None, labels).item() == pytest.approx(expected.item(), rel=1e-6)
    assert CrossEntropy()(logits, None, torch.full((4,), -1)).item() == 0.0


def test_label_smoothing_is_applied():
    logits, labels = torch.randn(6, 4), torch.randint(0, 4, (6,))
    expected = torch.nn.functional.cross_entropy(logits, labels, label_smoothing=0.2)
    assert CrossEntropy(0.2)(logits, None, labels).item() == pytest.approx(expected.item())


@pytest.mark.parametrize(
    "key,value",
    [
        ("temperature", 0.0),
        ("temperature", -1.0),
        ("alpha", 1.5),
        ("alpha", -0.1),
        ("label_smoothing", 2.0),
    ],
)
def test_bad_kd_values_are_config_errors(key, value):
    cfg = {"name": "kd", "temperature": 4.0, "alpha": 0.5, "label_smoothing": 0.0, key: value}
    with pytest.raises(ConfigError, match=f"loss.{key}"):
        build_recipe(OmegaConf.create(cfg))
