"""Explainers behind one interface, and the measures of explanation quality."""

import copy

import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from distillctl.configuration.groups import config_dir
from distillctl.errors import ConfigError
from distillctl.explain import EXPLAINERS, get_explainer
from distillctl.explain.faithfulness import (
    deletion_insertion,
    faithfulness_correlation,
    randomisation_similarity,
    randomised_copy,
    sparseness,
)
from distillctl.models import create_model

EXPLAINER_NAMES = sorted(p.stem for p in (config_dir() / "explainer").glob("*.yaml"))


def explainer_cfg(name, seed=0, **changes):
    """An explainer's config as a composed run holds it (its `${seed}` is the run's seed)."""
    root = OmegaConf.create({"seed": seed})
    root.explainer = OmegaConf.load(config_dir() / f"explainer/{name}.yaml")
    root.explainer.update(changes)
    return root.explainer


def linear_model(features=6, classes=3):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(features, classes))
    return model.eval(), model[0].weight.detach()


def test_every_explainer_the_issue_names_is_registered_and_configured():
    wanted = {
        "shap_gradient",
        "shap_deep",
        "shap_kernel",
        "shap_permutation",
        "captum_ig",
        "captum_saliency",
        "captum_gradcam",
        "captum_occlusion",
        "captum_deeplift",
        "captum_gradientshap",
        "captum_lime",
    }
    get_explainer("shap_gradient")  # loads the registrations
    assert wanted <= set(EXPLAINERS) and wanted <= set(EXPLAINER_NAMES)


# For a linear model, logit_t = w_t . x + b_t, and every method with a baseline c gives
# w_t * (x - c): the exact answer is known. Background: copies of one point c.
BASELINE_METHODS = [
    ("captum_ig", {"baseline": "mean"}),
    ("captum_deeplift", {"baseline": "mean"}),
    ("captum_gradientshap", {"nsamples": 8}),
    ("shap_gradient", {"nsamples": 16}),
    ("shap_deep", {}),
    ("shap_kernel", {"nsamples": 256}),
    ("shap_permutation", {"max_evals": 200}),
    # one feature per group: the least-squares surrogate's weights are w_t * (x - c) exactly
    ("captum_lime", {"baseline": "mean", "n_samples": 64}),
]


@pytest.mark.parametrize("name,changes", BASELINE_METHODS, ids=[m for m, _ in BASELINE_METHODS])
def test_explainers_recover_a_linear_models_exact_attributions(name, changes):
    model, w = linear_model()
    x = torch.randn(5, 6)
    targets = torch.tensor([0, 1, 2, 1, 0])
    c = torch.full((1, 6), 0.5)
    background = c.repeat(20, 1)
    got = get_explainer(name)(model, x, targets, background, explainer_cfg(name, **changes))
    expected = w[targets] * (x - c)
    assert got.shape == x.shape
    assert torch.allclose(got.float(), expected, atol=1e-4), (got, expected)


def test_saliency_occlusion_and_gradcam_known_values():
    model, w = linear_model()
    x, targets = torch.randn(4, 6), torch.tensor([2, 0, 1, 2])
    bg = torch.zeros(3, 6)
    sal = get_explainer("captum_saliency")(model, x, targets, bg, explainer_cfg("captum_saliency"))
    assert torch.allclose(sal, w[targets].abs())
    occ_cfg = explainer_cfg("captum_occlusion", window=1)
    occ = get_explainer("captum_occlusion")(model, x, targets, bg, occ_cfg)
    assert torch.allclose(occ, w[targets] * x, atol=1e-5)  # zeroing feature i drops w_i x_i
    cnn = create_model({"arch": "cnn", "num_classes": 10}, (1, 8, 8)).eval()
    images = torch.randn(3, 1, 8, 8)
    cam = get_explainer("captum_gradcam")(
        cnn, images, torch.tensor([1, 2, 3]), images, explainer_cfg("captum_gradcam")
    )
    assert cam.shape == images.shape and bool((cam >= 0).all())


def test_gradcam_names_a_layer_that_does_not_exist_or_has_no_maps():
    cnn = create_model({"arch": "cnn", "num_classes": 10}, (1, 8, 8)).eval()
    x, t = torch.randn(2, 1, 8, 8), torch.tensor([0, 1])
    with pytest.raises(ConfigError, match="explainer.layer: the model has no layer 'nope'"):
        get_explainer("captum_gradcam")(cnn, x, t, x, explainer_cfg("captum_gradcam", layer="nope"))
    with pytest.raises(ConfigError, match="needs a layer with spatial maps"):
        get_explainer("captum_gradcam")(
            cnn, x, t, x, explainer_cfg("captum_gradcam", layer="head.1")
        )


def test_deletion_and_insertion_reward_the_true_attribution_over_its_reverse():
    model, w = linear_model(features=20, classes=2)
    x = torch.randn(16, 20)
    targets = model(x).argmax(-1)
    truth = w[targets] * x
    base = torch.zeros(1, 20)
    good_del, good_ins = deletion_insertion(model, x, truth, targets, base, steps=20)
    bad_del, bad_ins = deletion_insertion(model, x, -truth, targets, base, steps=20)
    assert good_del.mean() < bad_del.mean() and good_ins.mean() > bad_ins.mean()
    assert bool(((good_del >= 0) & (good_del <= 1)).all())


def test_faithfulness_correlation_is_one_for_a_linear_models_exact_attributions():
    model, w = linear_model(features=20, classes=2)
    x = torch.randn(8, 20)
    targets = torch.zeros(8, dtype=torch.long)
    exact = w[targets] * x  # the logit drop of removing S (to 0) is exactly the sum over S
    corr = faithfulness_correlation(model, x, exact, targets, torch.zeros(1, 20), subsets=32)
    assert torch.allclose(corr, torch.ones(8), atol=1e-4)
    noise = faithfulness_correlation(model, x, torch.randn(8, 20), targets, torch.zeros(1, 20))
    assert noise.mean() < 0.6


def test_sparseness_is_the_gini_index():
    one_hot = torch.zeros(1, 10)
    one_hot[0, 3] = 5.0
    flat = torch.ones(1, 10)
    assert sparseness(one_hot).item() == pytest.approx(0.9)  # (n - 1) / n for one feature
    assert sparseness(flat).item() == pytest.approx(0.0, abs=1e-6)
    assert sparseness(torch.zeros(1, 10)).item() == 0.0


def test_parameter_randomisation_changes_weights_and_lowers_similarity():
    cnn = create_model({"arch": "cnn", "num_classes": 10}, (1, 8, 8)).eval()
    clone = randomised_copy(cnn, seed=1)
    first = next(iter(cnn.parameters()))
    assert not torch.equal(first, next(iter(clone.parameters())))
    x, t = torch.randn(6, 1, 8, 8), torch.randint(0, 10, (6,))
    cfg = explainer_cfg("captum_saliency")
    original = get_explainer("captum_saliency")(cnn, x, t, x, cfg)
    same = randomisation_similarity(original, original)
    assert same == pytest.approx([1.0] * 6)
    other = randomisation_similarity(
        original, get_explainer("captum_saliency")(clone, x, t, x, cfg)
    )
    assert sum(other) / len(other) < 0.9


def test_shap_output_layouts_are_handled_in_one_place():
    import numpy as np

    from distillctl.explain.methods.shap_explainers import shap_layout

    like = torch.zeros(4, 1, 2, 3)
    per_class = np.random.default_rng(0).normal(size=(4, 1, 2, 3, 5))  # new SHAP: outputs last
    targets = torch.tensor([0, 4, 2, 2])
    expected = torch.as_tensor(per_class[np.arange(4), ..., targets.numpy()], dtype=torch.float32)
    old_shap = [per_class[..., c] for c in range(5)]  # old SHAP: a list, one array per output
    flat = per_class.reshape(4, 6, 5)  # model-agnostic explainers: flattened features
    for values in (per_class, old_shap, flat):
        assert torch.allclose(shap_layout(values, like, targets), expected)
    one = per_class[..., :1]  # a single explained output, with or without its axis
    assert torch.allclose(shap_layout(one, like), torch.as_tensor(one[..., 0]).float())
    assert torch.allclose(shap_layout(one[..., 0], like), torch.as_tensor(one[..., 0]).float())


def test_chunks_halve_when_the_device_runs_out_of_memory():
    from distillctl.explain.methods.captum_explainers import chunked

    sizes = []

    def explain(x, t):
        sizes.append(len(x))
        if len(x) > 3:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory")
        return x * 2

    x = torch.arange(10.0)[:, None]
    out = chunked(explain, x, torch.zeros(10, dtype=torch.long), 8)
    assert torch.equal(out, x * 2)
    assert sizes[:3] == [8, 4, 2] and max(sizes[3:]) <= 2


# Explainers that draw random numbers (captum's GradientShap and SHAP's model-agnostic ones
# from NumPy's and torch's global generators) and what each needs to be quick here.
STOCHASTIC = [
    ("captum_gradientshap", {"nsamples": 4}),
    ("shap_kernel", {"nsamples": 40, "kmeans": 4}),
    ("shap_permutation", {"max_evals": 40, "batch_size": 40}),
    ("shap_gradient", {"nsamples": 8}),
    ("captum_lime", {"n_samples": 30}),
]


def global_random_state():
    import random

    import numpy as np

    state = np.random.get_state()
    return (random.getstate(), state[1].tobytes(), state[2], torch.get_rng_state())


def nonlinear_problem():
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3)).eval()
    return model, torch.randn(4, 6), torch.tensor([0, 1, 2, 1]), torch.randn(12, 6)


@pytest.mark.parametrize("name,changes", STOCHASTIC, ids=[m for m, _ in STOCHASTIC])
def test_stochastic_explainers_are_seeded_and_leave_the_global_generators_alone(name, changes):
    import numpy as np

    model, x, targets, background = nonlinear_problem()
    explain = get_explainer(name)
    cfg = explainer_cfg(name, **changes)
    np.random.seed(1)
    torch.manual_seed(1)
    before = global_random_state()
    first = explain(model, x, targets, background, cfg)
    after = global_random_state()
    assert before[0] == after[0] and before[1:3] == after[1:3]  # Python's and NumPy's
    assert torch.equal(before[3], after[3])  # torch's
    np.random.seed(99)  # whatever ran before: other models, training, other explainers
    torch.manual_seed(99)
    np.random.rand(17)
    again = explain(model, x, targets, background, cfg)
    assert torch.equal(first, again)
    other = explain(model, x, targets, background, explainer_cfg(name, seed=5, **changes))
    assert not torch.equal(first, other)


@pytest.mark.parametrize("name,changes", STOCHASTIC, ids=[m for m, _ in STOCHASTIC])
def test_a_stochastic_map_depends_on_the_seed_the_model_and_that_input_only(name, changes):
    """Not on its place in the list, how many inputs are explained, or the batch it shares."""
    model, x, targets, background = nonlinear_problem()
    more = torch.cat([torch.randn(5, 6), x])  # the same 4 inputs after 5 others
    explain, cfg = get_explainer(name), explainer_cfg(name, **changes)
    together = explain(model, x, targets, background, cfg)
    after_others = explain(model, more, torch.cat([targets.new_zeros(5), targets]), background, cfg)
    alone = torch.cat(
        [explain(model, x[i : i + 1], targets[i : i + 1], background, cfg) for i in range(4)]
    )
    assert torch.equal(together, after_others[5:])
    assert torch.equal(together, alone)
    other_seed = explain(model, x, targets, background, explainer_cfg(name, seed=1, **changes))
    assert not torch.equal(together, other_seed)


def test_each_input_of_a_model_agnostic_explainer_has_its_own_draws():
    model, x, targets, background = nonlinear_problem()
    cfg = explainer_cfg("shap_kernel", nsamples=40, kmeans=4)
    explain = get_explainer("shap_kernel")
    whole = explain(model, x, targets, background, cfg)
    first_two = explain(model, x[:2], targets[:2], background, cfg)
    assert torch.equal(whole[:2], first_two)


def test_parameter_randomisation_leaves_the_global_generator_alone():
    model, *_ = nonlinear_problem()
    torch.manual_seed(1)
    state = torch.get_rng_state()
    first = randomised_copy(model)
    assert torch.equal(state, torch.get_rng_state())
    assert torch.equal(first[0].weight, randomised_copy(model)[0].weight)


def test_deletion_and_insertion_are_read_against_a_random_order_in_units_of_p():
    """Exact attributions of a linear model beat a random deletion order, their reverse
    loses to it; each in units of the model's own p(target | x), at any confidence."""
    from distillctl.explain.faithfulness import explanation_quality

    model, _ = linear_model(features=12, classes=3)
    cool = copy.deepcopy(model)
    with torch.no_grad():
        cool[0].weight.mul_(0.2)  # the same ranking of features, far less confident
    x = torch.randn(32, 12) * 2
    targets = model(x).argmax(1)
    background = torch.zeros(20, 12)
    cfg = OmegaConf.create(
        {"baseline": "zero", "steps": 12, "subsets": 8, "subset_fraction": 0.25, "sanity": False}
    )

    def mean_rows(m, attributions):
        rows = explanation_quality(
            m, x, attributions.detach(), targets, background, cfg, None, background[:1]
        )
        return rows, {k: sum(v) / len(v) for k, v in rows.items()}

    p = {}
    for name, m in (("sharp", model), ("cool", cool)):
        exact = m[0].weight[targets] * x  # exact for a linear model and a zero baseline
        rows, mean = mean_rows(m, exact)
        p[name] = mean["p_target"]
        assert mean["deletion_vs_random"] > 0 and mean["insertion_vs_random"] > 0
        assert max(rows["completeness_gap"]) < 1e-4  # they sum to f(x) - f(0)
        _, reverse = mean_rows(m, -exact)
        assert reverse["deletion_vs_random"] < 0 and reverse["insertion_vs_random"] < 0
    assert p["cool"] < p["sharp"]


def test_completeness_gap_of_integrated_gradients_shrinks_with_steps():
    from distillctl.explain.faithfulness import completeness_gap

    model, x, targets, background = nonlinear_problem()
    ref = torch.zeros(1, 6)
    gaps = []
    for steps in (2, 64):
        cfg = explainer_cfg("captum_ig", n_steps=steps, baseline="zero")
        maps = get_explainer("captum_ig")(model, x, targets, background, cfg)
        gaps.append(completeness_gap(model, x, maps, targets, ref).mean().item())
    assert gaps[1] < gaps[0] / 10 and gaps[1] < 0.02


def test_gradcam_auto_takes_the_last_layer_with_maps_at_least_4_wide():
    from distillctl.explain.methods.captum_explainers import gradcam_auto_layer
    from distillctl.models.taps import layer_names, output_shapes

    cnn = create_model({"arch": "cnn", "num_classes": 10}, (1, 8, 8)).eval()
    shapes = output_shapes(cnn, (1, 8, 8), layer_names(cnn))
    chosen = gradcam_auto_layer(cnn, (1, 8, 8))
    assert min(shapes[chosen][1:]) >= 4
    names = list(shapes)
    later = names[names.index(chosen) + 1 :]
    assert all(len(shapes[n]) != 3 or min(shapes[n][1:]) < 4 for n in later)
    assert any(len(shapes[n]) == 3 and min(shapes[n][1:]) < 4 for n in later)  # 2x2 after pools
    x = torch.randn(3, 1, 8, 8)
    cam = get_explainer("captum_gradcam")(
        cnn, x, torch.tensor([0, 1, 2]), x, explainer_cfg("captum_gradcam")
    )
    assert cam.shape == x.shape


def test_cascading_randomisation_reinitialises_layers_from_the_top_down():
    from distillctl.explain.faithfulness import cascading_copies, cascading_randomisation

    model, x, targets, background = nonlinear_problem()  # Linear(6,16) ReLU Linear(16,3)
    copies = list(cascading_copies(model))
    assert [name for name, _ in copies] == ["2", "0"]  # output layer first
    first, last = copies[0][1], copies[1][1]
    assert torch.equal(first[0].weight, model[0].weight)  # only the top layer so far
    assert not torch.equal(first[2].weight, model[2].weight)
    assert not torch.equal(last[0].weight, model[0].weight)
    cfg = explainer_cfg("captum_ig")
    explain = get_explainer("captum_ig")
    maps = explain(model, x, targets, background, cfg)
    steps = cascading_randomisation(maps, model, lambda m: explain(m, x, targets, background, cfg))
    assert [s["layer"] for s in steps] == ["2", "0"]
    assert all(-1 <= s["spearman_signed"] <= 1 and -1 <= s["spearman_abs"] <= 1 for s in steps)
    assert steps[-1]["spearman_signed"] < 0.9  # a fully random model explains differently


def test_lime_groups_image_patches_and_slic_superpixels():
    from distillctl.explain.methods.lime import patch_groups, slic_groups

    groups = patch_groups(torch.zeros(1, 3, 4, 6), 2)
    assert groups.shape == (3, 4, 6) and int(groups.max()) + 1 == 2 * 3  # 2 x 3 patches
    assert torch.equal(groups[0], groups[2])  # channels together
    assert groups[0, 0, 0] == groups[0, 1, 1] != groups[0, 0, 2]
    assert torch.equal(patch_groups(torch.zeros(1, 5), 2), torch.arange(5))  # a table's columns
    texts = torch.ones(1, 7, dtype=torch.long)
    assert torch.equal(patch_groups(texts, 2), torch.arange(7))  # a text: one token each
    image = torch.zeros(3, 16, 16)
    image[:, :, 8:] = 1.0  # two flat halves: superpixels never straddle the edge
    labels = slic_groups(image, 4)
    assert not set(labels[0, :, :8].unique().tolist()) & set(labels[0, :, 8:].unique().tolist())
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 2)).eval()
    cfg = explainer_cfg("captum_lime", segments="slic", superpixels=4, n_samples=20)
    maps = get_explainer("captum_lime")(model, image[None], torch.tensor([1]), image[None], cfg)
    assert maps.shape == (1, 3, 16, 16)
