"""Every experiment composes, and each published CIFAR row runs end to end for two steps on
fake CIFAR-100 files (in the style of lightning-hydra-template's test_experiments)."""

import json
import shutil
from pathlib import Path

import pytest

from distillctl.configuration.groups import groups
from distillctl.configuration.validate import validate
from distillctl.errors import ConfigError
from tests import fake_vision
from tests.conftest import compose_cfg, run_stage

PHOTOS = Path(__file__).resolve().parent / "fixtures" / "cifar10-jpeg"

EXPERIMENTS = groups()["experiment"]
CIFAR100 = [e for e in EXPERIMENTS if e.startswith("cifar100/")]
# 5 fake images per class: a validation split of one per class, and little to evaluate
SHORT = [
    "trainer.limit_val_batches=1",
    "trainer.limit_test_batches=1",
    "data.batch_size=8",
    "data.val_fraction=0.2",
]


def test_the_published_rows_are_all_there():
    assert sorted(CIFAR100) == [
        "cifar100/resnet32x4_resnet8x4",
        "cifar100/resnet32x4_shufflenetv2",
        "cifar100/resnet56_resnet20",
        "cifar100/vgg13_vgg8",
        "cifar100/wrn_40_2_wrn_16_2",
    ]


@pytest.mark.parametrize("experiment", EXPERIMENTS)
@pytest.mark.parametrize("stage", ["train_teacher", "distill_student", "run"])
def test_every_experiment_composes_and_validates(tmp_path, experiment, stage):
    # experiment=cifar10_jpeg reads ${paths.data_dir}/cifar10-jpeg: the committed photographs
    shutil.copytree(PHOTOS, tmp_path / "data" / "cifar10-jpeg")
    cfg = compose_cfg(stage, [f"experiment={experiment}"], tmp_path)
    validate(cfg)
    if experiment.startswith("cifar100/"):
        teacher, student = experiment.split("/")[1].split("_", 1) if "wrn" not in experiment else (
            "wrn_40_2", "wrn_16_2")  # fmt: skip
        assert cfg.data.name == "cifar100" and cfg.optim.name == "sgd"
        assert list(cfg.optim.milestones) == [150, 180, 210] and cfg.optim.weight_decay == 5e-4
        assert (cfg.loss.ce.weight, cfg.loss.kd.weight) == (0.1, 0.9)
        assert cfg.teacher.arch == teacher and cfg.student.arch == student
        expected_lr = 0.01 if student == "shufflenetv2" else 0.05
        assert cfg.optim.lr == expected_lr


@pytest.mark.parametrize("experiment", CIFAR100)
def test_each_published_row_runs_two_steps_on_fake_cifar100(tmp_path, experiment):
    fake_vision.cifar100(tmp_path / "data", train=500, test=20)
    teacher, _ = run_stage("train_teacher", tmp_path, f"experiment={experiment}", *SHORT)
    run_dir, result = run_stage("distill_student", tmp_path, f"experiment={experiment}", *SHORT)
    record = json.loads((run_dir / "run.json").read_text())
    assert record["parents"]["teacher"] == str(teacher.resolve())
    steps = (run_dir / "steps.csv").read_text().splitlines()
    assert len(steps) == 1 + 2  # two training steps, each logged
    assert 0.0 <= result["test_acc"] <= 1.0
    assert set(record["teacher_eval"]) == {"val_acc", "test_acc"}


def test_the_cifar10_jpeg_experiment_reads_the_data_dir_and_says_how_to_get_the_archives(
    tmp_path, monkeypatch
):
    monkeypatch.delenv("DISTILLCTL_CIFAR10_JPEG", raising=False)
    cfg = compose_cfg("run", ["experiment=cifar10_jpeg"], tmp_path)
    assert cfg.data.root == str(tmp_path / "data" / "cifar10-jpeg")
    with pytest.raises(ConfigError) as caught:
        validate(cfg)
    assert "cifar10-jpeg does not exist" in caught.value.problem
    assert "train.tar.gz and test.tar.gz" in caught.value.fix
