"""The teacher-output cache: a frozen teacher's logits and tapped features on a deterministic
training set, computed once per sample and reused every epoch.

Valid only where the teacher sees exactly the same input every epoch (no random augmentation)
and nothing differentiates through it (no `needs_graph` term); `decide` says whether, and why
not. The cache is filled during the first epoch by sample index (the data module's
`with_index`); once every sample is in, a batch is one gather, with no teacher forward. It
lives on the training device (no host sync) when it fits data.memory_budget_mb, else in
memory-mapped files on disk, kept for later runs with the same teacher and data
(losses/teacher_store.py).
"""

from __future__ import annotations

from pathlib import Path

import torch

from distillctl.losses.teacher_store import DeviceStore, DiskStore

LOGITS = "__logits__"


def token_axes(full: tuple[int, ...], shorter: tuple[int, ...]) -> list[int]:
    """The batch axes (counting the batch as axis 0) of an output that run over a text's
    positions: those whose per-sample size changed between a dry run at the full length
    (`full`) and one a token shorter (`shorter`). Measured, not guessed from sizes: a head's
    width may equal the text length."""
    return [axis + 1 for axis, (a, b) in enumerate(zip(full, shorter)) if a != b]


def cut(
    outputs: dict[str, torch.Tensor], axes: dict[str, list[int]], length: int
) -> dict[str, torch.Tensor]:
    """Outputs of full-length texts cut to a batch's length (its longest text) along each
    output's token axes (`axes`, by output name; none for logits)."""
    return {key: _narrowed(value, axes.get(key, ()), length) for key, value in outputs.items()}


def _narrowed(value: torch.Tensor, axes, length: int) -> torch.Tensor:
    for axis in axes:
        value = value.narrow(axis, 0, length)
    return value


class TeacherCache:
    """`store`: memory (device tensors within the budget, else off), disk (memory-mapped
    files in `entry`), auto (memory when it fits, else disk). A finished disk `entry` left by
    an earlier run with the same key is read from the start: no teacher pass at all."""

    def __init__(
        self, size: int, budget_bytes: float, store: str = "memory", entry: Path | None = None
    ):
        self.size = int(size)
        self.budget = float(budget_bytes)
        self.kind = store
        self.entry = entry
        self.store: DeviceStore | DiskStore | None = None
        self.filled: list[bool] = [False] * self.size
        self.missing = self.size
        self.disabled = ""  # why the cache gave up (too large), else ""
        self.reused: Path | None = None  # the disk entry this run found finished
        found, damage = DiskStore.read(entry) if entry is not None else (None, None)
        if damage is not None:
            from distillctl.console import say

            say(
                f"teacher-output cache entry {entry} is damaged ({damage}): the teacher's outputs "
                "are computed again and the entry is replaced"
            )
        if found is not None and found.size == self.size:
            self.store, self.reused = found, entry
            self.filled, self.missing = [True] * self.size, 0

    @property
    def complete(self) -> bool:
        return self.missing == 0

    def _fits(self, per_sample: int) -> bool:
        return per_sample * self.size <= self.budget

    def _allocate(self, outputs: dict[str, torch.Tensor]) -> bool:
        per_sample = sum(v[0].numel() * v.element_size() for v in outputs.values())
        if self.kind == "memory" or (self.kind == "auto" and self._fits(per_sample)):
            if not self._fits(per_sample):
                self.disabled = (
                    f"{per_sample * self.size / 2**20:,.0f} MB of teacher outputs exceed "
                    f"data.memory_budget_mb ({self.budget / 2**20:,.0f} MB); "
                    "teacher_cache_store=disk keeps them on disk"
                )
                return False
            self.store = DeviceStore.empty(outputs, self.size)
            return True
        if self.entry is None:
            self.disabled = "no cache folder for a disk store (paths.cache_dir)"
            return False
        self.store = DiskStore.create(self.entry, outputs, self.size)
        return True

    def lookup(self, index: torch.Tensor, compute) -> dict[str, torch.Tensor]:
        """The teacher's outputs for the samples `index`: from the cache once it holds them all,
        else computed by `compute()` (and stored)."""
        if self.complete and self.store is not None:
            if isinstance(self.store, DiskStore) and self.kind != "disk":
                per_sample = sum(a[0].nbytes for a in self.store.arrays.values())
                if self._fits(per_sample):  # a reused entry that fits: one gather per batch
                    self.store = self.store.to_device(index.device)
            return self.store.get(index)
        outputs = compute()
        if self.disabled or (self.store is None and not self._allocate(outputs)):
            return outputs
        self.store.put(index, outputs)
        for i in index.tolist():  # host bookkeeping, until every sample is in
            if not self.filled[i]:
                self.filled[i] = True
                self.missing -= 1
        if self.complete and isinstance(self.store, DiskStore):
            self.store.finish()  # in place for later runs with the same teacher and data
        return outputs


def decide(setting: str, augmented: bool, needs_graph: bool) -> tuple[bool, str]:
    """(use the cache?, the reason, for the log) for teacher_cache=auto|true|false."""
    from distillctl.errors import ConfigError

    setting = str(setting).lower()
    if setting == "false":
        return False, "off (teacher_cache=false)"
    why_not = (
        "a loss term differentiates through the teacher"
        if needs_graph
        else "random augmentation changes the teacher's input every epoch"
        if augmented
        else ""
    )
    if why_not and setting == "true":
        raise ConfigError(
            f"teacher_cache=true, but {why_not}",
            "use teacher_cache=auto (it switches itself off then) or drop the augmentation",
        )
    if why_not:
        return False, f"off: {why_not}"
    return True, "on: the training inputs are the same every epoch"
