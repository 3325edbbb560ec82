"""What every stage shares: run.json's life cycle, error reporting, model building, results."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from distillctl import data as data_registry
from distillctl.configuration.parts import ModelSpec
from distillctl.errors import ConfigError, DistillctlError, RunError, exit_with, report_error
from distillctl.io import atomic_write_text
from distillctl.models import INIT_KEY
from distillctl.runfolder.naming import make_folder
from distillctl.runfolder.record import RunRecord, is_rank_zero
from distillctl.runfolder.record import load as load_record
from distillctl.stages import Stage
from distillctl.train.seeding import seed_all, seed_stream
from distillctl.train.signals import Stopped


def run_task(stage: Stage, cfg: DictConfig) -> dict[str, Any] | float | None:
    """The body of the @hydra.main task: a user error ends the process with its exit code; in a
    `-m` sweep it ends only its job (marked failed in its run.json, with the exit code the
    sweep ends with: distillctl/report/sweep.py) and the sweep goes on.

    With `objective` set (hparams_search=optuna), the task returns that figure of the finished
    run for Hydra's sweeper to maximise (None for a failed job: a failed trial)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    try:
        results = execute(stage, cfg, run_dir)
    except DistillctlError as exc:
        if hydra_cfg.mode != RunMode.MULTIRUN:
            exit_with(exc)
        report_error(exc)
        if load_record(run_dir) is None and is_rank_zero():  # it failed before its run began
            record = RunRecord.start(run_dir, stage.name, int(cfg.get("seed", 0)), None)
            record.finish("failed", reason=str(exc), exit_code=exc.exit_code)
        return None
    if cfg.get("objective"):
        from distillctl.train.objective import value

        return value(results, cfg.objective)  # a name, or a list of them
    return results


def save_config(cfg: DictConfig, run_dir: Path) -> None:
    """.hydra/config.yaml is the config that runs: Hydra writes it for the run it starts (nested
    runs get one here), and it is written again when the data paths were made absolute. What
    a stage decides later (the class count a user's data gives, the teacher it resolved, its
    epochs) goes to run.json. A resumed run keeps the file it was started with."""
    if cfg.get("resume") or not is_rank_zero():
        return
    path = run_dir / ".hydra" / "config.yaml"
    text = OmegaConf.to_yaml(cfg)
    if not path.exists() or path.read_text() != text:
        atomic_write_text(path, text)


def execute(
    stage: Stage, cfg: DictConfig, run_dir: Path, parents: dict[str, str] | None = None
) -> dict[str, Any]:
    """Run one stage in `run_dir`; run.json says running, then done, failed or interrupted."""
    from distillctl.configuration.validate import validate

    specs = validate(cfg)  # parsed once: the pre-check's, when the CLI made it
    run_dir = make_folder(Path(run_dir), "set paths.output_root to a folder you can write")
    data_registry.resolve_files(cfg)
    save_config(cfg, run_dir)
    seed_all(int(cfg.seed))  # before any model is built: initial weights are seeded
    if cfg.get("resume"):
        record = RunRecord.resume(run_dir)
    else:
        record = RunRecord.start(
            run_dir, stage.name, int(cfg.seed), data_registry.identity(cfg.data), parents
        )
    try:
        results = stage.load()(cfg, specs, run_dir, record)
    except (KeyboardInterrupt, Stopped) as exc:
        stopped = exc if isinstance(exc, Stopped) else Stopped(signal.SIGINT)
        if stopped.run_dir is None:  # the innermost run (a `run` pipeline's sub-run) is resumed
            stopped.run_dir, stopped.stage = str(run_dir.resolve()), stage.name
        record.finish("interrupted", reason=stopped.reason)
        raise stopped from None
    except DistillctlError as exc:
        record.finish("failed", reason=str(exc), exit_code=exc.exit_code)
        raise
    except BaseException as exc:
        record.finish("failed", reason=f"{type(exc).__name__}: {exc}", exit_code=1)
        raise
    record.finish("done", results=results)
    return results


def resume_checkpoint(cfg: DictConfig, run_dir: Path) -> Path | None:
    """last.ckpt of the run being resumed, if it got that far (else it starts over in place)."""
    from distillctl.console import say

    if not cfg.get("resume"):
        return None
    last = run_dir / "checkpoints" / "last.ckpt"
    if last.exists():
        import torch

        try:
            epoch = int(torch.load(last, map_location="cpu", weights_only=True)["epoch"])
        except Exception as exc:  # torch raises many kinds on a truncated or foreign file
            raise RunError(
                f"{last} is damaged ({type(exc).__name__}): the run cannot continue from it",
                f"delete {last} to train this run again from its start, in its folder (resume= "
                "then starts over), or start a new run",
            ) from None
        say(
            f"resuming {run_dir} from {last} (epoch {epoch} finished; training continues at "
            f"epoch {epoch + 1})"
        )
        return last
    say(f"resuming {run_dir}: no checkpoint was written yet, so training starts over")
    return None


def build_model(cfg: DictConfig, spec: ModelSpec, role: str, info: Any, teacher: Any = None):
    """The `teacher` or `student` network (`spec`), checked against the data (`info`: its
    DataInfo; a network for another input kind is one message naming both).

    Its initial weights come from the `role` stream of the seed, reseeded here, so they are the
    same in `train student`, `distill student` (any recipe) and `run`: the matched baseline.
    With `student.init_from_teacher`, the `teacher`'s chosen blocks then replace them
    (models/init_from_teacher.py)."""
    from distillctl.configuration.kinds import architecture_fits
    from distillctl.models import create_model

    input_shape, num_classes = info.input_shape, info.num_classes
    architecture_fits(str(spec.arch), info.kind, role, str(cfg.data.name))
    wanted = spec.options.get("num_classes")
    if wanted is not None and int(wanted) != num_classes:
        raise ConfigError(
            f"{role}.num_classes={wanted} but data '{cfg.data.name}' has {num_classes} classes",
            f"drop the {role}.num_classes override (it follows data.num_classes)",
        )
    seed_stream(int(cfg.seed), role)
    model = create_model(spec.node(num_classes, info.vocab_size), input_shape, role=role)
    chosen = spec.options.get(INIT_KEY)
    if chosen is not None:
        from distillctl.console import say
        from distillctl.models.init_from_teacher import initialise_from

        layers = initialise_from(model, teacher, chosen)
        say(f"the student starts from the teacher's embeddings and blocks {layers}")
    return model
