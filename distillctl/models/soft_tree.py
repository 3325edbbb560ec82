"""`soft_tree`: the soft decision tree of Frosst & Hinton, "Distilling a Neural Network Into a
Soft Decision Tree" (2017, arXiv:1711.09784); reference implementation read:
kimhc6028/soft-decision-tree (model.py).

A complete binary tree of depth D. Inner node i (2^D - 1 of them, breadth first: node i's
children are 2i+1 and 2i+2) is a logistic filter p_i(x) = sigma(beta (w_i . x + b_i)), the
probability of taking its right branch; leaf l holds a learned distribution Q^l = softmax(phi_l).
The path probability P^l(x) is the product of the branch probabilities from the root to l.

Objective (`objective`): `expected`, the paper's: each loss term is evaluated on every leaf's
distribution and weighted by the path probability, sum_l P^l(x) L(Q^l) (for `ce` that is the
paper's -sum_l P^l sum_k T_k log Q^l_k); `mixture`: the terms see the mixture
log sum_l P^l Q^l as one vector of log-probabilities (any logit term then applies).
Penalty (`penalty`, the paper's lambda): C = -sum_i lambda 2^-d(i) 0.5 (log a_i + log(1 - a_i)),
a_i = sum_x P^i(x) p_i(x) / sum_x P^i(x) over the batch (P^i: the probability of reaching i),
which keeps every inner node using both subtrees; it decays with the node's depth d(i). As the
reference code does by default: the root has depth 1 (`penalty_root_depth`, so it weighs
lambda / 2) and the deepest level of inner nodes is not penalised (`penalty_last_level=false`:
the reference's `get_penalty` collects a node only when its children are inner nodes).
Inverse temperature (`beta`): one fixed value, the paper's; `learn_beta=true` learns one per
inner node from that start, as the reference does (it starts each from N(0, 1)).
Prediction (`prediction`): `max`, the paper's: the distribution of the leaf with the greatest
path probability; `mixture`: the path-weighted mixture. Both are returned as log-probabilities,
so softmax(output) is the predicted distribution. The max-leaf output is piecewise constant in
x (no input gradient), so the explain stage explains the tree through its mixture
(`explained_form`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from distillctl.bounds import (
    BOOLEAN,
    NON_NEGATIVE,
    POSITIVE,
    one_of,
    whole_between,
    whole_one_of,
)
from distillctl.models import ANY_FLOAT_KIND, ShapeError, register
from distillctl.models.stages import declare


@dataclass
class Routing:
    """One batch through the tree: log path probabilities of the leaves (B, L), log
    probabilities of reaching each inner node (B, N), each inner node's right-branch
    probability (B, N), and the leaves' log class distributions (L, K)."""

    log_path: torch.Tensor
    log_reach: torch.Tensor
    right: torch.Tensor
    leaf_log_probs: torch.Tensor

    @property
    def path(self) -> torch.Tensor:
        return self.log_path.exp()


class SoftTree(nn.Module):
    def __init__(
        self,
        input_shape: tuple[int, ...],
        num_classes: int,
        depth: int,
        beta: float,
        penalty: float,
        prediction: str,
        objective: str,
        penalty_root_depth: int = 1,
        penalty_last_level: bool = False,
        learn_beta: bool = False,
    ):
        super().__init__()
        self.depth, self.strength = int(depth), float(penalty)
        self.beta_start = float(beta)
        self.prediction, self.objective = prediction, objective
        self.input_shape = tuple(input_shape)
        self.flatten = nn.Flatten()
        inner = 2**self.depth - 1
        self.inner = nn.Linear(math.prod(input_shape), inner)  # row i: w_i, b_i
        # leaf logits phi: random as the reference's, so the leaves differ from the start
        self.leaves = nn.Parameter(torch.empty(2**self.depth, int(num_classes)))
        beta_start = torch.full((inner,), self.beta_start)
        if learn_beta:
            self.beta = nn.Parameter(beta_start)
        else:
            self.register_buffer("beta", beta_start, persistent=False)
        self.reset_parameters()
        # lambda's factor 2^-d(i) of every inner node, breadth first (0 where not penalised)
        last = self.depth if penalty_last_level else self.depth - 1
        decay = [
            2.0 ** -(d + int(penalty_root_depth)) if d < last else 0.0
            for d in range(self.depth)
            for _ in range(2**d)
        ]
        self.register_buffer("decay", torch.tensor(decay), persistent=False)

    def reset_parameters(self) -> None:
        """The tree's own parameters drawn as at construction (the filters are nn.Linear's):
        leaf logits from N(0, 1) as the reference's, a learned beta back at its start."""
        with torch.no_grad():
            self.leaves.normal_()
            self.beta.fill_(self.beta_start)

    def route(self, x: torch.Tensor) -> Routing:
        z = self.beta * self.inner(self.flatten(x))  # (B, N)
        log_right, log_left = F.logsigmoid(z), F.logsigmoid(-z)
        reach = [z.new_zeros(len(z), 1)]  # log P of reaching the nodes of each level
        for d in range(self.depth):
            level = slice(2**d - 1, 2 ** (d + 1) - 1)
            here = reach[-1]
            # children of node j of this level: 2j (left) and 2j + 1 (right) of the next
            children = torch.stack([here + log_left[:, level], here + log_right[:, level]], -1)
            reach.append(children.flatten(1))
        return Routing(
            log_path=reach[-1],
            log_reach=torch.cat(reach[:-1], 1),
            right=torch.sigmoid(z),
            leaf_log_probs=F.log_softmax(self.leaves, -1),
        )

    def output(self, routing: Routing, how: str) -> torch.Tensor:
        """Log-probabilities (B, K): the max-path leaf's, or the mixture's."""
        if how == "max":
            return routing.leaf_log_probs[routing.log_path.argmax(1)]
        return torch.logsumexp(routing.log_path[:, :, None] + routing.leaf_log_probs[None], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output(self.route(x), self.prediction)

    def penalty(self, routing: Routing) -> torch.Tensor:
        """The paper's regulariser over the batch (0 with penalty=0)."""
        reach = routing.log_reach.exp()
        alpha = (reach * routing.right).sum(0) / reach.sum(0).clamp_min(1e-12)
        alpha = alpha.clamp(1e-6, 1 - 1e-6)  # a node no sample reached costs log(1e-6), not inf
        balance = 0.5 * (torch.log(alpha) + torch.log1p(-alpha))
        return -self.strength * (self.decay * balance).sum()

    def explained_form(self) -> nn.Module:
        """The model the explainers see: the mixture, smooth in x (the max-leaf output has no
        input gradient)."""
        return MixtureView(self)


class MixtureView(nn.Module):
    """A soft tree answering with its mixture; shares the tree's parameters."""

    def __init__(self, tree: SoftTree):
        super().__init__()
        self.tree = tree

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tree.output(self.tree.route(x), "mixture")


def is_soft_tree(model: nn.Module) -> bool:
    return isinstance(model, SoftTree)


# the soft tree's option rules (validate applies them where a role chooses soft_tree; the
# builder applies them to models built outside a run)
OPTIONS = (
    # 12: 4095 inner nodes; beyond it the leaf-wise objective's memory grows too fast
    ("depth", whole_between(1, 12), "6"),
    ("beta", POSITIVE, "1.0"),
    ("penalty", NON_NEGATIVE, "0.1"),
    ("learn_beta", BOOLEAN, "false"),
    ("penalty_root_depth", whole_one_of(0, 1), "1"),
    ("penalty_last_level", BOOLEAN, "false"),
    ("prediction", one_of("max", "mixture"), "max"),
    ("objective", one_of("expected", "mixture"), "expected"),
)


@register("soft_tree", kinds=ANY_FLOAT_KIND, options=OPTIONS)
def soft_tree(
    input_shape,
    num_classes: int,
    depth: int = 6,
    beta: float = 1.0,
    penalty: float = 0.1,
    prediction: str = "max",
    objective: str = "expected",
    penalty_root_depth: int = 1,
    penalty_last_level: bool = False,
    learn_beta: bool = False,
) -> nn.Module:
    given = {
        "depth": depth,
        "beta": beta,
        "penalty": penalty,
        "learn_beta": learn_beta,
        "penalty_root_depth": penalty_root_depth,
        "penalty_last_level": penalty_last_level,
        "prediction": prediction,
        "objective": objective,
    }
    for key, bound, example in OPTIONS:  # the rules validate applies in a run
        if not bound.check(given[key]):
            raise ShapeError(  # create_model names the role: "student=soft_tree depth=0 ..."
                f"{key}={given[key]!r} is not valid",
                f"set {key} to {bound.what}, e.g. {key}={example}",
            )
    tree = SoftTree(
        input_shape,
        num_classes,
        depth,
        beta,
        penalty,
        prediction,
        objective,
        penalty_root_depth,
        penalty_last_level,
        learn_beta,
    )
    return declare(tree, input_shape, ["inner"], embedding="inner")
