"""Lightning callbacks that keep a run honest when something goes wrong: NaN losses, signals,
resumes."""

from __future__ import annotations

import io
import signal

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback
from pytorch_lightning.plugins.io import TorchCheckpointIO
from pytorch_lightning.utilities.exceptions import SIGTERMException

from distillctl.errors import RunError
from distillctl.io import atomic_write_bytes
from distillctl.train.seeding import seed_all
from distillctl.train.signals import Stopped


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints written to a temporary name and renamed: a run killed mid-write leaves the
    previous checkpoint whole, never half a file."""

    def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        atomic_write_bytes(path, buffer.getvalue())


class NanGuard(Callback):
    """Stop at the first step whose loss is NaN or Inf, naming the loss term and the step.

    Each step only records, on the device, whether its loss and terms are finite; the records
    are read (one host sync) every `every` steps, and always before validation and at the end of
    an epoch, so no checkpoint of broken weights is ever written and the last good `last.ckpt`
    stays. every=1 (the default) checks each step; on a GPU a larger `engine.nan_check_every`
    saves a sync per step, and the message still names the first bad step.
    `engine.detect_nan=false` removes the guard.
    """

    def __init__(self, every: int = 1):
        self.every = max(int(every), 1)
        self.pending: list[tuple[int, int, int, torch.Tensor, dict[str, torch.Tensor]]] = []

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch, batch_idx: int
    ) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if loss is None:
            return
        terms = getattr(pl_module, "last_terms", {}) or {"loss": loss}
        finite = {name: torch.isfinite(v.detach()).all() for name, v in terms.items()}
        self.pending.append(
            (trainer.global_step, trainer.current_epoch, batch_idx, loss.detach(), finite)
        )
        if len(self.pending) >= self.every:
            self.check()

    def check(self) -> None:
        if not self.pending:
            return
        pending, self.pending = self.pending, []
        ok = torch.stack([torch.isfinite(p[3]).all() for p in pending])
        if bool(ok.all()):  # the one host sync
            return
        step, epoch, batch_idx, loss, finite = pending[int((~ok).nonzero()[0])]
        bad = [name for name, flag in finite.items() if not bool(flag)]
        raise RunError(
            f"the loss became {'NaN' if torch.isnan(loss).any() else 'infinite'} at step "
            f"{step} (epoch {epoch}, batch {batch_idx}) in term(s): {', '.join(bad) or 'loss'}; "
            "the last good checkpoint is kept",
            "lower optim.lr, or check the data for NaN values; resume=<run dir> continues "
            "from the last checkpoint",
        )

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.check()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.check()


class NoteStop(Callback):
    """Notes why `trainer.fit` was stopped (Ctrl-C or SIGTERM). Nothing is written then:
    last.ckpt already holds the last finished epoch (written after every epoch), the one state a
    resume replays exactly; a checkpoint from the middle of an epoch would not resume exactly."""

    def __init__(self):
        self.stopped: Stopped | None = None

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        if isinstance(exception, KeyboardInterrupt):
            self.stopped = Stopped(signal.SIGINT)
        elif isinstance(exception, SIGTERMException):
            self.stopped = Stopped(signal.SIGTERM)


class ReseedEachEpoch(Callback):
    """Seed every random source from (seed, epoch) at each epoch's start.

    Dropout masks then depend on the epoch alone, not on what ran before in this process, so
    a run resumed from an epoch's checkpoint replays exactly what the uninterrupted run did.
    """

    def __init__(self, seed: int):
        self.seed = int(seed)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        seed_all((self.seed * 100_003 + trainer.current_epoch) % (2**31))
