"""A student initialised from its teacher, the DistilBERT way (Sanh et al. 2019;
huggingface/transformers, examples/research_projects/distillation/scripts/
extract_distilbert.py): the token and position embeddings copied, and student block j copied
from teacher block `layers[j]` (every weight of it: attention, feed-forward, norms); here also
everything else outside the blocks (the final norm, the classifier head, which a classifier of
the same classes shares). For `transformer` and `hf` students of the teacher's family and
widths (each network names its block list, `blocks_path`); anything else is one message naming
the parameter and both shapes. `every_other` is teacher blocks 0, 2, 4, ...
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from distillctl.errors import ConfigError
from distillctl.models import INIT_KEY

KEY = f"student.{INIT_KEY}"


# the networks whose blocks a student can start from (embed, position, blocks, norm, head)
INITIALISABLE = ("transformer", "hf")


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


def _blocks(model: nn.Module, role: str) -> tuple[str, nn.ModuleList]:
    """The dotted name and the list of a network's transformer blocks (`model.blocks_path`)."""
    path = getattr(model, "blocks_path", "")
    if not path:
        raise ConfigError(
            f"{KEY} copies a transformer's blocks, but the {role} is {type(model).__name__}",
            f"use a {' or '.join(INITIALISABLE)} {role}, or drop {KEY}",
        )
    return path, model.get_submodule(path)


def _copy(target: dict, source: dict, names: dict[str, str]) -> dict:
    """{target name: the source's tensor}, or one message naming the first that does not fit."""
    copied = {}
    for mine, theirs in names.items():
        value = target[mine]
        if theirs not in source or source[theirs].shape != value.shape:
            found = tuple(source[theirs].shape) if theirs in source else "nothing"
            raise ConfigError(
                f"{KEY}: the student's {mine} is {tuple(value.shape)} but the teacher's {theirs} "
                f"is {found}",
                "give the student the teacher's network and widths (d_model, heads, ffn; the "
                "data's vocabulary and length), or drop student.init_from_teacher",
            )
        copied[mine] = source[theirs]
    return copied


@torch.no_grad()
def initialise_from(student: nn.Module, teacher: nn.Module, spec: Any) -> list[int]:
    """Copy everything of the teacher outside its blocks (embeddings, final norm, head) and its
    chosen blocks into the student, in place; returns the teacher blocks used."""
    s_path, s_blocks = _blocks(student, "student")
    t_path, t_blocks = _blocks(teacher, "teacher")
    layers = chosen_layers(spec, len(s_blocks), len(t_blocks))
    mine, theirs = student.state_dict(), teacher.state_dict()
    names = {}
    for name in mine:
        block, _, rest = name[len(s_path) + 1 :].partition(".")
        if name.startswith(f"{s_path}.") and block.isdigit():
            names[name] = f"{t_path}.{layers[int(block)]}.{rest}"
        else:
            names[name] = name
    student.load_state_dict(_copy(mine, theirs, names))
    return layers
