import pytest
import torch
from omegaconf import OmegaConf

from distillctl.errors import ConfigError
from distillctl.models import MODELS, create_model
from distillctl.models.card import model_card

SHAPES = {"mlp": (1, 8, 8), "cnn": (1, 8, 8), "cnn1d": (1, 40)}


@pytest.mark.parametrize("arch", sorted(SHAPES))
def test_every_architecture_maps_its_input_to_class_logits(arch):
    model = create_model({"arch": arch, "num_classes": 10}, SHAPES[arch])
    assert model(torch.randn(3, *SHAPES[arch])).shape == (3, 10)


def test_registry_holds_the_builtin_architectures():
    create_model({"arch": "mlp", "num_classes": 2}, (4,))
    assert {"mlp", "cnn", "cnn1d"} <= set(MODELS)


@pytest.mark.parametrize("arch,shape", [("cnn", (30,)), ("cnn1d", (1, 8, 8)), ("cnn", (1, 40))])
def test_a_shape_the_architecture_cannot_take_is_a_clear_config_error(arch, shape):
    with pytest.raises(ConfigError, match=rf"teacher={arch} needs .* inputs.*{shape}") as err:
        create_model({"arch": arch, "num_classes": 2}, shape, role="teacher")
    assert "mlp" in err.value.fix


def test_unknown_option_and_unknown_architecture_are_named():
    with pytest.raises(ConfigError, match="student.depth is not an option"):
        create_model({"arch": "mlp", "num_classes": 3, "depth": 4}, (4,), role="student")
    with pytest.raises(ConfigError, match="unknown student architecture 'vit'"):
        create_model({"arch": "vit", "num_classes": 3}, (4,), role="student")


def test_configs_build_from_omegaconf_with_lists():
    cfg = OmegaConf.create({"arch": "cnn", "num_classes": 10, "channels": [4, 8], "hidden": 16})
    model = create_model(cfg, (1, 8, 8))
    assert dict(model.named_modules())["features.block2"] is not None


def test_model_card_reports_size_and_speed():
    model = create_model({"arch": "mlp", "num_classes": 10, "hidden": [16]}, (1, 8, 8))
    card = model_card(model, (1, 8, 8), "mlp")
    assert card["parameters"] == 64 * 16 + 16 + 16 * 10 + 10
    assert card["macs"] == 64 * 16 + 16 * 10
    assert card["size_bytes"] > 4 * card["parameters"]
    assert card["cpu_latency_ms_per_sample"] > 0
