"""Callbacks that keep a run honest when something goes wrong: NaN losses, Ctrl-C, resumes."""

from __future__ import annotations

import io
import random

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback
from pytorch_lightning.plugins.io import TorchCheckpointIO

from distillctl.errors import RunError
from distillctl.io import atomic_write_bytes


def seed_all(value: int) -> None:
    """Seed Python's, NumPy's and torch's random sources."""
    random.seed(value)
    np.random.seed(value)
    torch.manual_seed(value)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints written to a temporary name and renamed: a run killed mid-write leaves the
    previous checkpoint whole, never half a file."""

    def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        atomic_write_bytes(path, buffer.getvalue())


class NanGuard(Callback):
    """Stop at the first step whose loss is NaN or Inf, naming the loss term and the step.

    It raises before the epoch ends, so no checkpoint of the broken weights is written and the
    last good `last.ckpt` stays. One host sync per step; `trainer.detect_nan=false` removes it.
    """

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch, batch_idx: int
    ) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if loss is None or bool(torch.isfinite(loss).all()):
            return
        terms = getattr(pl_module, "last_terms", {}) or {"loss": loss}
        bad = [name for name, value in terms.items() if not bool(torch.isfinite(value).all())]
        raise RunError(
            f"the loss became {'NaN' if torch.isnan(loss).any() else 'infinite'} at step "
            f"{trainer.global_step} (epoch {trainer.current_epoch}, batch {batch_idx}) in "
            f"term(s): {', '.join(bad) or 'loss'}; the last good checkpoint is kept",
            "lower optim.lr, or check the data for NaN values; resume=<run dir> continues "
            "from the last checkpoint",
        )


class SaveOnInterrupt(Callback):
    """On Ctrl-C, write last.ckpt where the run stopped (Lightning then exits)."""

    def __init__(self, path):
        self.path = path
        self.interrupted = False

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        if isinstance(exception, KeyboardInterrupt):
            self.interrupted = True
            trainer.save_checkpoint(self.path)


class ReseedEachEpoch(Callback):
    """Seed every random source from (seed, epoch) at each epoch's start.

    Dropout masks then depend on the epoch alone, not on what ran before in this process, so
    a run resumed from an epoch's checkpoint replays exactly what the uninterrupted run did.
    """

    def __init__(self, seed: int):
        self.seed = int(seed)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        seed_all((self.seed * 100_003 + trainer.current_epoch) % (2**31))
