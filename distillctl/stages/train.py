"""`train teacher` and `train student`: supervised training on hard labels."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from distillctl.configuration.parts import OptimSpec
from distillctl.configuration.specs import Specs
from distillctl.console import say
from distillctl.models import INIT_KEY
from distillctl.runfolder.record import RunRecord
from distillctl.runfolder.results import model_meta, write_results
from distillctl.stages import teacher as stage_teacher
from distillctl.stages.common import build_model, resume_checkpoint


def stage_optim(specs: Specs, role: str) -> OptimSpec:
    """The teacher trains with `teacher_optim` when one is chosen (not `same`), else `optim`."""
    return specs.teacher_optim if role == "teacher" and specs.teacher_optim else specs.optim


def _train(role: str, cfg: DictConfig, specs: Specs, run_dir: Path, record: RunRecord) -> dict:
    from distillctl import data as data_registry
    from distillctl.losses.ce import label_smoothing
    from distillctl.train.fit import fit_and_test
    from distillctl.train.lit import Classifier

    smoothing = label_smoothing(specs.recipe)
    data, info = data_registry.build(cfg)
    spec = getattr(specs, role)
    record.update(data_report=info.report, num_classes=info.num_classes)
    teacher = None
    if spec.options.get(INIT_KEY) is not None:  # a student starting from its teacher's blocks
        loaded = stage_teacher.load(cfg, specs, info, record)
        teacher = loaded.model
    model = build_model(cfg, spec, role, info, teacher)
    meta = model_meta(cfg, spec, role, info, record.data["stage"])
    if teacher is not None:
        meta["teacher_ckpt"] = loaded.source
        meta[INIT_KEY] = spec.options[INIT_KEY]
    record.update(model=meta["model"])
    say(f"training the {role} ({spec.arch}) on {info.name} {info.sizes} -> {run_dir}")
    module = Classifier(
        model, info.num_classes, stage_optim(specs, role), meta, label_smoothing=smoothing
    )
    results = fit_and_test(module, data, cfg, specs, run_dir, resume_checkpoint(cfg, run_dir))
    summary = write_results(run_dir, module.model, meta, results)
    say(f"{role} test accuracy {summary['test_acc']:.4f} ({summary['checkpoint']} checkpoint)")
    return summary


def train_teacher(cfg: DictConfig, specs: Specs, run_dir: Path, record: RunRecord) -> dict:
    return _train("teacher", cfg, specs, run_dir, record)


def train_student(cfg: DictConfig, specs: Specs, run_dir: Path, record: RunRecord) -> dict:
    return _train("student", cfg, specs, run_dir, record)
