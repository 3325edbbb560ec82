"""Networks from outside distillctl: the user's own class, timm and torchvision models."""

import json

import pytest
import torch

from distillctl.errors import ConfigError
from distillctl.models import create_model
from tests.conftest import run_stage

NET = '''
from torch import nn


class TinyNet(nn.Module):
    """A user's network: asks for in_chans and num_classes, and has an option of its own."""

    def __init__(self, in_chans, num_classes, width=8):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(in_chans, width, 3, padding=1), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flat = nn.Flatten()
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x):
        return self.fc(self.flat(self.pool(self.features(x))))


def make_tiny(num_classes, **options):
    return TinyNet(1, num_classes, **options)


def not_a_model(num_classes):
    return num_classes
'''


@pytest.fixture
def user_package(tmp_path, monkeypatch):
    package = tmp_path / "userpkg" / "mynets"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "nets.py").write_text(NET)
    monkeypatch.syspath_prepend(str(tmp_path / "userpkg"))
    return "mynets.nets"


def test_a_users_class_is_a_teacher_and_distils_into_a_student(tmp_path, user_package):
    mine = ["teacher=custom", f"teacher._target_={user_package}.TinyNet", "+teacher.width=4"]
    teacher, _ = run_stage("train_teacher", tmp_path, *mine)
    record = json.loads((teacher / "run.json").read_text())
    assert record["model"]["_target_"] == f"{user_package}.TinyNet"
    assert record["model"]["width"] == 4
    run_dir, result = run_stage("distill_student", tmp_path, *mine)  # latest finds it
    distilled = json.loads((run_dir / "run.json").read_text())
    assert distilled["parents"]["teacher"] == str(teacher.resolve())
    assert 0.0 <= result["test_acc"] <= 1.0
    # a factory function with **options gets num_classes, and the options
    model = create_model(
        {"arch": "custom", "_target_": f"{user_package}.make_tiny", "num_classes": 3, "width": 2},
        (1, 8, 8),
    )
    assert model(torch.zeros(2, 1, 8, 8)).shape == (2, 3) and model.fc.in_features == 2


def test_a_target_that_does_not_import_is_a_config_error_before_any_run(tmp_path, user_package):
    from distillctl.configuration.overrides import compose_checked

    with pytest.raises(ConfigError, match="does not import: No module named 'nosuch'"):
        compose_checked("train teacher", ["teacher=custom", "teacher._target_=nosuch.Net"])
    with pytest.raises(ConfigError, match="has no 'TinyNt' \\(did you mean .*TinyNet\\?\\)"):
        compose_checked(
            "train teacher", ["teacher=custom", f"teacher._target_={user_package}.TinyNt"]
        )
    with pytest.raises(ConfigError, match="returned a int, not a torch nn.Module"):
        spec = {"arch": "custom", "_target_": f"{user_package}.not_a_model", "num_classes": 3}
        create_model(spec, (1, 8, 8))
    with pytest.raises(ConfigError, match="cannot be called with \\['depth', 'in_chans'"):
        spec = {"arch": "custom", "_target_": f"{user_package}.TinyNet", "num_classes": 3}
        create_model({**spec, "depth": 3}, (1, 8, 8))


def test_timm_and_torchvision_models_fit_the_datas_channels_and_classes(tmp_path):
    timm_net = create_model({"arch": "timm", "name": "resnet10t", "num_classes": 10}, (1, 8, 8))
    assert timm_net(torch.zeros(2, 1, 8, 8)).shape == (2, 10)
    assert timm_net.feature_info[-1]["module"] == "layer4"  # timm's own feature_info
    tv_net = create_model({"arch": "torchvision", "name": "resnet18", "num_classes": 10}, (1, 8, 8))
    assert tv_net.conv1.in_channels == 1 and tv_net.fc.out_features == 10
    assert not any(getattr(m, "inplace", False) for m in tv_net.modules())
    teacher, result = run_stage(
        "train_teacher", tmp_path, "teacher=torchvision", "teacher.name=resnet18"
    )
    assert 0.0 <= result["test_acc"] <= 1.0


def test_unknown_names_and_unavailable_weights_are_named(tmp_path):
    from distillctl.configuration.overrides import compose_checked

    with pytest.raises(ConfigError, match="timm has no model 'resnet1000' \\(closest: .*resnet101"):
        compose_checked("train teacher", ["teacher=timm", "teacher.name=resnet1000"])
    with pytest.raises(
        ConfigError, match="torchvision has no model 'resnt18' \\(closest: resnet18"
    ):
        compose_checked("train teacher", ["teacher=torchvision", "teacher.name=resnt18"])
    with pytest.raises(ConfigError, match="not in the local cache") as err:
        create_model(
            {"arch": "timm", "name": "resnet10t", "pretrained": True, "num_classes": 10}, (3, 8, 8)
        )
    assert "teacher_ckpt=<path>" in err.value.fix
    with pytest.raises(ConfigError, match="resnet18-f37072fd.pth in TORCH_HOME"):
        create_model(
            {"arch": "torchvision", "name": "resnet18", "pretrained": True, "num_classes": 10},
            (3, 8, 8),
        )


def test_a_users_own_depth_option_is_not_read_as_a_soft_trees(tmp_path, user_package):
    """The soft tree's option rules apply where a role chooses soft_tree, not to every `depth`."""
    from distillctl.configuration.validate import validate
    from distillctl.errors import ConfigError
    from tests.conftest import compose_cfg

    mine = ["teacher=custom", f"teacher._target_={user_package}.make_tiny", "+teacher.depth=50"]
    validate(compose_cfg("train_teacher", mine, tmp_path))  # 50 is the user's to choose
    tree = compose_cfg("train_student", ["student=soft_tree", "student.depth=50"], tmp_path)
    with pytest.raises(ConfigError, match="student.depth=50 is not valid"):
        validate(tree)
