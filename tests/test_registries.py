"""One contract for every registry, and every entry of each checked (timm's habit): a new data
source, architecture, loss term, explainer, transfer set, logger or optimiser is tested by
being registered, not by someone remembering to add it to a list."""

import importlib
import pkgutil
import sys

import pytest
import torch
from omegaconf import OmegaConf

from distillctl.configuration.groups import config_dir
from distillctl.data import SOURCES
from distillctl.data.transfer import TRANSFERS
from distillctl.errors import ConfigError
from distillctl.explain import EXPLAINERS, get_explainer
from distillctl.losses import TERMS, build_recipe
from distillctl.models import MODELS, create_model
from distillctl.models.stages import stage_names
from distillctl.train.loggers import LOGGERS
from distillctl.train.optim import OPTIMIZERS, SCHEDULES

REGISTRIES = {
    "data": SOURCES,
    "models": MODELS,
    "losses": TERMS,
    "explainers": EXPLAINERS,
    "transfer": TRANSFERS,
    "loggers": LOGGERS,
    "optimisers": OPTIMIZERS,
    "schedules": SCHEDULES,
}
# a small input of each kind, as a network of this project takes it
KIND_SHAPES = {"image": (3, 16, 16), "signal": (1, 40), "tabular": (6,), "text": (12,)}
# options a text network needs here: the vocabulary of tests/texts.py's tokenizer (80 at most)
KIND_OPTIONS = {"text": {"vocab_size": 80}}


def _inputs(kind: str, n: int, tokenizer=None) -> torch.Tensor:
    """`n` inputs of `kind` as its networks take them: random floats, or tokenized texts."""
    if kind == "text":
        from tests.texts import ids

        return ids(tokenizer, n, offset=int(torch.randint(0, 8, ()).item()))
    return torch.randn(n, *KIND_SHAPES[kind])


# options external architectures need to build here (small nets, nothing downloaded)
EXTERNAL_OPTIONS = {
    "timm": {"name": "test_vit"},
    "torchvision": {"name": "resnet18"},
    "custom": {"_target_": "tests.test_registries.UserNet"},
}


class UserNet(torch.nn.Module):
    """A user's network for any input: flattens it."""

    def __init__(self, num_classes: int, input_shape=(6,)):
        super().__init__()
        self.flat = torch.nn.Flatten()
        self.fc = torch.nn.Linear(int(torch.tensor(input_shape).prod()), num_classes)

    def forward(self, x):
        return self.fc(self.flat(x))


@pytest.mark.parametrize("which", sorted(REGISTRIES))
def test_every_registry_keeps_the_same_contract(which):
    registry = REGISTRIES[which]
    names = sorted(registry)
    assert names, f"{which}: no entries"
    for name in names:  # each entry declared its facts, in its registry's facts type
        assert isinstance(registry.facts(name), registry.fact_type)
    with pytest.raises(ConfigError, match="unknown .*'nope'") as err:
        registry.get_or_fail("nope")
    assert all(name in err.value.fix for name in names)
    if registry.package is not None:  # discovered: every public module of its package is loaded
        package = importlib.import_module(registry.package)
        for info in pkgutil.iter_modules(package.__path__):
            assert info.name.startswith("_") or f"{registry.package}.{info.name}" in sys.modules


def test_a_registration_with_a_fact_its_registry_does_not_know_is_refused():
    with pytest.raises(TypeError):
        OPTIMIZERS.register("x", needs=("a", "b"))
    with pytest.raises(TypeError):
        MODELS.register("x", signed=True)


ARCH_KINDS = [(arch, kind) for arch in sorted(MODELS) for kind in MODELS.facts(arch).kinds]


@pytest.mark.parametrize("arch,kind", ARCH_KINDS, ids=[f"{a}-{k}" for a, k in ARCH_KINDS])
def test_every_architecture_builds_for_every_input_kind_it_declares(
    arch, kind, text_tokenizer, request
):
    from distillctl.explain.faithfulness import randomised_copy

    shape = KIND_SHAPES[kind]
    options = {**EXTERNAL_OPTIONS.get(arch, {}), **KIND_OPTIONS.get(kind, {})}
    if arch == "hf":  # a saved tiny BERT (the fixture's folder)
        options["name"] = str(request.getfixturevalue("hf_folder"))
    model = create_model({"arch": arch, "num_classes": 4, **options}, shape).eval()
    assert model(_inputs(kind, 2, text_tokenizer)).shape == (2, 4)
    if not MODELS.facts(arch).external:  # its own: it names its feature stages and embedding
        names = dict(model.named_modules())
        assert stage_names(model) and all(s in names for s in stage_names(model))
        assert model.embedding in names
    with torch.no_grad():
        for param in model.parameters():
            param.add_(torch.rand_like(param) + 0.5)
    clone = randomised_copy(model, seed=3)
    kept = [
        n for (n, p), q in zip(model.named_parameters(), clone.parameters()) if torch.equal(p, q)
    ]
    assert kept == [], f"{arch}: not re-drawn: {kept}"


def _pair(kind):
    """A teacher and a student of this project's own networks for `kind`."""
    shape = KIND_SHAPES[kind]
    arch = {"image": "cnn", "signal": "cnn1d", "tabular": "mlp", "text": "transformer"}[kind]
    spec = {"arch": arch, "num_classes": 4, **KIND_OPTIONS.get(kind, {})}
    torch.manual_seed(0)
    teacher = create_model(spec, shape).eval().requires_grad_(False)
    return create_model(spec, shape), teacher, shape


TERM_KINDS = [(n, k) for n in sorted(TERMS) for k in TERMS.facts(n).kinds]


@pytest.mark.parametrize("name,kind", TERM_KINDS, ids=[f"{n}-{k}" for n, k in TERM_KINDS])
def test_every_term_runs_one_step_on_every_input_kind_it_declares(name, kind, text_tokenizer):
    node = OmegaConf.to_container(OmegaConf.load(config_dir() / f"loss/{name}.yaml"))
    assert list(node) == [name], f"configs/loss/{name}.yaml ships the term's options"
    student, teacher, shape = _pair(kind)
    labels = torch.arange(40) % 4
    recipe = build_recipe(node).bind(student, teacher, shape, labels)
    torch.manual_seed(1)
    x, index = _inputs(kind, 8, text_tokenizer), torch.randperm(40)[:8]
    mask = x != 0 if kind == "text" else None  # a text batch's attention mask
    total, values = recipe(student, teacher, x, labels[index], index, 0, mask)
    assert torch.isfinite(values[name])
    total.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in student.parameters())


EXPLAINER_KINDS = [(n, k) for n in sorted(EXPLAINERS) for k in EXPLAINERS.facts(n).kinds]


@pytest.mark.parametrize("name,kind", EXPLAINER_KINDS, ids=[f"{n}-{k}" for n, k in EXPLAINER_KINDS])
def test_every_explainer_explains_one_input_of_every_kind_it_declares(name, kind, text_tokenizer):
    from distillctl.data.tokens import active

    cfg = OmegaConf.create({"seed": 0})
    cfg.explainer = OmegaConf.load(config_dir() / f"explainer/{name}.yaml")
    if "nsamples" in cfg.explainer:  # a few coalitions are enough to run
        cfg.explainer.nsamples = 16
    _, model, shape = _pair(kind)
    if "max_evals" in cfg.explainer:  # the permutation explainer's least: 2 * features + 1
        cfg.explainer.max_evals = 2 * int(torch.tensor(shape).prod()) + 1
    torch.manual_seed(2)
    x, background = _inputs(kind, 1, text_tokenizer), _inputs(kind, 8, text_tokenizer)
    if "window" in cfg.explainer and kind == "text":
        cfg.explainer.window = 1  # single tokens
    with active(text_tokenizer):  # explainers that read texts as strings find the tokenizer
        maps = get_explainer(name)(model, x, torch.tensor([1]), background, cfg.explainer)
    assert maps.shape == x.shape and torch.isfinite(maps).all() and maps.abs().sum() > 0


def test_too_few_permutation_evaluations_are_one_message():
    cfg = OmegaConf.create({"seed": 0})
    cfg.explainer = OmegaConf.load(config_dir() / "explainer/shap_permutation.yaml")
    _, model, shape = _pair("image")  # 768 features: 500 evaluations cannot cover them
    x = torch.randn(1, *shape)
    with pytest.raises(ConfigError, match="max_evals=500 is too low for inputs of 768 features"):
        get_explainer("shap_permutation")(model, x, torch.tensor([1]), x, cfg.explainer)


def test_facts_decide_what_validate_refuses():
    """validate reads the terms' and transfer sets' facts instead of naming terms."""
    from distillctl.configuration.specs import parse_all
    from distillctl.configuration.validate import state_per_process, transfer_fits

    keeping = sorted(n for n in TERMS if TERMS.facts(n).process_state)
    assert keeping == ["crd"]
    two = OmegaConf.create({"loss": {"crd": {}}, "trainer": {"devices": 2}})
    with pytest.raises(ConfigError, match="loss=crd keeps its memory banks in each process"):
        state_per_process(parse_all(two))
    state_per_process(parse_all(OmegaConf.create({"loss": {"kd": {}}, "trainer": {"devices": 2}})))
    for transfer in sorted(TRANSFERS):
        cfg = OmegaConf.create({"loss": {"crd": {}}, "distill": {"transfer": transfer}})
        if TRANSFERS.facts(transfer).unlabelled:
            with pytest.raises(ConfigError, match=f"transfer={transfer} adds inputs without"):
                transfer_fits(parse_all(cfg))
        else:
            transfer_fits(parse_all(cfg))


def test_an_optimisers_options_are_checked_against_what_it_declares(tmp_path):
    from distillctl.configuration.validate import validate
    from tests.conftest import compose_cfg

    assert set(OPTIMIZERS.facts("sgd").bounds) >= {"lr", "momentum", "nesterov", "weight_decay"}
    bad = compose_cfg("train_teacher", ["optim=sgd", "optim.momentum=-1"], tmp_path)
    with pytest.raises(ConfigError, match="optim.momentum=-1 is not valid"):
        validate(bad)
    late = compose_cfg("train_teacher", ["teacher_optim=adamw", "teacher_optim.gamma=0"], tmp_path)
    with pytest.raises(ConfigError, match="teacher_optim.gamma=0 is not valid"):
        validate(late)
