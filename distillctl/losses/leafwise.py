"""Loss terms on a soft decision tree student (distillctl/models/soft_tree.py).

With the tree's `objective=expected` (Frosst & Hinton 2017, the paper's loss) each term is
evaluated on every leaf's distribution and weighted by the leaf's path probability:
    L = mean over counted x of  sum_l P^l(x) * term(Q^l, x)
which needs the term's value per sample (a SampleTerm). With `objective=mixture` the terms see
the tree's mixture log-probabilities as the student's logits, as for any other student. Either
way the tree's balance penalty is added and reported as `tree_penalty`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch
from torch import nn

from distillctl.errors import ConfigError
from distillctl.losses.base import SampleTerm, Step, Term
from distillctl.models.soft_tree import Routing, SoftTree, is_soft_tree

PENALTY = "tree_penalty"  # a soft tree student's balance penalty, beside the terms' values


def student_outputs(student: nn.Module, x: torch.Tensor) -> tuple[Any, torch.Tensor]:
    """(routing, logits) of a soft tree (its routing and mixture log-probabilities), else
    (None, student(x))."""
    if is_soft_tree(student):
        routing = student.route(x)
        return routing, student.output(routing, "mixture")
    return None, student(x)


def check_terms(student: nn.Module, terms: dict[str, Term]) -> None:
    """Refuse, before training, a term the tree's leaf-wise objective cannot take."""
    if not is_soft_tree(student) or student.objective != "expected":
        return
    for name, term in terms.items():
        if not isinstance(term, SampleTerm):
            raise ConfigError(
                f"loss term '{name}' is not a per-sample logit term, so it cannot be taken "
                "over the soft tree's leaves (student.objective=expected, the paper's loss)",
                "set student.objective=mixture (the terms see the tree's mixture), or use "
                "ce, kd, dkd, lskd, pseudo_ce or consistency",
            )


def leaf_expectation(term: SampleTerm, step: Step, routing: Routing) -> torch.Tensor:
    """sum_l P^l(x) term(Q^l, x), averaged over the samples the term counts."""
    batch, leaves = routing.log_path.shape
    every_leaf = replace(
        step,
        labels=step.labels.repeat_interleave(leaves),
        student_logits=routing.leaf_log_probs.repeat(batch, 1),  # row b*L + l: leaf l
        teacher_logits=step.teacher_logits.repeat_interleave(leaves, 0),
    )
    values, counted = term.per_sample(every_leaf)
    expected = (routing.path * values.view(batch, leaves)).sum(1)
    return term.reduce(expected, counted.view(batch, leaves)[:, 0])


def tree_terms(
    tree: SoftTree, routing: Routing, step: Step, terms: dict[str, Term]
) -> dict[str, torch.Tensor]:
    """Each term's value on the tree (leaf-wise or on the mixture), and the penalty."""
    if tree.objective == "expected":
        values = {name: leaf_expectation(term, step, routing) for name, term in terms.items()}
    else:
        values = {name: term(step) for name, term in terms.items()}
    return {**values, PENALTY: tree.penalty(routing)}
