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


ARCHITECTURES = sorted(MODELS)  # every registered one: a new architecture is checked too
# input shapes each registered architecture is built for here (external ones with a small net)
REDRAWN = {
    "mlp": ({}, (1, 8, 8)),
    "cnn": ({}, (1, 8, 8)),
    "cnn1d": ({}, (1, 40)),
    "soft_tree": ({"depth": 3, "learn_beta": True}, (5,)),
    "timm": ({"name": "test_vit"}, (3, 32, 32)),  # a position embedding, a class token
    "torchvision": ({"name": "resnet18"}, (3, 32, 32)),
    "custom": ({"_target_": "tests.test_models.ScaledNet"}, (6,)),
    # texts: token ids of length 12 over a vocabulary of 50
    **{arch: ({"vocab_size": 50}, (12,)) for arch in ("transformer", "textcnn", "bilstm", "bow")},
}


class ScaledNet(torch.nn.Module):
    """A user's network with a bare parameter and no reset_parameters of its own."""

    def __init__(self, num_classes: int):
        super().__init__()
        self.fc = torch.nn.Linear(6, num_classes)
        self.scale = torch.nn.Parameter(torch.ones(num_classes) * 3)

    def forward(self, x):
        return self.fc(x) * self.scale


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_randomised_copy_redraws_every_parameter(arch, request):
    """Adebayo et al.'s sanity check compares a model's maps with those of its re-initialised
    copy: a parameter that keeps its trained values (a soft tree's leaves, a position embedding)
    would make the check compare the model partly with itself."""
    from distillctl.explain.faithfulness import randomised_copy

    options, shape = REDRAWN.get(arch, ({}, (3, 32, 32)))
    if arch == "hf":  # a saved tiny BERT (the fixture's folder)
        options, shape = (
            {"name": str(request.getfixturevalue("hf_folder")), "vocab_size": 50},
            (12,),
        )
    model = create_model({"arch": arch, "num_classes": 4, **options}, shape)
    with torch.no_grad():  # "trained" values, unlike any initialiser's
        for param in model.parameters():
            param.add_(torch.rand_like(param) + 0.5)
    clone = randomised_copy(model, seed=3)
    kept = [
        name
        for (name, p), q in zip(model.named_parameters(), clone.parameters())
        if torch.equal(p, q)
    ]
    assert kept == [], f"{arch}: not re-drawn: {kept}"


def test_one_pixel_images_and_one_step_signals_build():
    """The dry forward that sizes the head runs in train mode: BatchNorm needs two samples."""
    for arch, shape in (("cnn", (3, 1, 1)), ("cnn1d", (1, 1))):
        model = create_model({"arch": arch, "num_classes": 2}, shape)
        assert model(torch.zeros(4, *shape)).shape == (4, 2)


class NeedsBigInputs(torch.nn.Module):
    def __init__(self, num_classes: int, input_shape):
        super().__init__()
        if input_shape[-1] < 8:
            raise RuntimeError("Output size is too small")
        self.fc = torch.nn.Linear(input_shape[-1], num_classes)


def test_a_builder_that_cannot_take_the_inputs_is_one_config_error():
    spec = {"arch": "custom", "_target_": "tests.test_models.NeedsBigInputs", "num_classes": 2}
    with pytest.raises(ConfigError, match=r"teacher=custom cannot be built for inputs of shape"):
        create_model(spec, (3, 2, 2), role="teacher")
