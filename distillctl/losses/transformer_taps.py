"""What the transformer KD terms share: the layers a transformer declares for them
(`model.transformer_taps`: the embedding output and, per block, hidden states, masked scaled
attention scores, attention probabilities and values), the teacher-to-student layer mapping
of TinyBERT."""

from __future__ import annotations

from typing import Any

from torch import nn

from distillctl.errors import ConfigError


def declared(model: nn.Module, role: str, key: str) -> dict[str, Any]:
    taps = getattr(model, "transformer_taps", None)
    if not taps:
        raise ConfigError(
            f"{key} reads a transformer's hidden states and attention per token, but the "
            f"{role} ({type(model).__name__}) declares none",
            f"use a transformer {role} ({role}=transformer), or a term on logits or pooled "
            "vectors (kd, fitnet, rkd, ...)",
        )
    return taps


def uniform(student_layers: int, teacher_layers: int, key: str) -> list[int]:
    """TinyBERT's uniform mapping: student block m (0-based) learns from teacher block
    (m + 1) * N / M - 1, the last of each group of N / M blocks (task_distill.py:
    `teacher_atts[i * layers_per_block + layers_per_block - 1]`)."""
    if teacher_layers % student_layers:
        raise ConfigError(
            f"{key}: a teacher of {teacher_layers} blocks cannot be mapped uniformly onto a "
            f"student of {student_layers}",
            f"give {key}.layer_map=[...] (a teacher block per student block), or a teacher "
            "depth that is a multiple of the student's",
        )
    per = teacher_layers // student_layers
    return [m * per + per - 1 for m in range(student_layers)]


def layer_map(spec: Any, student_layers: int, teacher_layers: int, key: str) -> list[int]:
    """The teacher block of each student block: `uniform`, or a list."""
    if spec in (None, "uniform"):
        return uniform(student_layers, teacher_layers, key)
    chosen = [int(i) for i in spec]
    if len(chosen) != student_layers or not all(0 <= i < teacher_layers for i in chosen):
        raise ConfigError(
            f"{key}.layer_map={list(chosen)} must name one teacher block (0..{teacher_layers - 1})"
            f" for each of the student's {student_layers} blocks",
            f"e.g. {key}.layer_map=uniform",
        )
    return chosen


def same_heads(student: dict, teacher: dict, key: str) -> None:
    if student["heads"] != teacher["heads"]:
        raise ConfigError(
            f"{key} compares attention head by head, but the student has {student['heads']} "
            f"heads and the teacher {teacher['heads']}",
            "give the student the teacher's number of heads (student.heads=...)",
        )


def provided(taps: dict, what: str, role: str, key: str) -> list[str]:
    """The declared layers of one kind (`scores`, `values`), or one message where the network
    cannot expose them (transformers returns neither)."""
    if not taps.get(what):
        raise ConfigError(
            f"{key} reads the attention {what} of each block, and the {role} declares none "
            "(a Hugging Face model returns attention probabilities and hidden states only)",
            "use attention_kl with form=kl (probabilities) or hidden_mse for it, or a "
            f"distillctl transformer {role}",
        )
    return taps[what]
