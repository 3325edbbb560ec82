"""The CIFAR model zoo of the CRD and DKD papers: sizes, shapes, taps, and explainability."""

import pytest
import torch
from torch import nn

from distillctl.models import create_model

# parameters with 100 classes, as the reference implementations (RepDistiller's models/, the
# code of the CRD paper, also used by mdistiller for DKD) build them
PUBLISHED = {
    "resnet8": 83_892,
    "resnet14": 181_108,
    "resnet20": 278_324,
    "resnet32": 472_756,
    "resnet44": 667_188,
    "resnet56": 861_620,
    "resnet110": 1_736_564,
    "resnet8x4": 1_233_540,
    "resnet32x4": 7_433_860,
    "wrn_16_1": 180_916,
    "wrn_16_2": 703_284,
    "wrn_40_1": 569_780,
    "wrn_40_2": 2_255_156,
    "vgg8": 3_965_028,
    "vgg11": 9_277_284,
    "vgg13": 9_462_180,
    "vgg16": 14_774_436,
    "vgg19": 20_086_692,
    "mobilenetv2": 812_836,
    "shufflenetv1": 949_258,
    "shufflenetv2": 1_355_528,
}


def _build(arch: str, classes: int = 100, shape=(3, 32, 32)) -> nn.Module:
    from omegaconf import OmegaConf

    from distillctl.configuration.groups import source

    spec = OmegaConf.to_container(OmegaConf.load(source("teacher", arch)))
    spec["num_classes"] = classes
    return create_model(spec, shape)


@pytest.mark.parametrize("arch", sorted(PUBLISHED))
def test_the_shipped_config_builds_the_published_network(arch):
    torch.manual_seed(0)
    model = _build(arch)
    assert sum(p.numel() for p in model.parameters()) == PUBLISHED[arch]
    assert model.eval()(torch.zeros(2, 3, 32, 32)).shape == (2, 100)
    # timm's feature_info format, measured: channels and reductions grow along the stages
    info = model.feature_info
    assert all(set(entry) == {"module", "num_chs", "reduction"} for entry in info)
    assert [e["reduction"] for e in info] == sorted(e["reduction"] for e in info)
    assert model.get_submodule(model.embedding)  # the pooled vector the classifier reads
    # explainers walk it: no in-place ReLU, no module used twice
    assert not any(getattr(m, "inplace", False) for m in model.modules())
    every = [id(m) for _, m in model.named_modules(remove_duplicate=False)]
    assert len(every) == len(set(every))


def test_channels_and_classes_come_from_the_data():
    model = _build("resnet8", classes=10, shape=(1, 28, 28))
    assert model.eval()(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    assert model.stem[0].in_channels == 1


def test_deeplift_walks_a_residual_and_a_shuffle_network():
    from captum.attr import DeepLift

    for arch in ("resnet8", "shufflenetv2"):
        torch.manual_seed(0)
        model = _build(arch, classes=10).eval()
        x = torch.randn(2, 3, 32, 32)
        maps = DeepLift(model).attribute(x, baselines=torch.zeros_like(x), target=0)
        # DeepLift is complete: the maps sum to f(x) - f(baseline)
        gap = model(x)[:, 0] - model(torch.zeros_like(x))[:, 0]
        assert torch.allclose(maps.flatten(1).sum(1), gap, rtol=1e-3, atol=1e-3)


def test_the_zoo_is_one_source_for_teacher_and_student(tmp_path):
    """configs/arch/<name>.yaml is teacher=<name> and student=<name>; a role keeps a file of
    its own only where it differs (the small nets' sizes), never a copy of the zoo's."""
    from omegaconf import OmegaConf

    from distillctl.configuration.groups import ZOO, config_dir, groups
    from tests.conftest import compose_cfg

    zoo = sorted(p.stem for p in (config_dir() / ZOO).glob("*.yaml"))
    assert len(zoo) >= 20 and {"resnet8", "wrn_40_2", "custom"} <= set(zoo)
    for role in ("teacher", "student"):
        assert set(zoo) <= set(groups()[role])
        for own in (config_dir() / role).glob("*.yaml"):
            assert own.stem not in zoo, f"{role}/{own.name} copies the zoo's file"
    cfg = compose_cfg("distill_student", ["teacher=resnet8", "student=wrn_16_1"], tmp_path)
    for role, name in (("teacher", "resnet8"), ("student", "wrn_16_1")):
        shipped = OmegaConf.load(config_dir() / ZOO / f"{name}.yaml")
        node = OmegaConf.to_container(cfg[role])
        assert node == {**OmegaConf.to_container(shipped), "num_classes": node["num_classes"]}
