"""`explain`: attributions of a distill run's teacher and student, and the HTML report."""

from __future__ import annotations

import copy
from pathlib import Path

from omegaconf import DictConfig, OmegaConf, open_dict

from distillctl.configuration.specs import Specs
from distillctl.console import say
from distillctl.errors import RunError
from distillctl.report.build import explain_and_report
from distillctl.runfolder import record as runs
from distillctl.runfolder.record import RunRecord
from distillctl.runfolder.resolve import resolve_distill_run


def execute(cfg: DictConfig, specs: Specs, run_dir: Path, record: RunRecord) -> dict:
    from distillctl.data import build_splits
    from distillctl.explain.pipeline import Explained
    from distillctl.runfolder.checkpoints import load_model
    from distillctl.runfolder.weights import load_teacher

    distill_dir = resolve_distill_run(specs.explain.run, cfg.paths.output_root)
    say(f"explaining distill run {distill_dir}")
    record.add_parent("distill", distill_dir)
    info = runs.load(distill_dir) or {}
    try:
        student, student_meta = load_model(info["results"]["checkpoint_path"], "student")
    except RunError as exc:
        raise RunError(
            exc.problem,
            f"explain reads the checkpoints of the distill run it explains ({distill_dir}): "
            "distil again to write them (`distillctl distill student`), or explain another run "
            "with explain.run=<distill run folder>",
        ) from None
    try:
        teacher, teacher_meta = load_teacher(
            student_meta["teacher_ckpt"],
            student_meta.get("teacher_model") or {},
            tuple(student_meta["input_shape"]),
            int(student_meta["num_classes"]),
            student_meta["data"],
        )
    except RunError as exc:
        raise RunError(
            exc.problem,
            f"explain reads the teacher the distill run {distill_dir} was distilled from, "
            f"{student_meta['teacher_ckpt']}: put that file back, or distil again from a teacher "
            "that exists and explain that run",
        ) from None
    teacher_run = info.get("parents", {}).get("teacher")
    # the data the student was trained on, read from where that run read it (its data_dir
    # and files), whatever this command's paths say
    location = dict(student_meta.get("data_location") or {})
    data_dir = location.pop("data_dir", None) or cfg.paths.data_dir
    data_cfg = OmegaConf.create({**student_meta["data"], **location})
    record.update(data=student_meta["data"], data_location={"data_dir": data_dir, **location})
    splits = build_splits(data_cfg, data_dir)
    from distillctl.configuration.kinds import explainer_fits

    explainer_fits(cfg, specs, splits.kind, str(data_cfg.name))  # the run's data, not the group's
    models = [
        Explained("teacher", teacher, Path(teacher_run) if teacher_run else None),
        Explained("student", student, distill_dir),
    ]
    if student_meta.get("align") == "words":  # the teacher read the texts with its own tokenizer
        from distillctl.data.aligned import teacher_tokenizer

        models[0].tokenizer = teacher_tokenizer(teacher_meta, str(student_meta["teacher_ckpt"]))
    # the run's own data (its identity rebuilds it), whatever data group this command composed
    with_data = copy.deepcopy(cfg)
    with open_dict(with_data):
        with_data.data = data_cfg
        with_data.paths.data_dir = data_dir
    return explain_and_report(
        models, splits, with_data, specs.explain, run_dir, f"distillctl explain: {data_cfg.name}"
    )
