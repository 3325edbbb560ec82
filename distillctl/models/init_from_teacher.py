"""A student initialised from its teacher, the DistilBERT way (Sanh et al. 2019;
huggingface/transformers, examples/research_projects/distillation/scripts/
extract_distilbert.py): the token and position embeddings copied, and student block j copied
from teacher block `layers[j]` (every weight of it: attention, feed-forward, norms); here also
the final norm and the classifier head, which a classifier of the same classes shares. For
`transformer` students whose widths fit the teacher's; anything else is one message naming the
shapes. `every_other` is teacher blocks 0, 2, 4, ...
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from distillctl.errors import ConfigError
from distillctl.models import INIT_KEY

KEY = f"student.{INIT_KEY}"


# the networks whose blocks a student can start from (embed, position, blocks, norm, head)
INITIALISABLE = ("transformer",)


def check_choice(node: dict, role: str) -> None:
    """`<role>.init_from_teacher` from the config alone, before any run folder: a student's
    option, on a network with blocks, naming `every_other` or teacher block indices."""
    chosen = node.get(INIT_KEY)
    if chosen is None:
        return
    if role != "student":
        raise ConfigError(
            f"{role}.{INIT_KEY}={chosen}: only a student starts from a teacher's weights",
            f"drop {role}.{INIT_KEY}",
        )
    arch = str(node.get("arch"))
    if arch not in INITIALISABLE:
        raise ConfigError(
            f"{KEY} copies a transformer's blocks, but student={arch} has none",
            f"use student={' or student='.join(INITIALISABLE)}, or drop {KEY}",
        )
    listed = isinstance(chosen, (list, tuple)) and len(chosen) > 0
    if chosen != "every_other" and not (
        listed and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in chosen)
    ):
        raise ConfigError(
            f"{KEY}={chosen} is neither every_other nor a list of teacher block indices",
            f"write {KEY}=[0,2,4] (one teacher block per student block) or {KEY}=every_other",
        )


def chosen_layers(spec: Any, student_depth: int, teacher_depth: int) -> list[int]:
    """The teacher block each student block starts from."""
    if spec == "every_other":
        spec = list(range(0, teacher_depth, 2))[:student_depth]
    layers = [int(i) for i in spec]
    if len(layers) != student_depth:
        raise ConfigError(
            f"{KEY}={list(layers)} names {len(layers)} teacher blocks for a student of "
            f"{student_depth}",
            f"name one teacher block per student block, e.g. {KEY}="
            f"{list(range(0, 2 * student_depth, 2))}",
        )
    beyond = [i for i in layers if not 0 <= i < teacher_depth]
    if beyond:
        raise ConfigError(
            f"{KEY}={layers}: block(s) {beyond} are beyond the teacher's {teacher_depth} "
            f"(0..{teacher_depth - 1})",
            f"choose teacher blocks 0..{teacher_depth - 1}",
        )
    return layers


def _copy(target: nn.Module, source: nn.Module, what: str) -> None:
    theirs = source.state_dict()
    mine = target.state_dict()
    for name, value in mine.items():
        if name not in theirs or theirs[name].shape != value.shape:
            found = tuple(theirs[name].shape) if name in theirs else "nothing"
            raise ConfigError(
                f"{KEY}: the student's {what}.{name} is {tuple(value.shape)} but the teacher's is "
                f"{found}",
                "give the student the teacher's widths (d_model, heads, ffn; the data's "
                "vocabulary and length), or drop student.init_from_teacher",
            )
    target.load_state_dict({name: theirs[name] for name in mine})


@torch.no_grad()
def initialise_from(student: nn.Module, teacher: nn.Module, spec: Any) -> list[int]:
    """Copy the teacher's embeddings, chosen blocks, final norm and head into the student, in
    place; returns the teacher blocks used."""
    for role, model in (("student", student), ("teacher", teacher)):
        if not hasattr(model, "blocks") or not hasattr(model, "embed"):
            raise ConfigError(
                f"{KEY} copies a transformer's blocks, but the {role} is {type(model).__name__}",
                f"use {role}=transformer for both, or drop {KEY}",
            )
    layers = chosen_layers(spec, len(student.blocks), len(teacher.blocks))
    for part in ("embed", "position", "norm", "head"):
        _copy(getattr(student, part), getattr(teacher, part), part)
    for j, i in enumerate(layers):
        _copy(student.blocks[j], teacher.blocks[i], f"blocks.{j}")
    return layers
