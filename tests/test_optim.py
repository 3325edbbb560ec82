"""optim=<name> and its schedules, teacher_optim for the teacher alone."""

import csv

import pytest
import torch

from distillctl.errors import ConfigError
from distillctl.train.optim import configure
from tests.conftest import compose_cfg, run_stage


def _rates(spec: dict, epochs: int) -> list[float]:
    param = torch.nn.Parameter(torch.zeros(1))
    configured = configure(spec, [param], epochs)
    optimizer, schedule = configured["optimizer"], configured["lr_scheduler"]
    rates = []
    for _ in range(epochs):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    return rates


def test_multistep_milestones_count_from_the_start_warm_up_included():
    sgd = {"name": "sgd", "lr": 1.0, "momentum": 0.9, "weight_decay": 5e-4, "gamma": 0.1}
    plain = _rates({**sgd, "scheduler": "multistep", "milestones": [2, 4]}, 6)
    assert plain == pytest.approx([1, 1, 0.1, 0.1, 0.01, 0.01])
    warm = _rates({**sgd, "scheduler": "multistep", "milestones": [2, 4], "warmup_epochs": 1}, 6)
    assert warm == pytest.approx([0.5, 1, 0.1, 0.1, 0.01, 0.01])


def test_cosine_anneals_after_the_warm_up_and_none_is_constant():
    adamw = {"name": "adamw", "lr": 1.0}
    cosine = _rates({**adamw, "scheduler": "cosine", "warmup_epochs": 2}, 6)
    # warm-up 1/3, 2/3; then cosine over the 4 remaining epochs: 1, (1+cos(pi/4))/2, 1/2, ...
    import math

    expected = [1 / 3, 2 / 3] + [(1 + math.cos(math.pi * e / 4)) / 2 for e in range(4)]
    assert cosine == pytest.approx(expected)
    assert _rates({**adamw, "scheduler": "none"}, 4) == pytest.approx([1, 1, 1, 1])


def test_an_optimiser_gets_its_own_options_and_a_wrong_one_is_named():
    param = torch.nn.Parameter(torch.zeros(1))
    spec = {"name": "sgd", "lr": 0.1, "momentum": 0.8, "nesterov": True, "weight_decay": 1e-3}
    group = configure({**spec, "scheduler": "none"}, [param], 3)["optimizer"].param_groups[0]
    assert isinstance(configure(spec, [param], 3)["optimizer"], torch.optim.SGD)
    assert (group["momentum"], group["nesterov"], group["weight_decay"]) == (0.8, True, 1e-3)
    with pytest.raises(ConfigError, match="optim.betas is not an option of optim=sgd"):
        configure({**spec, "betas": [0.9, 0.99]}, [param], 3)
    with pytest.raises(ConfigError, match="needs epochs after the warm-up"):
        configure({**spec, "scheduler": "multistep", "milestones": []}, [param], 3)
    with pytest.raises(ConfigError, match="warmup_epochs=3 must be fewer"):
        configure({**spec, "scheduler": "none", "warmup_epochs": 3}, [param], 3)


def test_the_optim_group_is_validated_before_any_run(tmp_path):
    from distillctl.configuration.validate import validate

    with pytest.raises(ConfigError, match="optim.scheduler='step' is not valid"):
        validate(compose_cfg("train_teacher", ["optim.scheduler=step"], tmp_path))
    with pytest.raises(ConfigError, match="teacher_optim.lr=0 is not valid"):
        validate(
            compose_cfg("train_teacher", ["teacher_optim=sgd", "teacher_optim.lr=0"], tmp_path)
        )


def _epoch_rates(run_dir) -> list[float]:
    with open(run_dir / "metrics.csv") as f:
        return [float(row["lr"]) for row in csv.DictReader(f)]


def test_teacher_optim_trains_the_teacher_and_optim_the_students(tmp_path):
    sgd = ["teacher_optim=sgd", "teacher_optim.milestones=[1]", "teacher_optim.lr=0.2"]
    teacher, _ = run_stage("train_teacher", tmp_path, "trainer.max_epochs=2", *sgd)
    assert _epoch_rates(teacher) == pytest.approx([0.2, 0.02])
    student, _ = run_stage("train_student", tmp_path, "trainer.max_epochs=2", *sgd)
    assert _epoch_rates(student)[0] == pytest.approx(3e-3)  # optim (adamw) for the student


def test_the_optimiser_is_parsed_once_into_a_frozen_spec(tmp_path):
    from distillctl.configuration.parts import OptimSpec
    from distillctl.configuration.validate import validate

    cfg = compose_cfg("train_teacher", ["teacher_optim=sgd", "optim.milestones=[a]"], tmp_path)
    with pytest.raises(ConfigError, match="optim.milestones=\\['a'\\] is not valid"):
        validate(cfg)
    specs = validate(compose_cfg("train_teacher", ["teacher_optim=sgd"], tmp_path))
    assert isinstance(specs.teacher_optim, OptimSpec) and specs.teacher_optim.name == "sgd"
    assert specs.teacher_optim.milestones == (150, 180, 210) and "lr" in specs.optim.options
    same = validate(compose_cfg("train_teacher", [], tmp_path))
    assert same.teacher_optim is None  # teacher_optim=same: the teacher trains with optim
