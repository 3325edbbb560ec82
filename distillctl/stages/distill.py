"""`distill student`: the student learns from a frozen teacher checkpoint."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from distillctl.configuration.plain import plain
from distillctl.configuration.specs import DistillSpec, Specs
from distillctl.console import say
from distillctl.errors import ConfigError
from distillctl.losses.teacher_cache import TeacherCache, decide
from distillctl.models import INIT_KEY
from distillctl.runfolder.record import RunRecord
from distillctl.runfolder.results import model_meta, write_results
from distillctl.stages import teacher as stage_teacher
from distillctl.stages.common import build_model, resume_checkpoint
from distillctl.train.seeding import seed_stream


def teacher_accuracy(teacher, data, cfg: DictConfig) -> dict[str, float]:
    """The teacher's accuracy on validation and test, before distilling: the teacher the user
    got (an imported file's weights, a run's best or last checkpoint), recorded in run.json."""
    from distillctl.train.evaluation import accuracy_on, device_for

    device = device_for(cfg)
    return {
        f"{split}_acc": accuracy_on(teacher, data.batches(split, device), device)
        for split in ("val", "test")
    }


def teacher_cache(
    cfg: DictConfig, distill: DistillSpec, teacher, recipe, size: int
) -> TeacherCache:
    """The cache for this teacher on this data: its disk entry (used when the outputs exceed
    data.memory_budget_mb, or with teacher_cache_store=disk) is keyed by the teacher's weights,
    the data config, the tapped layers and the numerics."""

    from distillctl.losses.teacher_store import cache_key

    store = str(cfg.get("teacher_cache_store", "auto"))
    entry = None
    if store != "memory":
        key = cache_key(
            teacher,
            plain(cfg.data),
            {
                "layers": recipe.teacher_layers(),
                "precision": str(cfg.trainer.precision),
                "channels_last": bool(cfg.engine.channels_last),
                "transfer": dataclasses.asdict(distill),
            },
        )
        entry = Path(cfg.paths.cache_dir) / "teacher_outputs" / key
    budget = float(cfg.data.get("memory_budget_mb", 2048)) * 2**20
    return TeacherCache(size, budget, store, entry)


def request_indices(data: Any, loss: str) -> None:
    """Terms with a memory bank (crd) need each training sample's position in its split."""
    if not getattr(data, "provides_index", False):
        raise ConfigError(
            f"loss={loss} needs the index of every training sample, and the data module "
            f"{type(data).__name__} does not provide indices",
            "drop the term that needs them (crd), or use a data module that yields "
            "(x, y, index) batches",
        )
    data.with_index = True


def execute(cfg: DictConfig, specs: Specs, run_dir: Path, record: RunRecord) -> dict:
    from distillctl import data as data_registry
    from distillctl.data import transfer as transfer_set
    from distillctl.data.transfer import label as transfer_label
    from distillctl.losses import build_recipe, weighting
    from distillctl.train import control
    from distillctl.train.fit import fit_and_test
    from distillctl.train.lit import Distiller

    recipe = build_recipe(specs.recipe)
    data, info = data_registry.build(cfg)
    transfer = transfer_set.apply(cfg, specs.distill, data, info)  # before the split is read
    record.update(transfer=transfer)
    record.update(data_report=info.report, num_classes=info.num_classes)
    loaded = stage_teacher.load(cfg, specs, info, record)
    teacher, teacher_meta, source = loaded.model, loaded.meta, loaded.source
    if specs.distill.align == "words":  # the teacher reads the texts with its own tokenizer
        from distillctl.data.aligned import aligned_teacher

        teacher = aligned_teacher(teacher, teacher_meta, data.splits, f"teacher {source}")
        record.update(align={"words": True, "same_student_ids": teacher.collisions})
    seen = teacher_accuracy(teacher, data, cfg)
    record.update(teacher_eval=seen)
    say(
        f"the teacher ({teacher_meta['model']['arch']}, {teacher_meta['stage']}) on this data: "
        f"validation accuracy {seen['val_acc']:.4f}, test accuracy {seen['test_acc']:.4f}"
    )
    student = build_model(cfg, specs.student, "student", info, teacher)
    meta = model_meta(cfg, specs.student, "student", info, "distill_student")
    meta["teacher_ckpt"] = source
    meta["teacher_model"] = teacher_meta["model"]
    if specs.student.options.get(INIT_KEY) is not None:
        meta[INIT_KEY] = specs.student.options[INIT_KEY]
    meta["align"] = specs.distill.align
    meta["loss"] = specs.recipe.name
    meta["transfer"] = transfer
    if recipe.needs_index:
        request_indices(data, meta["loss"])
    seed_stream(int(cfg.seed), "recipe")  # auxiliary modules never move the student's stream
    recipe.bind(student, teacher, info.input_shape, train_labels=data.train_labels())
    use_cache, why = decide(
        str(cfg.get("teacher_cache", "auto")), data.augment is not None, recipe.needs_graph
    )
    if use_cache:
        request_indices(data, meta["loss"])
        size = len(data.train_labels())  # the training split with any transfer set
        recipe.teacher_cache = teacher_cache(cfg, specs.distill, teacher, recipe, size)
        if recipe.teacher_cache.reused is not None:
            why += f"; reusing {recipe.teacher_cache.reused} (same teacher weights and data)"
        record.update(teacher_cache=str(recipe.teacher_cache.entry or "memory"))
    say(f"teacher-output cache {why}")
    say(
        f"distilling the student ({specs.student.arch}) from the teacher "
        f"({teacher_meta['model']['arch']}) with loss = {recipe.describe()}"
        f"{transfer_label(transfer)} on {len(data.train_labels())} training inputs -> {run_dir}"
    )
    # learned weights train with the student and are saved with the recipe
    recipe.weigh(weighting.build(specs.distill, len(recipe.names)))
    module = Distiller(student, teacher, recipe, info.num_classes, specs.optim, meta)
    # distill.max_epochs: this stage's own passes (a large transfer set); run.json says them
    epochs = specs.distill.max_epochs or int(cfg.trainer.max_epochs)
    recipe.epochs = epochs  # the span of the terms' schedules
    record.update(max_epochs=epochs)
    probe, extra = control.build(cfg, specs, data.splits, recipe)
    results = fit_and_test(
        module, data, cfg, specs, run_dir, resume_checkpoint(cfg, run_dir), epochs, extra
    )
    if probe is not None:  # the tested checkpoint's agreement on the probe's validation inputs
        results["val_agreement"] = probe.agreement(teacher, module.model)
    if extra:
        results["control"] = extra[0].summary()
        record.update(control=results["control"])
    summary = write_results(run_dir, module.model, meta, results)
    summary["val_agreement"] = results.get("val_agreement")
    summary["teacher_ckpt"] = meta["teacher_ckpt"]
    summary["teacher_eval"] = seen
    summary["teacher_agreement"] = results["test"].get("test/teacher_agreement")
    summary["transfer"] = transfer
    say(
        f"distilled student{transfer_label(transfer)} test accuracy "
        f"{summary['test_acc']:.4f}, top-1 agreement with "
        f"the teacher {summary['teacher_agreement']:.4f}"
    )
    return summary
