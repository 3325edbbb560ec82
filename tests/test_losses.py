"""The method library: every term's value, gradients, known values, and composition."""

import copy
import math

import pytest
import torch
from omegaconf import OmegaConf

from distillctl.configuration.groups import config_dir
from distillctl.errors import ConfigError
from distillctl.losses import TERMS, Step, build_recipe, build_term, recipe_name
from distillctl.losses.dkd import dkd_parts
from distillctl.losses.kd import soft_kl
from distillctl.models import create_model

IMAGE = (1, 8, 8)
SIGNAL = (1, 40)
# one file per term (kd.yaml holds `kd:`); other files are presets of several (kd_cifar.yaml)
METHODS = sorted(
    p.stem
    for p in (config_dir() / "loss").glob("*.yaml")
    if list(OmegaConf.load(p).keys()) == [p.stem]
)
RELATIONAL = ["at", "sp", "pkt", "rkd", "nst", "cc"]
LABELS = torch.arange(200) % 10  # the training split's labels, for bind


def models(shape, seed=0):
    torch.manual_seed(seed)
    if len(shape) == 3:
        t_cfg = {"arch": "cnn", "num_classes": 10, "channels": [32, 64]}
        s_cfg = {"arch": "cnn", "num_classes": 10, "channels": [8, 16], "hidden": 32}
    else:
        t_cfg = {"arch": "cnn1d", "num_classes": 10, "channels": [32, 32, 32]}
        s_cfg = {"arch": "cnn1d", "num_classes": 10, "channels": [8, 8, 8]}
    teacher = create_model(t_cfg, shape).eval().requires_grad_(False)
    return create_model(s_cfg, shape), teacher


def recipe_of(*names, **options):
    """The shipped YAML of each named term, with `options` as {term: {key: value}}."""
    loss = {}
    for name in names:
        loss.update(OmegaConf.to_container(OmegaConf.load(config_dir() / f"loss/{name}.yaml")))
        loss[name].update(options.get(name, {}))
    return build_recipe(loss)


def batch(shape, n=16, num_train=200):
    torch.manual_seed(1)
    return torch.randn(n, *shape), torch.randint(0, 10, (n,)), torch.randperm(num_train)[:n]


def logits_step(student, teacher, labels=None):
    labels = labels if labels is not None else torch.zeros(len(student), dtype=torch.long)
    return Step(torch.zeros(len(student), 1), labels, student, teacher)


def test_every_method_the_issue_names_ships_a_config():
    wanted = "kd dkd dist lskd ce fitnet at sp pkt rkd vid nst cc crd e2kd saliency_match"
    assert set(wanted.split()) <= set(METHODS)


# every shipped term on the kinds here it declares (text terms: tests/test_registries.py)
FLOAT_CASES = [
    (name, shape, kind)
    for name in METHODS
    for kind, shape in (("image", IMAGE), ("signal", SIGNAL))
    if kind in TERMS.facts(name).kinds
]


@pytest.mark.parametrize(
    "name,shape,kind", FLOAT_CASES, ids=[f"{n}-{k}" for n, _, k in FLOAT_CASES]
)
def test_term_alone_is_finite_and_trains_the_student_never_the_teacher(name, shape, kind):
    student, teacher = models(shape)
    before = copy.deepcopy(teacher.state_dict())
    recipe = recipe_of(name).bind(student, teacher, shape, LABELS)
    x, y, index = batch(shape)
    total, values = recipe(student, teacher, x, y, index)
    assert set(values) == {name} and values[name].dim() == 0
    assert torch.isfinite(values[name])
    total.backward()
    first_conv = student.features.block1[0].weight.grad  # reached through the whole student
    assert first_conv is not None and first_conv.abs().sum() > 0, name
    assert all(p.grad is None for p in teacher.parameters())
    assert all(torch.equal(before[k], v) for k, v in teacher.state_dict().items())


@pytest.mark.parametrize("name", RELATIONAL)
def test_relational_terms_are_zero_when_student_features_equal_the_teacher(name):
    _, teacher = models(IMAGE)
    student = copy.deepcopy(teacher).requires_grad_(True)
    recipe = recipe_of(name, **{name: {"layers": "all"}}).bind(student, teacher, IMAGE, LABELS)
    x, y, index = batch(IMAGE)
    _, values = recipe(student, teacher, x, y, index)
    assert values[name].item() == pytest.approx(0.0, abs=1e-6)
    other, _ = models(IMAGE, seed=3)  # and not zero for a different student
    recipe = recipe_of(name, **{name: {"layers": "all"}}).bind(other, teacher, IMAGE, LABELS)
    assert recipe(other, teacher, x, y, index)[1][name].item() > 1e-6


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


@pytest.mark.parametrize("t", [1.0, 2.0, 4.0, 8.0])
def test_kd_matches_the_formula_with_t_squared(t):
    student = torch.tensor([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])
    teacher = torch.tensor([[2.0, 0.0, 1.0], [1.0, 1.0, -2.0]])
    value = build_term("kd", {"temperature": t})(logits_step(student, teacher))
    assert value.item() == pytest.approx(manual_kd(student, teacher, t), rel=1e-5)


def test_t_squared_scaling_keeps_gradients_comparable_across_temperatures():
    # Hinton's reason for T^2: at high T, the soft-target gradient shrinks like 1/T^2.
    teacher = torch.tensor([[3.0, 1.0, 0.0, -1.0]])
    grads = []
    for t in (4.0, 16.0):
        student = torch.zeros(1, 4, requires_grad=True)
        soft_kl(student, teacher, t).backward()
        grads.append(student.grad.norm().item())
    assert grads[1] == pytest.approx(grads[0], rel=0.25)
    unscaled = [g / t**2 for g, t in zip(grads, (4.0, 16.0))]
    assert unscaled[1] / unscaled[0] < 0.1


def test_dkd_parts_recompose_kd():
    # Zhao et al.'s identity: KD = TCKD + (1 - p_teacher[gt]) * NCKD, per sample
    torch.manual_seed(0)
    student, teacher = torch.randn(32, 10) * 3, torch.randn(32, 10) * 3
    target = torch.randint(0, 10, (32,))
    t = 4.0
    tckd, nckd = dkd_parts(student, teacher, target, t)
    p_gt = (teacher / t).softmax(-1).gather(1, target[:, None]).squeeze(1)
    kd = soft_kl(student, teacher, t, per_sample=True)
    assert torch.allclose(tckd + (1 - p_gt) * nckd, kd, rtol=1e-4, atol=1e-5)


def test_dkd_with_unit_weights_is_tckd_plus_nckd_and_warms_up():
    torch.manual_seed(0)
    student, teacher = torch.randn(8, 5), torch.randn(8, 5)
    labels = torch.randint(0, 5, (8,))
    tckd, nckd = dkd_parts(student, teacher, labels, 4.0)
    term = build_term("dkd", {"alpha": 1.0, "beta": 1.0, "temperature": 4.0, "warmup": 4})
    step = logits_step(student, teacher, labels)
    step.epoch = 3  # the fourth epoch: fully ramped in
    assert term(step).item() == pytest.approx((tckd + nckd).mean().item(), rel=1e-5)
    step.epoch = 0
    assert term(step).item() == pytest.approx((tckd + nckd).mean().item() / 4, rel=1e-5)


def test_dist_is_zero_for_identical_and_largest_for_anticorrelated_logits():
    logits = torch.randn(8, 6)
    term = build_term("dist", {})
    assert term(logits_step(logits, logits.clone())).item() == pytest.approx(0.0, abs=1e-3)
    assert term(logits_step(-logits, logits)).item() > term(logits_step(logits * 0.5, logits))


def test_lskd_ignores_the_scale_and_shift_of_the_logits():
    torch.manual_seed(0)
    student, teacher = torch.randn(8, 6), torch.randn(8, 6)
    term = build_term("lskd", {"temperature": 2.0})
    plain = term(logits_step(student, teacher)).item()
    assert term(logits_step(student * 7 + 3, teacher)).item() == pytest.approx(plain, rel=1e-4)
    # plain KD is not scale-free: that is the point of standardising
    kd = build_term("kd", {"temperature": 2.0})
    assert kd(logits_step(student * 7, teacher)).item() != pytest.approx(
        kd(logits_step(student, teacher)).item(), rel=0.1
    )


def test_at_matches_the_paper_formula_by_hand():
    student, teacher = torch.randn(2, 3, 4, 4), torch.randn(2, 5, 4, 4)
    term = build_term("at", {})
    step = Step(torch.zeros(2), torch.zeros(2), torch.zeros(2, 2), torch.zeros(2, 2))
    term.student_layers, term.teacher_layers = ["s"], ["t"]
    step.student_features, step.teacher_features = {"s": student}, {"t": teacher}

    def att(f):
        a = f.pow(2).mean(1).flatten(1)
        return a / a.norm(dim=1, keepdim=True)

    expected = (att(student) - att(teacher)).pow(2).mean()
    assert term(step).item() == pytest.approx(expected.item(), rel=1e-5)


def test_composition_sums_weighted_terms_and_reports_each():
    student, teacher = models(IMAGE)
    recipe = recipe_of("ce", "kd", "at", kd={"weight": 0.5}).bind(student, teacher, IMAGE, LABELS)
    assert recipe.names == ["ce", "kd", "at"] and recipe.weights == [1.0, 0.5, 1000.0]
    x, y, _ = batch(IMAGE)
    total, values = recipe(student, teacher, x, y)
    expected = values["ce"] + 0.5 * values["kd"] + 1000.0 * values["at"]
    assert total.item() == pytest.approx(expected.item(), rel=1e-6)
    assert recipe_name({"ce": {}, "kd": {}, "at": {}}) == "ce+kd+at"


def test_a_zero_weight_drops_the_term():
    assert recipe_of("ce", "kd", kd={"weight": 0.0}).names == ["ce"]


def test_auxiliary_modules_train_with_the_recipe_and_stay_out_of_the_student():
    student, teacher = models(IMAGE)
    recipe = recipe_of("fitnet", "vid", "crd").bind(student, teacher, IMAGE, LABELS)
    aux = dict(recipe.named_parameters())
    assert any(k.startswith("terms.0.regressors") for k in aux)
    assert any(k.startswith("terms.2.embed_student") for k in aux)
    assert "terms.2.memory_student" in recipe.state_dict()  # CRD's bank is saved, as a buffer
    student_params = {id(p) for p in student.parameters()}
    assert not any(id(p) in student_params for p in recipe.parameters())
    assert not any("regressor" in k or "memory" in k for k in student.state_dict())


def test_crd_fills_its_memory_with_the_batch_embeddings():
    student, teacher = models(IMAGE)
    recipe = recipe_of("crd", crd={"momentum": 0.0}).bind(student, teacher, IMAGE, LABELS)
    crd = recipe.terms[0]
    x, y, index = batch(IMAGE)
    others = torch.ones(200, dtype=torch.bool)
    others[index] = False
    untouched = crd.memory_teacher[others].clone()
    recipe(student, teacher, x, y, index)
    with torch.no_grad():
        expected = torch.nn.functional.normalize(
            crd.embed_teacher(teacher.head[:3](teacher.features(x))),
            dim=1,  # the embedding
        )
    assert torch.allclose(crd.memory_teacher[index], expected, atol=1e-5)
    assert torch.equal(crd.memory_teacher[others], untouched)
    assert bool((crd.z > 0).all())  # the NCE normalisers were set on the first batch


def test_explanation_terms_train_through_the_explanation_alone():
    # the e2kd and saliency terms reach the student only through gradients of its outputs;
    # without create_graph the student would get no gradient from them at all
    student, teacher = models(IMAGE)
    for name in ("e2kd", "saliency_match"):
        recipe = recipe_of(name).bind(student, teacher, IMAGE, LABELS)
        x, y, _ = batch(IMAGE)
        student.zero_grad()
        total, _ = recipe(student, teacher, x, y)
        total.backward()
        head = student.head[1].weight.grad  # the map's weights come from the head's gradient
        assert head is not None and head.abs().sum() > 0, name


def test_layers_are_tapped_by_name_and_checked():
    student, teacher = models(IMAGE)
    term = recipe_of("at", at={"layers": ["features.block1"]}).bind(
        student, teacher, IMAGE, LABELS[:20]
    )
    assert term.terms[0].tapped() == (["features.block1"], ["features.block1"])
    term = recipe_of("at", at={"layers": "all"}).bind(student, teacher, IMAGE, LABELS[:20])
    assert term.terms[0].tapped()[0] == ["features.block1", "features.block2"]
    with pytest.raises(ConfigError, match="did you mean features.block1"):
        recipe_of("at", at={"layers": ["features.blok1"]}).bind(
            student, teacher, IMAGE, LABELS[:20]
        )


def test_spatial_methods_reject_vectors_and_pool_maps_of_another_size():
    student, teacher = models(IMAGE)
    with pytest.raises(ConfigError, match="no spatial axis"):
        recipe_of("nst", nst={"student_layers": ["head.1"]}).bind(
            student, teacher, IMAGE, LABELS[:20]
        )
    recipe = recipe_of(
        "at", at={"student_layers": ["features.block1"], "teacher_layers": ["features.block2"]}
    ).bind(student, teacher, IMAGE, LABELS[:20])  # 4x4 against 2x2: pooled to 2x2
    x, y, _ = batch(IMAGE)
    assert torch.isfinite(recipe(student, teacher, x, y)[0])


def test_fitnet_without_a_regressor_needs_equal_shapes():
    student, teacher = models(IMAGE)
    with pytest.raises(ConfigError, match="without a regressor"):
        recipe_of("fitnet", fitnet={"regressor": False}).bind(student, teacher, IMAGE, LABELS[:20])
    same = copy.deepcopy(teacher).requires_grad_(True)
    recipe_of("fitnet", fitnet={"regressor": False}).bind(same, teacher, IMAGE, LABELS[:20])


def test_crd_needs_indices_from_the_data_module():
    from distillctl.stages.distill import request_indices

    class NoIndices:
        pass

    with pytest.raises(ConfigError, match="needs the index of every training sample"):
        request_indices(NoIndices(), "ce+crd")


@pytest.mark.parametrize(
    "options,match",
    [({"kd": {"temperature": 4.0, "tau": 1}}, "loss.kd.tau is not an option"), ({}, "no loss")],
)
def test_bad_recipes_are_config_errors(options, match):
    with pytest.raises(ConfigError, match=match):
        build_recipe(options)


def test_cross_entropy_masks_unlabelled_samples():
    logits = torch.randn(4, 3)
    labels = torch.tensor([0, -1, 2, -1])
    expected = torch.nn.functional.cross_entropy(logits[[0, 2]], labels[[0, 2]])
    term = build_term("ce", {})
    assert term(logits_step(logits, logits, labels)).item() == pytest.approx(expected.item())
    assert term(logits_step(logits, logits, torch.full((4,), -1))).item() == 0.0


def test_label_smoothing_is_applied():
    logits, labels = torch.randn(6, 4), torch.randint(0, 4, (6,))
    expected = torch.nn.functional.cross_entropy(logits, labels, label_smoothing=0.2)
    term = build_term("ce", {"label_smoothing": 0.2})
    assert term(logits_step(logits, logits, labels)).item() == pytest.approx(expected.item())


def test_the_recipe_is_parsed_once_into_a_frozen_spec():
    from distillctl.configuration.parts import parse_recipe

    spec = parse_recipe({"ce": {"weight": 0.0}, "kd": {"weight": 0.9, "temperature": 2}})
    assert spec.name == "ce+kd" and recipe_name(spec) == "ce+kd"  # zero weights keep their name
    assert spec.option("kd", "temperature") == 2 and spec.option("at", "p", 9) == 9
    with pytest.raises(TypeError):
        spec.terms[1].options["temperature"] = 8  # read-only: stages never write it
    recipe = build_recipe(spec)
    assert recipe.names == ["kd"] and recipe.terms[0].temperature == 2.0  # zero weights drop
    with pytest.raises(ConfigError, match="every selected loss term .* has weight 0"):
        parse_recipe({"kd": {"weight": 0}})
