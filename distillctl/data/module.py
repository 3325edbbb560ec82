"""The two LightningDataModules behind `data.build`, serving the same batches.

- `TensorDataModule` (the fast path): each split held as tensors on the training device, a batch
  is one index operation: no per-sample collation, no worker processes.
- `LoaderDataModule`: a per-sample Dataset behind a torch DataLoader (workers, pinned memory,
  persistent workers), for data that should not sit on the device whole.

Both draw the epoch's order from `epoch_order` and the augmentation's random numbers from
`augment_generator`, on the device, after the batch is there: for the same seed they give the
same batches (tests/test_data.py pins it), so `data.in_memory` never changes a result.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import pytorch_lightning as pl
import torch

from distillctl.data.batch import Batch
from distillctl.data.pixels import Pixels
from distillctl.data.splits import Splits
from distillctl.inputs import kind

Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


def epoch_order(n: int, shuffle: bool, seed: int, epoch: int, rank: int, world: int):
    """This rank's sample order for one epoch: from (seed, epoch) alone, so a resumed run sees
    the same batches as an uninterrupted one."""
    if shuffle:
        gen = torch.Generator().manual_seed(seed * 100_003 + int(epoch))
        order = torch.randperm(n, generator=gen)
    else:
        order = torch.arange(n)
    return order[rank::world]


def augment_generator(seed: int, epoch: int, rank: int, device: torch.device) -> torch.Generator:
    gen = torch.Generator(device=device)
    return gen.manual_seed((seed * 100_003 + int(epoch)) * 1_009 + rank + 1)


class Served:
    """Where a split is served from and how: shared by both modules' iterators."""

    def __init__(
        self,
        batch_size: int,
        shuffle: bool,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        epoch_fn: Callable[[], int] = lambda: 0,
        augment: Augment | None = None,
        with_index: bool = False,
        pixels: Pixels | None = None,
        mix: Callable | None = None,
    ):
        self.pixels = pixels or Pixels(None)
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.seed = seed
        self.rank, self.world_size = rank, world_size
        self.epoch_fn = epoch_fn
        self.augment = augment
        self.with_index = with_index
        self.mix = mix  # distill.mix: (x, y, generator) -> (mixed x, y unlabelled)

    def order(self, n: int) -> torch.Tensor:
        return epoch_order(n, self.shuffle, self.seed, self.epoch_fn(), self.rank, self.world_size)

    def batches_of(self, n: int) -> int:
        per_rank = -(-n // self.world_size)
        return -(-per_rank // self.batch_size)

    def finish(self, batches: Iterable, device: torch.device) -> Iterator:
        """Raw (x, y, idx) moved to `device`, augmented there, as Batches (the index only when
        the trainer asked for it)."""
        gen = None
        if self.augment is not None or self.mix is not None:  # per epoch and rank, on the device
            gen = augment_generator(self.seed, self.epoch_fn(), self.rank, device)
        for x, y, idx in batches:
            x = self.pixels.scale(x.to(device, non_blocking=True))
            x = x if self.augment is None else self.augment(x, gen)
            y = y.to(device, non_blocking=True)
            if self.mix is not None:  # after the views, before normalising (both are linear)
                x, y = self.mix(x, y, gen)
            x = self.pixels.standardise(x)
            index = idx.to(device) if self.with_index else None
            yield Batch(x, y, index, self.pixels.mask(x))


class IndexBatches:
    """Batches of device tensors, one index operation each."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, served: Served):
        self.x, self.y, self.served = x, y, served

    def __len__(self) -> int:
        return self.served.batches_of(len(self.y))

    def _raw(self):
        order = self.served.order(len(self.y)).to(self.x.device)
        size = self.served.batch_size
        for start in range(0, len(order), size):
            idx = order[start : start + size]
            yield self.x[idx], self.y[idx], idx

    def __iter__(self):
        return self.served.finish(self._raw(), self.x.device)


class ArraySamples(torch.utils.data.Dataset):
    """One sample per item, as a torchvision-style Dataset: (x, y, index)."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        return torch.as_tensor(self.x[i]), torch.as_tensor(self.y[i]), torch.as_tensor(i)


class OrderSampler(torch.utils.data.Sampler):
    """Batches of indices in `epoch_order`; lives in the main process, so it knows the epoch."""

    def __init__(self, n: int, served: Served):
        self.n, self.served = n, served

    def __len__(self) -> int:
        return self.served.batches_of(self.n)

    def __iter__(self):
        order = self.served.order(self.n).tolist()
        size = self.served.batch_size
        return iter([order[i : i + size] for i in range(0, len(order), size)])


class LoaderBatches:
    """Batches from a DataLoader over a per-sample Dataset, finished on the device."""

    def __init__(self, dataset, served: Served, device: torch.device, workers: int, pin: bool):
        self.served, self.device = served, device
        self.loader = torch.utils.data.DataLoader(
            dataset,
            batch_sampler=OrderSampler(len(dataset), served),
            num_workers=workers,
            pin_memory=pin,
            persistent_workers=workers > 0,
        )

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        return self.served.finish(self.loader, self.device)


class _Module(pl.LightningDataModule):
    """Training batches are (x, y), or (x, y, index) once `with_index` is set (CRD's memory bank
    needs each sample's position in the training split)."""

    provides_index = True

    def __init__(self, splits: Splits, batch_size: int, seed: int, augment: Augment | None = None):
        super().__init__()
        self.augment = augment
        self.splits = splits
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.with_index = False
        self.mix = None  # distill.mix, set by distillctl/data/transfer.py (training batches only)
        self.pixels = kind(splits.kind).preparation(splits.normalise)  # the input kind's

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.splits.input_shape

    @property
    def num_classes(self) -> int:
        return self.splits.num_classes

    def train_labels(self):
        return self.splits.y_train

    def _device(self) -> torch.device:
        trainer = getattr(self, "trainer", None)
        return trainer.strategy.root_device if trainer is not None else torch.device("cpu")

    def _served(self, shuffle: bool) -> Served:
        trainer = getattr(self, "trainer", None)
        rank, world = (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)
        epoch_fn = (lambda: trainer.current_epoch) if trainer is not None else (lambda: 0)
        # evaluation is not sharded: every rank sees the whole split, so metrics are exact
        if not shuffle:
            rank, world = 0, 1
        augment = self.augment if shuffle else None  # evaluation data is never augmented
        with_index = self.with_index and shuffle
        return Served(
            self.batch_size,
            shuffle,
            self.seed,
            rank,
            world,
            epoch_fn,
            augment,
            with_index,
            self.pixels,
            self.mix if shuffle else None,
        )

    def _serve(self, split: str, served: Served, device: torch.device):
        raise NotImplementedError

    def _loader(self, split: str, shuffle: bool):
        return self._serve(split, self._served(shuffle), self._device())

    def batches(self, split: str, device: torch.device):
        """A split's (x, y) batches on `device` in order, unaugmented, without a trainer."""
        return self._serve(split, Served(self.batch_size, False, pixels=self.pixels), device)

    def train_dataloader(self):
        return self._loader("train", shuffle=True)

    def val_dataloader(self):
        return self._loader("val", shuffle=False)

    def test_dataloader(self):
        return self._loader("test", shuffle=False)


class TensorDataModule(_Module):
    """Every split as tensors on the training device, moved there once."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._tensors: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def tensors(self, split: str, device: torch.device | None = None):
        """(x, y) of a split as tensors on `device` (kept there, moved once)."""
        device = device or self._device()
        key = f"{split}@{device}"
        if key not in self._tensors:
            x = torch.from_numpy(getattr(self.splits, f"x_{split}")).to(device)
            y = torch.from_numpy(getattr(self.splits, f"y_{split}")).to(device)
            self._tensors[key] = (x, y)
        return self._tensors[key]

    def _serve(self, split: str, served: Served, device: torch.device) -> IndexBatches:
        return IndexBatches(*self.tensors(split, device), served)


class LoaderDataModule(_Module):
    """A DataLoader per split over a per-sample Dataset."""

    def __init__(self, *args, num_workers: int = 0, **kwargs):
        super().__init__(*args, **kwargs)
        self.num_workers = int(num_workers)

    def _serve(self, split: str, served: Served, device: torch.device) -> LoaderBatches:
        samples = ArraySamples(
            getattr(self.splits, f"x_{split}"), getattr(self.splits, f"y_{split}")
        )
        pin = device.type == "cuda"
        return LoaderBatches(samples, served, device, self.num_workers, pin)


def nbytes(splits: Splits) -> int:
    return sum(
        getattr(splits, f"{a}_{s}").nbytes for a in ("x", "y") for s in ("train", "val", "test")
    )


def in_memory(data_cfg, splits: Splits) -> bool:
    """data.in_memory: true, false, or auto (the splits fit data.memory_budget_mb)."""
    from distillctl.errors import ConfigError

    choice = str(data_cfg.get("in_memory", "auto")).lower()
    if choice in ("true", "false"):
        return choice == "true"
    if choice != "auto":
        raise ConfigError(
            f"data.in_memory={data_cfg.get('in_memory')} is not a choice",
            "set data.in_memory to auto, true or false",
        )
    return nbytes(splits) <= float(data_cfg.get("memory_budget_mb", 2048)) * 2**20


def choose_module(cfg, splits: Splits) -> _Module:
    from distillctl.data.augment import build

    augment = build(cfg.data.get("augment"), splits.kind)
    if in_memory(cfg.data, splits):
        return TensorDataModule(splits, cfg.data.batch_size, cfg.seed, augment)
    workers = int(cfg.data.get("num_workers", 0))
    return LoaderDataModule(splits, cfg.data.batch_size, cfg.seed, augment, num_workers=workers)
