"""`run`: the whole pipeline under one parent folder.

<run>/teacher/    train teacher            <run>/scratch/   train student (the baseline)
<run>/distilled/  distill student from <run>/teacher
<run>/attributions/ and <run>/report.html  teacher vs both students
"""

from __future__ import annotations

import copy
from pathlib import Path

from omegaconf import DictConfig, open_dict

from distillctl.configuration.specs import Specs
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

    folders = {
        "teacher": run_dir / "teacher",
        "scratch": run_dir / "scratch",
        "distilled": run_dir / "distilled",
    }
    results = {}
    for role, stage, extra in (
        ("teacher", "train_teacher", {}),
        ("scratch", "train_student", {}),
        ("distilled", "distill_student", {"teacher_ckpt": str(folders["teacher"].resolve())}),
    ):
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
        )
    ]
    splits = build_splits(cfg.data, cfg.paths.data_dir)
    # the scratch student's top-1 agreement with the teacher, as distill reports its student's
    results["scratch"]["teacher_agreement"] = top1_agreement(
        models[2].model, models[0].model, splits.inputs("test")
    )
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
    return {"stages": results, **report}
