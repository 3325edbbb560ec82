"""`run`: the whole pipeline under one parent folder.

<run>/teacher/    train teacher            <run>/scratch/   train student (the baseline)
<run>/distilled/  distill student from <run>/teacher
<run>/attributions/ and <run>/report.html  teacher vs the students

With `student.init_from_teacher`, the distilled student starts from the teacher's blocks, so
the matched baselines are two: <run>/scratch/ (random initial weights, the role's seed stream)
and <run>/initialised/ (the same teacher blocks, trained on hard labels only). initialised -
scratch is what the initialisation gave; distilled - initialised what the distillation gave.
"""

from __future__ import annotations

import copy
from pathlib import Path

from omegaconf import DictConfig, OmegaConf, open_dict

from distillctl.configuration.specs import Specs
from distillctl.console import say
from distillctl.models import INIT_KEY
from distillctl.runfolder.record import RunRecord, is_rank_zero


def _sub_config(cfg: DictConfig, stage: str, **keys) -> DictConfig:
    sub = copy.deepcopy(cfg)
    with open_dict(sub):
        sub.stage = stage
        sub.update(keys)
    return sub


def top1_agreement(model, reference, inputs, batch: int = 1024) -> float:
    """Share of `inputs` (a numpy array) on which the two models predict the same class."""
    import torch

    same = 0
    with torch.no_grad():
        for start in range(0, len(inputs), batch):
            x = torch.from_numpy(inputs[start : start + batch])
            same += int((model.eval()(x).argmax(-1) == reference.eval()(x).argmax(-1)).sum())
    return same / len(inputs)


def execute(cfg: DictConfig, specs: Specs, run_dir: Path, record: RunRecord) -> dict:
    from distillctl.data import build_splits
    from distillctl.data.transfer import label as transfer_label
    from distillctl.explain.pipeline import Explained
    from distillctl.report.build import explain_and_report
    from distillctl.runfolder.checkpoints import load_model
    from distillctl.stages import BY_NAME
    from distillctl.stages.common import execute as execute_stage

    initialised = specs.student.options.get(INIT_KEY) is not None
    teacher = {"teacher_ckpt": str((run_dir / "teacher").resolve())}
    plan = [
        ("teacher", "train_teacher", {}),
        # random initial weights even where the others start from the teacher's blocks
        ("scratch", "train_student", {"student": random_init(cfg)} if initialised else {}),
        *([("initialised", "train_student", teacher)] if initialised else []),
        ("distilled", "distill_student", teacher),
    ]
    folders = {role: run_dir / role for role, _, _ in plan}
    results = {}
    for role, stage, extra in plan:
        record.add_parent(role, folders[role])
        results[role] = execute_stage(
            BY_NAME[stage], _sub_config(cfg, stage, **extra), folders[role]
        )
    if not is_rank_zero():  # a DDP rank's part ends with the trainings; rank 0 explains
        return {"stages": results}
    models = [
        Explained(name, load_model(results[role]["checkpoint_path"], role_kind)[0], folders[role])
        for name, role, role_kind in (
            ("teacher", "teacher", "teacher"),
            ("distilled student", "distilled", "student"),
            ("scratch student", "scratch", "student"),
            *([("initialised student", "initialised", "student")] if initialised else []),
        )
    ]
    splits = build_splits(cfg.data, cfg.paths.data_dir)
    # the scratch student's top-1 agreement with the teacher, as distill reports its student's
    for model in models[2:]:
        role = model.run_dir.name
        results[role]["teacher_agreement"] = top1_agreement(
            model.model, models[0].model, splits.inputs("test")
        )
    gains = initialisation_gains(results) if initialised else {}
    for line in gains.get("lines", ()):
        say(line)
    report = explain_and_report(
        models,
        splits,
        cfg,
        specs.explain,
        run_dir,
        f"distillctl run: {cfg.data.name}, {specs.teacher.arch} teacher -> "
        f"{specs.student.arch} student, loss={specs.recipe.name}"
        + transfer_label(results["distilled"].get("transfer")),
    )
    return {"stages": results, **({"gains": gains["gains"]} if gains else {}), **report}


def random_init(cfg: DictConfig) -> dict:
    """The student's node with random initial weights (the scratch baseline of an initialised
    student)."""
    node = OmegaConf.to_container(cfg.student, resolve=True)
    node[INIT_KEY] = None
    return node


def initialisation_gains(results: dict) -> dict:
    """What the teacher's blocks gave (initialised - scratch) and what distillation gave on top
    (distilled - initialised), in test accuracy: one seed's draw; benchmarks/text_init.py gives the
    intervals over seeds."""
    acc = {
        role: float(results[role]["test_acc"]) for role in ("scratch", "initialised", "distilled")
    }
    gains = {
        "initialisation": acc["initialised"] - acc["scratch"],
        "distillation": acc["distilled"] - acc["initialised"],
    }
    lines = [
        f"test accuracy: scratch {acc['scratch']:.4f}, teacher-initialised {acc['initialised']:.4f}"
        f", teacher-initialised and distilled {acc['distilled']:.4f}",
        f"the initialisation gave {gains['initialisation']:+.4f}, the distillation "
        f"{gains['distillation']:+.4f} (one seed: compare over seeds before claiming either)",
    ]
    return {"gains": gains, "lines": lines}
