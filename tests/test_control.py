"""The agreement controller (train/control.py): dual ascent on one term's weight from the
agreement measured on a fixed validation subset, its records, its resume state, the
val_agreement objective and the multi-objective search's Pareto front, and every bad setting
refused before any run folder."""

import csv
import json
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from hydra.core.override_parser.overrides_parser import OverridesParser

from distillctl.configuration.precheck import precheck
from distillctl.configuration.specs import ControlSpec
from distillctl.configuration.validate import validate
from distillctl.errors import ConfigError
from distillctl.explain.agreement import agreement
from distillctl.report.pareto import front
from distillctl.train.control import AgreementControl, Probe
from tests.conftest import TINY, compose_cfg, run_stage

E2KD = ["loss=[ce,kd,e2kd]", "distill.control.term=e2kd"]


class FakeProbe:
    def __init__(self, values):
        self.values = list(values)
        self.explainer = {"name": "fake"}
        self.inputs = torch.zeros(3)

    def agreement(self, teacher, student):
        return self.values.pop(0)


def fake_module():
    recipe = SimpleNamespace(controlled=torch.ones(3))
    seen = []
    module = SimpleNamespace(recipe=recipe, teacher=None, model=None)
    module.accumulate = lambda prefix, values, n: seen.append(
        {k: float(v) for k, v in values.items()}
    )
    return module, seen


def test_dual_ascent_moves_lambda_by_the_gap_to_the_target_and_never_below_zero():
    spec = ControlSpec(term="e2kd", agreement_target=0.6, eta=4.0, every_n_epochs=2)
    control = AgreementControl(FakeProbe([0.5, 0.9, 1.0, float("nan")]), spec, 2, 1.0)
    module, seen = fake_module()
    control.on_train_start(None, module)
    assert float(module.recipe.controlled[2]) == 1.0  # the initial lambda, before any check
    lambdas = []
    for epoch in range(8):  # a check at epochs 0, 2, 4, 6
        control.on_train_epoch_start(SimpleNamespace(current_epoch=epoch), module)
        lambdas.append(float(module.recipe.controlled[2]))
    expected, value = [], 1.0
    for a in (0.5, 0.9, 1.0):  # lambda <- max(0, lambda + eta (target - agreement))
        value = max(0.0, value + 4.0 * (0.6 - a))
        expected += [value, value]
    assert lambdas[:6] == pytest.approx(expected) and expected[-1] == 0.0  # 0.2 - 1.6 < 0
    assert lambdas[6:] == [0.0, 0.0]  # no defined agreement: lambda stays
    assert [c["epoch"] for c in control.checks] == [0, 2, 4, 6]
    assert [s["agreement"] for s in seen[:3]] == pytest.approx([0.5, 0.9, 1.0])
    # resume: the state saved with the checkpoint restores lambda and the checks
    early = control.state_dict()
    again = AgreementControl(FakeProbe([]), spec, 2, 1.0)
    again.load_state_dict(early)
    module2, _ = fake_module()
    again.on_train_start(None, module2)
    assert float(module2.recipe.controlled[2]) == 0.0 and len(again.checks) == 4
    # testing the best checkpoint restores its (earlier) state: the summary is training's end
    control.on_train_end(None, module)
    control.load_state_dict({**early, "checks": early["checks"][:1], "lambda": 5.0})
    assert len(control.summary()["checks"]) == 4 and control.summary()["lambda"] == 0.0


def test_the_probe_measures_explains_agreement_on_the_first_validation_inputs():
    torch.manual_seed(0)
    teacher = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3))
    student = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3))
    x = torch.randn(5, 1, 3, 4)
    splits = SimpleNamespace(
        y_val=np.array([0, 1, 2, 1, 0]),
        y_train=np.array([0, 1, 2]),
        inputs=lambda split, index: x.numpy()[index] if split == "val" else x.numpy()[:2],
    )
    spec = ControlSpec(explainer="captum_saliency", subset=4)
    explain = SimpleNamespace(target="label", top_k_fraction=0.25, background=2)
    probe = Probe.of(splits, spec, explain, seed=0)
    assert len(probe.inputs) == 4 and torch.equal(probe.inputs, x[:4])
    assert probe.agreement(teacher, teacher) == pytest.approx(1.0)
    found = probe.agreement(teacher, student)
    # saliency with abs: |d logit_label / dx|, i.e. |weight row of the label|, per input
    rows = [torch.stack([m[1].weight[c].abs() for c in (0, 1, 2, 1)]) for m in (teacher, student)]
    expected = agreement(rows[0].detach().numpy(), rows[1].detach().numpy(), signed=False)
    assert found == pytest.approx(float(np.mean(expected["spearman"])))
    assert -1 <= found < 1


def test_a_controlled_distillation_records_its_checks_and_val_agreement(tmp_path, teacher_run):
    run_dir, results = run_stage(
        "distill_student", tmp_path, *TINY, "trainer.max_epochs=3", f"teacher_ckpt={teacher_run}",
        *E2KD, "distill.control.agreement_target=0.9", "distill.control.eta=4",
        "distill.control.subset=16",
    )  # fmt: skip
    info = json.loads((run_dir / "run.json").read_text())
    control = info["control"]
    assert control["subset"] == 16 and control["explainer"]["name"] == "captum_saliency"
    value = 1.0  # e2kd's configured weight
    for check in control["checks"]:
        value = max(0.0, value + 4 * (0.9 - check["agreement"]))
        assert check["lambda"] == pytest.approx(value)
    assert [c["epoch"] for c in control["checks"]] == [0, 1, 2]
    assert 0 < control["share_of_training"] < 1
    with open(run_dir / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert [float(r["control/lambda"]) for r in rows] == pytest.approx(
        [c["lambda"] for c in control["checks"]]
    )
    # the weight e2kd trained with in each epoch is the lambda of that epoch's check
    assert [float(r["train/weight_e2kd"]) for r in rows] == pytest.approx(
        [c["lambda"] for c in control["checks"]], rel=1e-5
    )
    assert math.isfinite(results["val_agreement"]) and -1 <= results["val_agreement"] <= 1
    # what a resume relies on: Lightning saves the controller's state in the checkpoint (and
    # restores it before training goes on: AgreementControl.load_state_dict)
    saved = torch.load(run_dir / "checkpoints/last.ckpt", weights_only=False)["callbacks"]
    (state,) = [v for k, v in saved.items() if k.startswith("AgreementControl")]
    assert state["lambda"] == pytest.approx(control["lambda"]) and len(state["checks"]) == 3
    report = json.loads((run_dir / "metrics.json").read_text())
    assert report["val_agreement"] == results["val_agreement"]
    from distillctl.explain.pipeline import Explained
    from distillctl.report.curves import control_target, draw_curves

    assert control_target(run_dir) == 0.9  # the dashed line of the controller's panel

    ((picture, caption),) = draw_curves([Explained("student", None, run_dir)], tmp_path / "c")
    assert picture.stat().st_size > 1000 and "agreement controller's checks" in caption


@pytest.mark.parametrize(
    "overrides,message",
    [
        (["loss=[ce,kd]", "distill.control.term=e2kd"], "is not a term of the recipe"),
        (E2KD, "needs the agreement to hold"),
        ([*E2KD, "distill.control.agreement_target=1.2"], "outside [-1, 1]"),
        (
            [*E2KD, "distill.control.measure=topk", "distill.control.agreement_target=-0.1"],
            "outside [0, 1], the range of distill.control.measure=topk",
        ),
        (["distill.control.agreement_target=0.5"], "no distill.control.term"),
        (
            [*E2KD, "distill.control.agreement_target=0.5", "distill.control.subset=5000"],
            "is larger than the validation split",
        ),
        (
            [
                *E2KD, "distill.control.agreement_target=0.5", "student=mlp",
                "distill.control.explainer=captum_gradcam",
            ],
            "cannot explain the student (mlp)",
        ),
        (["distill.control.explainer=shap_nothing"], "distill.control.explainer"),
    ],
)  # fmt: skip
def test_bad_controller_settings_are_one_message_each(tmp_path, overrides, message):
    with pytest.raises(ConfigError) as found:
        validate(compose_cfg("distill_student", overrides, tmp_path))
    assert message in str(found.value)
    assert not (tmp_path / "distill_student").exists()


def test_a_multi_objective_needs_a_multi_objective_sampler_and_a_direction_each(tmp_path):
    parse = OverridesParser.create().parse_overrides
    base = [*TINY, f"paths.output_root={tmp_path}", f"paths.data_dir={tmp_path / 'data'}"]
    with pytest.raises(ConfigError, match="sampler is TPESampler, which searches for one"):
        precheck(
            "distill_student", "distill student",
            parse([*base, "hparams_search=optuna", "objective=[val_acc,val_agreement]"]), None,
        )  # fmt: skip
    with pytest.raises(ConfigError, match="hydra.sweeper.direction has 1"):
        precheck(
            "distill_student", "distill student",
            parse([*base, "hparams_search=optuna_pareto", "hydra.sweeper.direction=maximize"]),
            None,
        )  # fmt: skip
    cfg = precheck(
        "distill_student", "distill student", parse([*base, "hparams_search=optuna_pareto"]), None
    )
    assert list(cfg.objective) == ["val_acc", "val_agreement"]
    assert not any(tmp_path.glob("distill_student*"))


def test_the_pareto_front_keeps_the_points_no_other_beats_on_both():
    points = [(0.9, 0.2), (0.8, 0.5), (0.7, 0.4), (0.9, 0.1), (0.6, 0.6), (0.8, 0.5)]
    assert front(points) == [True, True, False, False, True, True]


def test_lightning_restores_a_callbacks_state_before_on_train_start(tmp_path):
    """What a resumed controller relies on: its lambda is back (load_state_dict) before
    on_train_start applies it and before the next epoch's check."""
    import pytorch_lightning as pl

    class Tiny(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(2, 1)

        def training_step(self, batch, batch_idx):
            return self.layer(batch[0]).pow(2).mean()

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    class Stateful(pl.Callback):
        def __init__(self):
            self.value, self.seen_at_start = 0, None

        def state_dict(self):
            return {"value": self.value}

        def load_state_dict(self, state):
            self.value = state["value"]

        def on_train_start(self, trainer, pl_module):
            self.seen_at_start = self.value

        def on_train_epoch_end(self, trainer, pl_module):
            self.value += 1

    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(4, 2)))
    quiet = {"logger": False, "enable_progress_bar": False, "enable_model_summary": False}
    first = Stateful()
    pl.Trainer(max_epochs=2, callbacks=[first], default_root_dir=tmp_path, **quiet).fit(
        Tiny(), data
    )
    (ckpt,) = (tmp_path / "checkpoints").glob("*.ckpt")
    again = Stateful()
    pl.Trainer(max_epochs=3, callbacks=[again], default_root_dir=tmp_path, **quiet).fit(
        Tiny(), data, ckpt_path=ckpt
    )
    assert first.value == 2 and again.seen_at_start == 2 and again.value == 3
