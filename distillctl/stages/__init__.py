"""The stage table: the words a user types, the primary config and the code that runs.

Kept free of heavy imports: the CLI reads it to print `--help` before torch is loaded.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Stage:
    words: tuple[str, ...]  # what the user types: ("train", "teacher")
    name: str  # the primary config's name and the run folder's first level
    target: str  # "module:function" called as function(cfg, run_dir)
    help: str
    # "module:function" called as function(cfg) before the run's config is written: folds in

    def load(self) -> Callable:
        return _function(self.target)


def _function(target: str) -> Callable:
    module, _, func = target.partition(":")
    return getattr(importlib.import_module(module), func)


STAGES: tuple[Stage, ...] = (
    Stage(
        ("run",),
        "run",
        "distillctl.stages.run:execute",
        "the whole pipeline: teacher, scratch student, distilled student, explain, report",
    ),
    Stage(
        ("train", "teacher"),
        "train_teacher",
        "distillctl.stages.train:train_teacher",
        "train the teacher",
    ),
    Stage(
        ("train", "student"),
        "train_student",
        "distillctl.stages.train:train_student",
        "train the student from scratch (the baseline every KD claim needs)",
    ),
    Stage(
        ("distill", "student"),
        "distill_student",
        "distillctl.stages.distill:execute",
        "distil the student from a teacher checkpoint (teacher_ckpt=latest by default)",
    ),
    Stage(
        ("explain",),
        "explain",
        "distillctl.stages.explain:execute",
        "attributions for teacher and student of a distill run, and the HTML report",
    ),
)

BY_NAME = {stage.name: stage for stage in STAGES}


def match(argv: list[str]) -> tuple[Stage | None, list[str]]:
    """The stage whose words start argv (longest match first), and the remaining arguments."""
    for stage in sorted(STAGES, key=lambda s: -len(s.words)):
        n = len(stage.words)
        if tuple(argv[:n]) == stage.words:
            return stage, argv[n:]
    return None, argv
