"""How strongly each term counts, over epochs and samples: schedules of a term's weight and of
kd's temperature (losses/schedules.py; mdistiller DKD's ramp with its 1-based epochs pinned),
bad ones refused before any run folder, the effective values of each epoch in metrics.csv;
learned weights (LibMTL's UW) and Dynamic KD's per-sample weights, pinned to their references."""

import csv
import math

import pytest
import torch

from distillctl.configuration.validate import validate
from distillctl.errors import ConfigError
from distillctl.losses import build_recipe
from distillctl.losses.base import Step
from distillctl.losses.schedules import parse
from distillctl.losses.weighting import GradNorm, Uncertainty
from tests.conftest import TINY, compose_cfg, run_stage


def test_each_schedule_gives_its_factor():
    warm = parse("linear_warmup:20", "s")
    # mdistiller DKD: min(epoch / warmup, 1) with epochs counted from 1
    assert [warm.factor(e, 240) for e in (0, 9, 19, 100)] == [1 / 20, 10 / 20, 1.0, 1.0]
    cosine = parse("cosine:0.1", "s")
    assert cosine.factor(0, 11) == 1.0 and math.isclose(cosine.factor(10, 11), 0.1)
    assert math.isclose(cosine.factor(5, 11), 0.1 + 0.9 * 0.5)
    step = parse("step:3:0.5", "s")
    assert [step.factor(e, 10) for e in (0, 2, 3, 6, 9)] == [1, 1, 0.5, 0.25, 0.125]
    assert parse("constant", "s").factor(7, 10) == 1.0 and parse("step:2", "s").numbers == (2, 0.1)


@pytest.mark.parametrize(
    "value,message",
    [
        ("warmup", "no schedule 'warmup'"),
        ("cosine:low", "cosine needs its final factor as a number"),
        ("step", "step needs its epochs per step as a number"),
        ("linear_warmup:0", "must be positive"),
        ("cosine:0.1:2", "cosine takes 1 number"),
    ],
)
def test_a_bad_schedule_is_refused_before_any_run_folder(tmp_path, value, message):
    cfg = compose_cfg("distill_student", [f"loss.kd.schedule={value}"], tmp_path)
    with pytest.raises(ConfigError, match=message):
        validate(cfg)


def test_the_recipe_weighs_each_term_by_its_schedule_and_kd_anneals_its_temperature():
    recipe = build_recipe(
        {
            "ce": {"weight": 1.0},
            "kd": {
                "weight": 9.0,
                "schedule": "linear_warmup:4",
                "temperature": 4.0,
                "temperature_schedule": "cosine:0.25",
            },
        }
    )
    recipe.epochs = 5
    assert recipe.weights_at(0) == [1.0, 9.0 / 4] and recipe.weights_at(4) == [1.0, 9.0]
    assert recipe.scheduled(4) == {"weight_kd": 9.0, "kd_temperature": 1.0}
    torch.manual_seed(0)
    s, t = torch.randn(6, 3), torch.randn(6, 3)
    kd = recipe.terms[1]

    def value(epoch):
        return kd(Step(x=s, labels=torch.zeros(6).long(), student_logits=s, teacher_logits=t,
                       epoch=epoch, epochs=5))  # fmt: skip

    from distillctl.losses.kd import soft_kl

    assert torch.allclose(value(0), soft_kl(s, t, 4.0)) and torch.allclose(
        value(4), soft_kl(s, t, 1.0)
    )


def test_a_scheduled_distillation_writes_each_epochs_weight_and_temperature(tmp_path, teacher_run):
    run_dir = teacher_run  # the session's shared teacher on digits
    run_dir, _ = run_stage(
        "distill_student", tmp_path, *TINY, "trainer.max_epochs=3", f"teacher_ckpt={run_dir}",
        "loss.kd.schedule=linear_warmup:3", "loss.kd.temperature_schedule=step:1:0.5",
    )  # fmt: skip
    with open(run_dir / "metrics.csv") as f:
        rows = [r for r in csv.DictReader(f) if r.get("train/weight_kd")]
    assert [float(r["train/weight_kd"]) for r in rows] == pytest.approx([3.0, 6.0, 9.0])
    assert [float(r["train/kd_temperature"]) for r in rows] == pytest.approx([4.0, 2.0, 1.0])
    from distillctl.explain.pipeline import Explained
    from distillctl.report.curves import draw_curves, read_metrics

    assert [v for _, v in read_metrics(run_dir / "metrics.csv")["train/weight_kd"]] == [3, 6, 9]
    ((picture, caption),) = draw_curves([Explained("student", None, run_dir)], tmp_path / "c")
    assert picture.stat().st_size > 1000 and "what its schedules moved" in caption


def test_uncertainty_weighting_is_libmtls_uw_and_its_log_variances_learn(tmp_path, teacher_run):
    """LibMTL UW.py: loss_scale s = -0.5 at the start, total = sum(L / (2 e^s) + s / 2)."""
    recipe = build_recipe({"ce": {"weight": 1.0}, "kd": {"weight": 1.0}})
    recipe.weigh(Uncertainty(2))
    values = {"ce": torch.tensor(2.0), "kd": torch.tensor(0.5)}
    total = recipe.combine(values, 0)
    expected = sum(v / (2 * math.exp(-0.5)) - 0.25 for v in (2.0, 0.5))
    assert math.isclose(float(total), expected, rel_tol=1e-6)
    total.backward()  # d/ds = -L / (2 e^s) + 1/2
    grads = [-v / (2 * math.exp(-0.5)) + 0.5 for v in (2.0, 0.5)]
    assert torch.allclose(recipe.weighting.log_variances.grad, torch.tensor(grads))
    teacher = teacher_run
    run_dir, _ = run_stage(
        "distill_student", tmp_path, *TINY, "trainer.max_epochs=2", f"teacher_ckpt={teacher}",
        "distill.weighting=uncertainty",
    )  # fmt: skip
    with open(run_dir / "metrics.csv") as f:
        rows = [r for r in csv.DictReader(f) if r.get("train/weight_kd")]
    assert len(rows) == 2 and all(float(r["train/weight_ce"]) > 0 for r in rows)
    state = torch.load(run_dir / "checkpoints/last.ckpt", weights_only=False)["state_dict"]
    assert not torch.equal(state["recipe.weighting.log_variances"], torch.full((2,), -0.5))


def test_dynamic_kd_weighs_each_sample_by_the_students_normalised_entropy():
    """lancopku/DynamicKD's dynamic_kd_loss: mean(KL_T * T^2 * H(p_s) / log C), H at T = 1."""
    from distillctl.losses.kd import soft_kl

    recipe = build_recipe({"kd": {"weight": 1.0, "temperature": 2.0, "sample_weight": "entropy"}})
    torch.manual_seed(1)
    s, t = torch.randn(4, 5), torch.randn(4, 5)
    step = Step(x=s, labels=torch.zeros(4).long(), student_logits=s, teacher_logits=t)
    p = torch.softmax(s, -1)
    weights = -(p * torch.log(p + 1e-6)).sum(-1) / math.log(5)
    expected = (soft_kl(s, t, 2.0, per_sample=True) * weights).mean()
    assert torch.allclose(recipe.terms[0](step), expected)
    assert 0 < float(weights.min()) and float(weights.max()) < 1


def libmtl_gradnorm_step(scale, losses, initial, params, alpha):
    """LibMTL GradNorm.backward (epoch >= 1, rep_grad=False), written out: the loss_scale's
    gradient and the shared parameters' new gradients."""
    scale = scale.detach().clone().requires_grad_(True)
    weights = len(losses) * torch.softmax(scale, -1)
    grads = torch.stack(
        [
            torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, params, retain_graph=True)])
            for loss in losses
        ]
    )
    per_loss = torch.norm(weights.unsqueeze(1) * grads, p=2, dim=-1)
    ratio = torch.tensor([float(loss) / i for loss, i in zip(losses, initial)])
    rate = ratio / ratio.mean()
    constant = (per_loss.mean(0) * rate**alpha).detach()
    (per_loss - constant).abs().sum(0).backward()
    new_grads = torch.einsum("i,ij->j", weights.detach(), grads)
    return scale.grad, new_grads


def test_gradnorm_is_libmtls_update_and_learns_in_a_distillation(tmp_path, teacher_run):
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 2)
    params = list(net.parameters())
    x, target = torch.randn(8, 3), torch.randn(8, 2)

    def losses():
        out = net(x)
        return [torch.nn.functional.mse_loss(out, target), out.pow(2).mean() * 3]

    norm = GradNorm(2, alpha=1.5)
    for _ in range(3):  # epoch 0: unit weights, the epoch's mean losses recorded
        found = losses()
        total = norm.combine(found, [1.0, 1.0], 0, params)
        assert torch.allclose(total, found[0] + found[1])
    initial = norm.sums / 3
    with torch.no_grad():
        norm.loss_scale.copy_(torch.tensor([0.3, -0.2]))
        net.weight.add_(0.5)  # the losses moved since epoch 0
    found = losses()
    total = norm.combine(found, [1.0, 1.0], 1, params)
    weights = 2 * torch.softmax(torch.tensor([0.3, -0.2]), -1)
    assert torch.allclose(total, weights[0] * found[0] + weights[1] * found[1])  # value: no L_grad
    total.backward()
    scale_grad, new_grads = libmtl_gradnorm_step(
        torch.tensor([0.3, -0.2]), losses(), initial.tolist(), params, 1.5
    )
    assert torch.allclose(norm.initial, initial)
    assert torch.allclose(norm.loss_scale.grad, scale_grad, atol=1e-6)
    assert torch.allclose(torch.cat([p.grad.reshape(-1) for p in params]), new_grads, atol=1e-6)
    run_dir, _ = run_stage(
        "distill_student", tmp_path, *TINY, "trainer.max_epochs=2", f"teacher_ckpt={teacher_run}",
        "distill.weighting=gradnorm",
    )  # fmt: skip
    with open(run_dir / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    learned = [(float(r["train/weight_ce"]), float(r["train/weight_kd"]) / 9) for r in rows]
    assert learned[0] == (1.0, 1.0)  # epoch 0: unit weights (kd's configured 9 apart)
    assert learned[1][0] != 1.0 and sum(learned[1]) == pytest.approx(2.0)  # 2 softmax(s)
    state = torch.load(run_dir / "checkpoints/last.ckpt", weights_only=False)["state_dict"]
    assert not torch.equal(state["recipe.weighting.loss_scale"], torch.ones(2))
    assert torch.isfinite(state["recipe.weighting.initial"]).all()
