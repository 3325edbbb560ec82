"""student=soft_tree (Frosst & Hinton 2017): routing, penalty, the leaf-wise objective and the
predictions pinned against the paper's formulas written out by hand; training and the report's
tree drawing end to end."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import run_stage

from distillctl.errors import ConfigError
from distillctl.losses import Step, build_recipe, build_term
from distillctl.losses.leafwise import PENALTY, check_terms, tree_terms
from distillctl.models import create_model
from distillctl.report.tree import branch_distributions, draw_tree, tree_summary


def tree(depth=2, shape=(3,), classes=3, **options):
    torch.manual_seed(0)
    return create_model(
        {"arch": "soft_tree", "num_classes": classes, "depth": depth, **options}, shape
    )


def by_hand(model, x):
    """Path probabilities (B, L) and reach probabilities (B, N) from the definition: walk each
    leaf's root path, multiplying sigmoid(beta (w.x + b)) going right and 1 - it going left."""
    p = torch.sigmoid(model.beta * (x @ model.inner.weight.T + model.inner.bias))
    depth = model.depth
    path = torch.ones(len(x), 2**depth)
    reach = torch.zeros(len(x), 2**depth - 1)
    for leaf in range(2**depth):
        node, prob = 0, torch.ones(len(x))
        for level in range(depth):
            reach[:, node] = prob
            right = (leaf >> (depth - 1 - level)) & 1
            prob = prob * (p[:, node] if right else 1 - p[:, node])
            node = 2 * node + 1 + right
        path[:, leaf] = prob
    return path, reach, p


def test_routing_follows_the_definition():
    model = tree(depth=3)
    x = torch.randn(6, 3)
    routing = model.route(x)
    path, reach, right = by_hand(model, x)
    assert torch.allclose(routing.path, path, atol=1e-6)
    assert torch.allclose(routing.log_reach.exp(), reach, atol=1e-6)
    assert torch.allclose(routing.right, right, atol=1e-6)
    assert torch.allclose(routing.path.sum(1), torch.ones(6), atol=1e-6)


def reference_penalty(reach, right, depth, strength):
    """The penalty as kimhc6028/soft-decision-tree computes it: the root InnerNode has depth 1
    and lmbda = lambda 2^-depth; a node's (alpha, lmbda) is collected only when its children
    are inner nodes (so the deepest inner level is left out); C = -sum lmbda 0.5 (log a +
    log(1 - a)), a = sum(prob * path_prob) / sum(path_prob)."""
    total = 0.0

    def visit(i, node_depth):
        nonlocal total
        if node_depth == depth:  # its children are leaves: not collected
            return
        a = float((reach[:, i] * right[:, i]).sum() / reach[:, i].sum())
        total -= strength * 2.0**-node_depth * 0.5 * (math.log(a) + math.log(1 - a))
        visit(2 * i + 1, node_depth + 1)
        visit(2 * i + 2, node_depth + 1)

    visit(0, 1)
    return total


@pytest.mark.parametrize("depth", [1, 2, 3, 8])
def test_penalty_is_the_reference_codes(depth):
    """C = -sum_i lambda 2^-d(i) 0.5 (log a_i + log(1 - a_i)), a_i = sum_x P^i p_i / sum_x P^i,
    with the reference's depths (root at 1) and without its deepest inner level."""
    model = tree(depth=depth, penalty=0.3)
    x = torch.randn(64, 3)
    _, reach, right = by_hand(model, x)
    want = reference_penalty(reach.double(), right.double(), depth, 0.3)
    assert float(model.penalty(model.route(x))) == pytest.approx(want, rel=1e-5, abs=1e-7)
    if depth == 1:
        assert want == 0.0  # one inner node, whose children are leaves: nothing collected


def test_the_penalty_options_give_every_node_lambda_2_to_the_minus_its_depth_from_0():
    """penalty_root_depth=0 penalty_last_level=true: the root weighs lambda, every level counts."""
    model = tree(depth=3, penalty=0.3, penalty_root_depth=0, penalty_last_level=True)
    x = torch.randn(16, 3)
    _, reach, right = by_hand(model, x)
    expected = 0.0
    for i in range(7):
        depth_i = int(math.log2(i + 1))
        alpha = float((reach[:, i] * right[:, i]).sum() / reach[:, i].sum())
        expected -= 0.3 * 2.0**-depth_i * 0.5 * (math.log(alpha) + math.log(1 - alpha))
    assert float(model.penalty(model.route(x))) == pytest.approx(expected, rel=1e-5)
    # a node used both ways in equal parts costs the least: -log(0.5) per unit weight
    assert expected >= -0.3 * sum(2.0 ** -int(math.log2(i + 1)) for i in range(7)) * math.log(0.5)


def test_learn_beta_gives_every_inner_node_its_own_trained_inverse_temperature():
    fixed_beta = tree(depth=2, beta=2.0)
    assert "beta" not in dict(fixed_beta.named_parameters())
    model = tree(depth=2, beta=2.0, learn_beta=True)
    beta = dict(model.named_parameters())["beta"]
    assert beta.shape == (3,) and torch.equal(beta.detach(), torch.full((3,), 2.0))
    model.explained_form()(torch.randn(4, 3)).sum().backward()  # the max leaf has no gradient
    assert beta.grad is not None and beta.grad.abs().sum() > 0
    x = torch.randn(4, 3)
    with torch.no_grad():
        beta.copy_(torch.tensor([1.0, 3.0, 0.5]))
    _, reach, right = by_hand(model, x)
    assert torch.allclose(model.route(x).right, right, atol=1e-6)


def test_leafwise_ce_and_kd_are_the_papers_expected_losses():
    """ce: -sum_l P^l log Q^l_y over the labelled samples (the unlabelled one left out);
    kd: sum_l P^l T^2 KL(softmax(t/T) || softmax(log Q^l / T))."""
    model = tree(depth=2, penalty=0.0)
    x = torch.randn(5, 3)
    labels = torch.tensor([0, 2, -1, 1, 1])
    teacher = torch.randn(5, 3)
    routing = model.route(x)
    step = Step(
        x=x,
        labels=labels,
        student_logits=routing.leaf_log_probs[:1].repeat(5, 1),
        teacher_logits=teacher,
    )
    terms = {"ce": build_term("ce", {}), "kd": build_term("kd", {"temperature": 2.0})}
    values = tree_terms(model, routing, step, terms)
    path, _, _ = by_hand(model, x)
    log_q = F.log_softmax(model.leaves, -1)
    ce = [-(path[i] * log_q[:, labels[i]]).sum() for i in range(5) if labels[i] >= 0]
    assert float(values["ce"]) == pytest.approx(float(sum(ce) / 4), rel=1e-5)
    t = F.softmax(teacher / 2, -1)
    kd = 0.0
    for i in range(5):
        for leaf in range(4):
            q = F.softmax(log_q[leaf] / 2, -1)
            kd += path[i, leaf] * 4 * (t[i] * (t[i].log() - q.log())).sum()
    assert float(values["kd"]) == pytest.approx(float(kd / 5), rel=1e-5)
    assert float(values[PENALTY]) == 0.0
    assert int(terms["ce"].samples(labels)) == 4  # the count the metrics log says


def test_mixture_objective_gives_the_terms_the_mixture():
    model = tree(depth=2, objective="mixture")
    x, labels = torch.randn(4, 3), torch.tensor([0, 1, 2, 0])
    routing = model.route(x)
    mixture = torch.log(by_hand(model, x)[0] @ F.softmax(model.leaves, -1))
    step = Step(x=x, labels=labels, student_logits=mixture, teacher_logits=torch.randn(4, 3))
    values = tree_terms(model, routing, step, {"ce": build_term("ce", {})})
    assert float(values["ce"]) == pytest.approx(float(F.nll_loss(mixture, labels)), rel=1e-5)
    assert float(values[PENALTY]) == pytest.approx(float(model.penalty(routing)))


def test_predictions_and_the_explained_form():
    model = tree(depth=3)
    x = torch.randn(8, 3, requires_grad=True)
    path, _, _ = by_hand(model, x.detach())
    log_q = F.log_softmax(model.leaves, -1).detach()
    assert torch.allclose(model(x), log_q[path.argmax(1)])  # max: the most probable leaf
    mixed = create_model(
        {"arch": "soft_tree", "num_classes": 3, "depth": 3, "prediction": "mixture"}, (3,)
    )
    mixed.load_state_dict(model.state_dict())
    assert torch.allclose(mixed(x).exp(), path @ log_q.exp(), atol=1e-6)
    # the max-leaf answer has no input gradient; the form the explainers get has one
    (grad_max,) = torch.autograd.grad(model(x)[:, 0].sum(), x, allow_unused=True)
    assert grad_max is None or float(grad_max.abs().sum()) == 0.0
    (grad,) = torch.autograd.grad(model.explained_form()(x)[:, 0].sum(), x)
    assert float(grad.abs().sum()) > 0


def test_feature_terms_need_the_mixture_objective():
    model = tree(depth=2)
    with pytest.raises(ConfigError, match="student.objective=mixture"):
        check_terms(model, {"dist": build_term("dist", {})})
    check_terms(tree(depth=2, objective="mixture"), {"dist": build_term("dist", {})})
    recipe = build_recipe({"ce": {"weight": 1.0}, "kd": {"weight": 1.0}})
    recipe.bind(model, create_model({"arch": "mlp", "num_classes": 3}, (3,)), (3,), [0, 1, 2])


@pytest.mark.parametrize(
    "option, fix",
    [("depth", "from 1 to"), ("prediction", "max, mixture"), ("objective", "expected")],
)
def test_bad_tree_options_are_one_message(option, fix):
    bad = {"depth": 0, "prediction": "vote", "objective": "sum"}[option]
    with pytest.raises(ConfigError) as err:
        create_model({"arch": "soft_tree", "num_classes": 3, option: bad}, (3,))
    assert fix in err.value.fix


def test_branch_distributions_weigh_leaves_by_their_mass():
    leaves = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5], [0.5, 0.5]])
    summary = {"leaves": leaves, "leaf_reach": np.array([0.3, 0.1, 0.0, 0.0])}
    cut = branch_distributions(summary, 1)
    assert np.allclose(cut[0], [0.75, 0.25])  # 0.3 / 0.4 of leaf 0, 0.1 / 0.4 of leaf 1
    assert np.allclose(cut[1], [0.5, 0.5])  # no mass: the plain mean


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 40), (5,)])
def test_the_tree_is_drawn_for_each_kind_of_data(tmp_path, shape):
    kind = {3: "image", 2: "signal", 1: "tabular"}[len(shape)]
    model = tree(depth=5, shape=shape, classes=4)
    inputs = torch.randn(12, *shape)
    summary = tree_summary(model, inputs)
    assert summary["filters"].shape == (31, *shape)
    assert summary["reach"][0] == pytest.approx(1.0)
    path = draw_tree(model, inputs, kind, tmp_path / "tree.png", "t", ["a", "b", "c", "d"])
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_soft_tree_trains_and_is_drawn_in_the_report(tmp_path):
    """`run student=soft_tree`: the scratch tree trains on the paper's objective (the penalty
    is logged), the distilled one through kd, and the report draws both trees."""
    run_dir, results = run_stage(
        "run", tmp_path, "student=soft_tree", "student.depth=3", "trainer.max_epochs=2"
    )
    report = (run_dir / "report.html").read_text()
    assert "What the soft tree learned" in report
    assert (run_dir / "attributions" / "tree_distilled_student.png").exists()
    assert (run_dir / "attributions" / "tree_scratch_student.png").exists()
    for stage in ("scratch", "distilled"):
        header = (run_dir / stage / "metrics.csv").read_text().splitlines()[0]
        assert "train/tree_penalty" in header
    info = json.loads((run_dir / "distilled" / "run.json").read_text())
    assert info["status"] == "done"
