"""A LightningDataModule over in-memory tensors, batched by index.

The data sets here fit in memory many times over, so samples live as tensors on the training
device and a batch is one index operation: no per-sample collation, no worker processes.
"""

from __future__ import annotations

from collections.abc import Callable

import pytorch_lightning as pl
import torch

from distillctl.data import build_splits
from distillctl.data.splits import Splits


class IndexBatches:
    """Iterates (x, y) batches of tensors; shuffled per epoch from (seed, epoch), sharded per rank.

    The order depends on the epoch number alone (from `epoch_fn`, the trainer's current epoch),
    not on how many epochs this process has seen, so a resumed run sees the same batches.
    """

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        batch_size: int,
        shuffle: bool,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        epoch_fn: Callable[[], int] = lambda: 0,
        augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
        with_index: bool = False,
    ):
        self.x, self.y = x, y
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.seed = seed
        self.rank, self.world_size = rank, world_size
        self.epoch_fn = epoch_fn
        self.augment = augment
        self.with_index = with_index

    def _indices(self) -> torch.Tensor:
        n = len(self.y)
        if self.shuffle:
            gen = torch.Generator().manual_seed(self.seed * 100_003 + int(self.epoch_fn()))
            order = torch.randperm(n, generator=gen)
        else:
            order = torch.arange(n)
        return order[self.rank :: self.world_size].to(self.x.device)

    def __len__(self) -> int:
        per_rank = -(-len(self.y) // self.world_size)
        return -(-per_rank // self.batch_size)

    def __iter__(self):
        order = self._indices()
        gen = None
        if self.augment is not None:  # seeded per epoch and rank, on the data's device
            gen = torch.Generator(device=self.x.device)
            gen.manual_seed((self.seed * 100_003 + int(self.epoch_fn())) * 1_009 + self.rank + 1)
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            x = self.x[idx]
            x = x if gen is None else self.augment(x, gen)
            yield (x, self.y[idx], idx) if self.with_index else (x, self.y[idx])


class ArrayDataModule(pl.LightningDataModule):
    """Training batches are (x, y), or (x, y, index) once `with_index` is set (CRD's memory bank
    needs each sample's position in the training split)."""

    provides_index = True

    def __init__(self, splits: Splits, batch_size: int, seed: int, augment=None):
        super().__init__()
        self.augment = augment
        self.splits = splits
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.with_index = False
        self._tensors: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    @classmethod
    def from_config(cls, cfg) -> ArrayDataModule:
        from distillctl.errors import ConfigError

        if int(cfg.data.batch_size) <= 0:
            raise ConfigError(
                f"data.batch_size={cfg.data.batch_size} must be positive",
                "set data.batch_size to e.g. 64",
            )
        from distillctl.data.augment import build

        augment = build(cfg.data.get("augment"))
        splits = build_splits(cfg.data, cfg.paths.data_dir)
        return cls(splits, cfg.data.batch_size, cfg.seed, augment)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.splits.input_shape

    @property
    def num_classes(self) -> int:
        return self.splits.num_classes

    def _device(self) -> torch.device:
        trainer = getattr(self, "trainer", None)
        return trainer.strategy.root_device if trainer is not None else torch.device("cpu")

    def tensors(self, split: str, device: torch.device | None = None):
        """(x, y) of a split as tensors on `device` (kept there, moved once)."""
        device = device or self._device()
        key = f"{split}@{device}"
        if key not in self._tensors:
            x = torch.from_numpy(getattr(self.splits, f"x_{split}")).to(device)
            y = torch.from_numpy(getattr(self.splits, f"y_{split}")).to(device)
            self._tensors[key] = (x, y)
        return self._tensors[key]

    def _loader(self, split: str, shuffle: bool) -> IndexBatches:
        trainer = getattr(self, "trainer", None)
        rank, world = (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)
        epoch_fn = (lambda: trainer.current_epoch) if trainer is not None else (lambda: 0)
        # evaluation is not sharded: every rank sees the whole split, so metrics are exact
        if not shuffle:
            rank, world = 0, 1
        x, y = self.tensors(split)
        augment = self.augment if shuffle else None  # evaluation data is never augmented
        with_index = self.with_index and shuffle
        return IndexBatches(
            x, y, self.batch_size, shuffle, self.seed, rank, world, epoch_fn, augment, with_index
        )

    def train_dataloader(self):
        return self._loader("train", shuffle=True)

    def val_dataloader(self):
        return self._loader("val", shuffle=False)

    def test_dataloader(self):
        return self._loader("test", shuffle=False)
