"""The LightningModules: Classifier (a teacher, or a student from scratch) and Distiller.

Both train `self.model`, so a checkpoint's weights are always under the `model.` prefix, and
both store `meta` (architecture, input shape, data identity) in the checkpoint so a model can be
rebuilt from the .ckpt file alone.
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassF1Score,
    MulticlassPrecision,
    MulticlassRecall,
)

from distillctl.configuration.parts import OptimSpec
from distillctl.data.batch import Batch
from distillctl.losses.base import Step
from distillctl.losses.ce import masked_cross_entropy
from distillctl.losses.leafwise import PENALTY, student_outputs
from distillctl.losses.recipe import Recipe

META_KEY = "distillctl"


def classification_metrics(num_classes: int, prefix: str) -> MetricCollection:
    return MetricCollection(
        {
            "acc": MulticlassAccuracy(num_classes, average="micro"),
            "f1": MulticlassF1Score(num_classes, average="macro"),
            "precision": MulticlassPrecision(num_classes, average="macro"),
            "recall": MulticlassRecall(num_classes, average="macro"),
        },
        prefix=prefix,
    )


class _Trainable(pl.LightningModule):
    """What both modules share: evaluation, metrics, optimiser, checkpoint metadata."""

    def __init__(self, model: nn.Module, num_classes: int, optim: OptimSpec, meta: dict[str, Any]):
        super().__init__()
        self.model = model
        self.optim = optim
        self.meta = dict(meta)
        self.last_terms: dict[str, torch.Tensor] = {}
        self.val_metrics = classification_metrics(num_classes, "val/")
        self.test_metrics = classification_metrics(num_classes, "test/")
        # sums on the device, read once at the end of an epoch: no per-step host sync and none
        # of Lightning's per-call logging bookkeeping (a third of a small model's step time)
        self._sums: dict[str, torch.Tensor] = {}
        self._counts: dict[str, int] = {}
        self._totals: dict[str, torch.Tensor] = {}

    def accumulate(self, prefix: str, values: dict[str, torch.Tensor], n: int) -> None:
        for name, value in values.items():
            key = f"{prefix}/{name}"
            total = value.detach() * n
            self._sums[key] = self._sums[key] + total if key in self._sums else total
            self._counts[key] = self._counts.get(key, 0) + n

    def count(self, prefix: str, values: dict[str, torch.Tensor]) -> None:
        """Totals (not means) over the epoch, e.g. how many samples a loss term saw."""
        for name, value in values.items():
            key = f"{prefix}/{name}"
            self._totals[key] = self._totals[key] + value if key in self._totals else value

    def means(self, prefix: str, pop: bool = True) -> dict[str, torch.Tensor]:
        """The sample-weighted means accumulated under `prefix` (since they were last popped),
        over every DDP rank's samples: sums and counts are all-reduced, so every rank must call
        it (EpochCSV does, on each rank, before rank 0 writes)."""
        keys = sorted(k for k in self._sums if k.startswith(f"{prefix}/"))
        totals = sorted(k for k in self._totals if k.startswith(f"{prefix}/"))
        if not keys:
            return {}
        sums = torch.stack([self._sums[k].float().reshape(()) for k in keys])
        counts = torch.tensor([float(self._counts[k]) for k in keys], device=sums.device)
        added = (
            torch.stack([self._totals[k].float().reshape(()) for k in totals])
            if totals
            else sums[:0]
        )
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            every = torch.cat([sums, counts, added])
            torch.distributed.all_reduce(every)  # one collective for every value
            sums, counts, added = every.split([len(keys), len(keys), len(totals)])
        if pop:
            for k in keys:
                del self._sums[k], self._counts[k]
            for k in totals:
                del self._totals[k]
        return {**dict(zip(keys, sums / counts.clamp_min(1))), **dict(zip(totals, added))}

    def on_train_epoch_start(self) -> None:
        self.means("train")  # a fresh epoch: drop what an interrupted one left

    def on_train_epoch_end(self) -> None:
        # metrics.csv read these already (its callback runs before this hook); the log makes
        # them callback metrics for everyone else. Already reduced over the ranks: sync_dist
        # averages equal values (and keeps Lightning from warning that epoch values are local)
        # the epoch's training means and what a controller measured (train/control.py)
        means = {**self.means("train"), **self.means("control")}
        if means:
            self.log_dict(means, sync_dist=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def reference_logits(self, x: torch.Tensor) -> torch.Tensor | None:
        """Logits the student is compared with at evaluation (the teacher's), if any."""
        return None

    def _evaluate(self, batch: Batch, metrics: MetricCollection, stage: str) -> None:
        x, y = batch.inputs, batch.labels
        logits = self.model(x)
        metrics.update(logits, y)
        values = {"loss": nn.functional.cross_entropy(logits, y)}
        reference = self.reference_logits(x)
        if reference is not None:
            values["teacher_agreement"] = (logits.argmax(-1) == reference.argmax(-1)).float().mean()
        self.accumulate(stage, values, len(y))

    def _finish(self, metrics: MetricCollection, stage: str) -> None:
        """An evaluation epoch's figures, computed once from what the steps accumulated."""
        means = self.means(stage)
        if not means:  # no batch ran (limit_*_batches=0)
            metrics.reset()
            return
        self.log_dict({**metrics.compute(), **means}, sync_dist=True)  # equal on every rank
        metrics.reset()

    def validation_step(self, batch, batch_idx):
        self._evaluate(batch, self.val_metrics, "val")

    def on_validation_epoch_end(self) -> None:
        self._finish(self.val_metrics, "val")

    def test_step(self, batch, batch_idx):
        self._evaluate(batch, self.test_metrics, "test")

    def on_test_epoch_end(self) -> None:
        self._finish(self.test_metrics, "test")

    def configure_optimizers(self):
        from distillctl.train.optim import configure

        params = [p for p in self.parameters() if p.requires_grad]
        return configure(self.optim, params, max(int(self.trainer.max_epochs or 1), 1))

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint[META_KEY] = self.meta


class Classifier(_Trainable):
    """Supervised training on hard labels: the teacher, or the scratch-student baseline."""

    def __init__(
        self,
        model: nn.Module,
        num_classes: int,
        optim: OptimSpec,
        meta: dict[str, Any],
        label_smoothing: float = 0.0,
    ):
        super().__init__(model, num_classes, optim, meta)
        self.label_smoothing = float(label_smoothing)

    def training_step(self, batch: Batch, batch_idx):
        x, y = batch.inputs, batch.labels
        routing, logits = student_outputs(self.model, x)
        if routing is None:
            loss = masked_cross_entropy(logits, y, self.label_smoothing)
            self.last_terms = {"ce": loss}  # read by NanGuard to name a broken term
            self.accumulate("train", {"loss": loss}, len(y))
            return loss
        # a soft tree: the paper's objective with `ce`, and its penalty (losses/leafwise.py)
        from distillctl.losses.ce import CrossEntropy
        from distillctl.losses.leafwise import tree_terms

        step = Step(x=x, labels=y, student_logits=logits, teacher_logits=logits[:, :0])
        self.last_terms = tree_terms(
            self.model, routing, step, {"ce": CrossEntropy(self.label_smoothing)}
        )
        loss = self.last_terms["ce"] + self.last_terms[PENALTY]
        self.accumulate("train", {"loss": loss, **self.last_terms}, len(y))
        return loss


class Distiller(_Trainable):
    """The student (`self.model`) learns from a frozen teacher through a Recipe of loss terms.

    The teacher stays in eval mode with frozen parameters for the whole run, although
    Lightning calls `.train()` on this module every epoch: `train()` is overridden so its
    BatchNorm statistics and dropout never change. The recipe's auxiliary modules train with
    the student and are saved in the checkpoint under `recipe.`, outside the student's `model.`.
    """

    def __init__(
        self,
        model: nn.Module,
        teacher: nn.Module,
        recipe: Recipe,
        num_classes: int,
        optim: OptimSpec,
        meta: dict[str, Any],
    ):
        super().__init__(model, num_classes, optim, meta)
        self.teacher = teacher.eval().requires_grad_(False)
        self.recipe = recipe

    def train(self, mode: bool = True):
        super().train(mode)
        self.teacher.eval()
        return self

    def reference_logits(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.teacher(x)

    def training_step(self, batch: Batch, batch_idx):
        x, y = batch.inputs, batch.labels
        total, values = self.recipe(
            self.model, self.teacher, x, y, batch.index, self.current_epoch, batch.mask
        )
        self.last_terms = values  # read by NanGuard (a broken term) and StepCSV (per step)
        moving = {  # scheduled weights and temperatures: this epoch's values in metrics.csv
            k: torch.as_tensor(v, device=total.device)
            for k, v in self.recipe.scheduled(self.current_epoch).items()
        }
        self.accumulate("train", {"loss": total, **values, **moving}, len(y))
        seen = self.recipe.samples_seen(y)  # label terms skip unlabelled samples: say how many
        self.count("train", {f"samples_{name}": n for name, n in seen.items()})
        return total

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        checkpoint[META_KEY]["terms"] = dict(zip(self.recipe.names, self.recipe.weights))
