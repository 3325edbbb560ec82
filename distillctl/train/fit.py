"""Fit, then test once: the Trainer, its callbacks, and the metrics a stage writes."""

from __future__ import annotations

import csv
import logging
import math
import os
import time
import warnings
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback, ModelCheckpoint, RichProgressBar

from distillctl.configuration.specs import Specs
from distillctl.io import atomic_write_csv
from distillctl.train.callbacks import AtomicCheckpointIO, NanGuard, NoteStop, ReseedEachEpoch

MONITOR = "val/acc"


class _CSVLog(Callback):
    """A CSV of rows, rewritten atomically at each epoch's end; a resumed run keeps the rows of
    the epochs it does not repeat."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.rows: list[dict[str, Any]] = []

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.path.exists():
            with open(self.path, newline="", encoding="utf-8") as handle:
                self.rows = [
                    r for r in csv.DictReader(handle) if int(r["epoch"]) < trainer.current_epoch
                ]

    def new_rows(self, trainer: pl.Trainer) -> list[dict[str, Any]]:
        raise NotImplementedError

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        rows = self.new_rows(trainer)  # on every rank: the epoch's means are all-reduced
        if trainer.is_global_zero:
            self.rows.extend(rows)
            atomic_write_csv(self.path, self.rows)


class EpochCSV(_CSVLog):
    """metrics.csv: one row per epoch (epoch, lr, every logged metric)."""

    epoch_lr: float | None = None

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # read here: by the epoch's end the scheduler has already moved on to the next rate
        self.epoch_lr = trainer.optimizers[0].param_groups[0]["lr"] if trainer.optimizers else None

    def new_rows(self, trainer: pl.Trainer) -> list[dict[str, Any]]:
        row: dict[str, Any] = {"epoch": trainer.current_epoch, "step": trainer.global_step}
        row["lr"] = self.epoch_lr
        metrics = dict(trainer.callback_metrics)
        reader = getattr(trainer.lightning_module, "means", None)
        if reader is not None:  # the epoch's training means, not logged until after this hook
            metrics.update(reader("train", pop=False))
            metrics.update(reader("control", pop=False))  # a controller's checks
        row.update({k: float(v) for k, v in sorted(metrics.items())})
        return [row]


class StepCSV(_CSVLog):
    """steps.csv: one row per training step with the total loss and each loss term. Values stay
    on the device during the epoch and are read once at its end (no per-step host sync). Under
    DDP a row is rank 0's share of the step (metrics.csv's epoch means cover every rank)."""

    pending: list[tuple[int, int, dict[str, torch.Tensor]]]

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.pending = []

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch, batch_idx: int
    ) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        values = {"train/loss": loss, **{f"train/{k}": v for k, v in pl_module.last_terms.items()}}
        values = {k: v.detach() for k, v in values.items() if isinstance(v, torch.Tensor)}
        self.pending.append((trainer.current_epoch, trainer.global_step, values))

    def new_rows(self, trainer: pl.Trainer) -> list[dict[str, Any]]:
        rows = [
            {"epoch": epoch, "step": step, **{k: float(v) for k, v in values.items()}}
            for epoch, step, values in self.pending
        ]
        self.pending = []
        return rows


# benchmarks/startup.py sets this to a file: the wall-clock time of the first training step is
# written there, so start-up (process start to first step) can be measured from outside
FIRST_STEP_ENV = "DISTILLCTL_FIRST_STEP_FILE"


class FirstStepProbe(Callback):
    def __init__(self, path: Path):
        self.path, self.done = path, False

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        if not self.done:
            self.path.write_text(repr(time.time()))
            self.done = True


def _quiet_lightning() -> None:
    for name in ("pytorch_lightning", "lightning_fabric", "lightning.pytorch"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for pattern in (
        ".*does not have many workers.*",
        ".*You called `self.log.*",
        ".*is an invalid.*",
        ".*LeafSpec.*",
        ".*GPU available but not used.*",
        ".*The number of training batches.*",
        ".*Checkpoint directory.*exists.*",
        r".*module\(s\) in eval mode.*",  # the frozen teacher, on purpose
    ):
        warnings.filterwarnings("ignore", message=pattern)


def checkpoint_callbacks(run_dir: Path) -> tuple[ModelCheckpoint, ModelCheckpoint]:
    """best.ckpt (the best validation accuracy so far) and last.ckpt (the last finished epoch).

    last.ckpt is its own callback, not `save_last=True`: since Lightning 2.6 `save_last` writes
    last.ckpt only in a step where a top-k checkpoint is written, so with save_top_k=1 it was a
    copy of best.ckpt (tests/test_faults.py pins both behaviours). With no monitor and
    save_top_k=1, ModelCheckpoint writes its file after every epoch (after validation, so the
    best-checkpoint state inside it is current: `best` is listed first and Lightning keeps the
    order of checkpoint callbacks).
    """
    folder = run_dir / "checkpoints"
    common = {"dirpath": folder, "auto_insert_metric_name": False, "save_top_k": 1}
    # enable_version_counter=False: a resumed run overwrites best/last, never best-v1
    best = ModelCheckpoint(
        filename="best", monitor=MONITOR, mode="max", enable_version_counter=False, **common
    )
    last = ModelCheckpoint(
        filename="last", monitor=None, every_n_epochs=1, enable_version_counter=False, **common
    )
    return best, last


def build_trainer(
    cfg: Any,
    specs: Specs,
    run_dir: Path,
    max_epochs: int | None = None,
    extra: tuple[Callback, ...] = (),
) -> tuple[pl.Trainer, tuple[ModelCheckpoint, ModelCheckpoint], NoteStop]:
    """The Trainer of a stage; `extra`: the stage's own callbacks, run before metrics.csv's
    (what they measure in an epoch is in its row)."""
    _quiet_lightning()
    best, last = checkpoint_callbacks(run_dir)
    interrupt = NoteStop()
    callbacks: list[Callback] = [
        best,
        last,
        *extra,
        EpochCSV(run_dir / "metrics.csv"),
        StepCSV(run_dir / "steps.csv"),
        interrupt,
        ReseedEachEpoch(int(cfg.seed)),
    ]
    if os.environ.get(FIRST_STEP_ENV):
        callbacks.append(FirstStepProbe(Path(os.environ[FIRST_STEP_ENV])))
    engine = specs.engine
    kwargs = dict(specs.trainer.args)  # Trainer arguments only
    if max_epochs is not None:  # a stage's own (distill.max_epochs), not written into cfg
        kwargs["max_epochs"] = int(max_epochs)
    if engine.detect_nan:
        callbacks.append(NanGuard(int(engine.nan_check_every)))
    if kwargs.get("enable_progress_bar", True):
        callbacks.append(RichProgressBar(leave=False))
    from distillctl.train import loggers

    trainer = pl.Trainer(
        **kwargs,
        callbacks=callbacks,
        plugins=[AtomicCheckpointIO()],
        logger=loggers.build(cfg, run_dir),
        default_root_dir=str(run_dir),
        enable_model_summary=False,
    )
    return trainer, (best, last), interrupt


def _floats(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in sorted(metrics.items())}


def fit_and_test(
    module: pl.LightningModule,
    datamodule: pl.LightningDataModule,
    cfg: Any,
    specs: Specs,
    run_dir: Path,
    resume_from: Path | None = None,
    max_epochs: int | None = None,
    extra: tuple[Callback, ...] = (),
) -> dict[str, Any]:
    """Train (from `resume_from`, a last.ckpt, when given) with the best checkpoint chosen on
    validation; test that checkpoint once. `extra`: the stage's own callbacks."""
    from distillctl.train import speed

    trainer, (best, last), interrupt = build_trainer(cfg, specs, run_dir, max_epochs, extra)
    options = {key: getattr(specs.engine, key) for key in speed.KEYS}
    speed.apply(module, options, on_gpu=trainer.strategy.root_device.type == "cuda")
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=resume_from)
        which = cfg.eval_checkpoint
        path = best.best_model_path if which == "best" else last.best_model_path
        if not path:  # no validation ran (limit_val_batches=0): the last weights are all there is
            which, path = "last", last.best_model_path
        tested = trainer.test(module, datamodule=datamodule, ckpt_path=path, verbose=False)
    except SystemExit:
        # Lightning turns Ctrl-C into exit(1) and SIGTERM into SIGTERMException, in fit() and
        # test() alike; NoteStop heard which (on_exception), so the stage can say it
        if interrupt.stopped is not None:
            raise interrupt.stopped from None
        raise
    best_score = best.best_model_score
    return {
        "checkpoint": which,
        "checkpoint_path": str(Path(path).resolve()),
        "epochs_trained": trainer.current_epoch,
        "processes": trainer.world_size,  # DDP: how many ranks trained it
        "val_acc_best": None
        if best_score is None or math.isnan(float(best_score))
        else float(best_score),
        "test": _floats(tested[0]) if tested else {},
    }
