"""The teacher-output cache: a frozen teacher's logits and tapped features on a deterministic
training set, computed once per sample and reused every epoch.

Valid only where the teacher sees exactly the same input every epoch (no random augmentation)
and nothing differentiates through it (no `needs_graph` term); `decide` says whether, and why
not. The cache lives on the training device, filled during the first epoch by sample index
(the data module's `with_index`); once every sample is in, a batch is one gather, with no
teacher forward and no host sync.
"""

from __future__ import annotations

import torch

LOGITS = "__logits__"


class TeacherCache:
    def __init__(self, size: int, budget_bytes: float):
        self.size = int(size)
        self.budget = float(budget_bytes)
        self.store: dict[str, torch.Tensor] | None = None
        self.filled: list[bool] = [False] * self.size
        self.missing = self.size
        self.disabled = ""  # why the cache gave up (too large), else ""

    @property
    def complete(self) -> bool:
        return self.missing == 0

    def _allocate(self, outputs: dict[str, torch.Tensor]) -> bool:
        per_sample = sum(v[0].numel() * v.element_size() for v in outputs.values())
        if per_sample * self.size > self.budget:
            self.disabled = (
                f"{per_sample * self.size / 2**20:,.0f} MB of teacher outputs exceed "
                f"data.memory_budget_mb ({self.budget / 2**20:,.0f} MB)"
            )
            return False
        self.store = {
            k: torch.empty((self.size, *v.shape[1:]), dtype=v.dtype, device=v.device)
            for k, v in outputs.items()
        }
        return True

    def lookup(self, index: torch.Tensor, compute) -> dict[str, torch.Tensor]:
        """The teacher's outputs for the samples `index`: from the cache once it holds them all,
        else computed by `compute()` (and stored)."""
        if self.complete and self.store is not None:
            return {k: v[index] for k, v in self.store.items()}
        outputs = compute()
        if self.disabled or (self.store is None and not self._allocate(outputs)):
            return outputs
        for k, v in outputs.items():
            self.store[k][index] = v.detach()
        for i in index.tolist():  # host bookkeeping, first epoch only
            if not self.filled[i]:
                self.filled[i] = True
                self.missing -= 1
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
