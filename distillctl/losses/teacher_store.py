"""Where the teacher-output cache keeps its tensors: on the training device, or memory-mapped
files on disk for sets too large for the memory budget.

A disk entry lives in `<paths.cache_dir>/teacher_outputs/<key>/`, where the key hashes the
teacher's weights and everything that decides its inputs (the data config, taps, precision):
another teacher or other data is another key, so a stale entry is never read. It is filled in
a private `<key>.tmp-<pid>` folder and renamed into place only when every sample is in, so a
crashed or concurrent run (a sweep's jobs, DDP ranks) never reads a half-written entry; the
first finished writer wins and later runs with the same key reuse it without a teacher pass.
meta.json records each file's sha256, checked whenever the entry is opened: a file changed or
cut short since is named, and the entry is recomputed and replaced (never trained on).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

META = "meta.json"
# data options that change how samples are served, not which inputs the teacher sees
SERVING_KEYS = {"batch_size", "num_workers", "in_memory", "memory_budget_mb", "download"}


def cache_key(teacher: torch.nn.Module, data_cfg: dict[str, Any], extra: dict[str, Any]) -> str:
    """sha256 of the teacher's weights (names, shapes, dtypes, values), the data config (less
    its serving options) and `extra` (taps, precision, memory format)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(teacher.state_dict().items()):
        value = tensor.detach().to("cpu").contiguous().reshape(-1)  # 0-d: num_batches_tracked
        digest.update(f"{name}:{tuple(value.shape)}:{value.dtype}".encode())
        digest.update(value.view(torch.uint8).numpy().tobytes() if value.numel() else b"")
    inputs = {k: v for k, v in data_cfg.items() if k not in SERVING_KEYS}
    digest.update(json.dumps([inputs, extra], sort_keys=True, default=str).encode())
    return digest.hexdigest()[:32]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


class DeviceStore:
    """Every sample's outputs as tensors on the training device (one gather per batch)."""

    def __init__(self, tensors: dict[str, torch.Tensor]):
        self.tensors = tensors

    @classmethod
    def empty(cls, example: dict[str, torch.Tensor], size: int) -> DeviceStore:
        """Room for `size` samples shaped like the batch `example`, on its device."""
        return cls(
            {
                k: torch.empty((size, *v.shape[1:]), dtype=v.dtype, device=v.device)
                for k, v in example.items()
            }
        )

    def get(self, index: torch.Tensor) -> dict[str, torch.Tensor]:
        return {k: v[index] for k, v in self.tensors.items()}

    def put(self, index: torch.Tensor, outputs: dict[str, torch.Tensor]) -> None:
        for k, v in outputs.items():
            self.tensors[k][index] = v.detach()


class DiskStore:
    """Every sample's outputs in float32 .npy memory maps (bf16 has no numpy type), read per
    batch and moved to the batch's device in the outputs' own dtype."""

    def __init__(self, folder: Path, arrays: dict[str, np.ndarray], dtypes: dict[str, str]):
        self.folder, self.arrays, self.dtypes = Path(folder), arrays, dtypes

    @classmethod
    def create(cls, final: Path, example: dict[str, torch.Tensor], size: int) -> DiskStore:
        folder = final.with_name(f"{final.name}.tmp-{os.getpid()}")
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        arrays = {
            k: np.lib.format.open_memmap(
                folder / f"{i}.npy", mode="w+", dtype=np.float32, shape=(size, *v.shape[1:])
            )
            for i, (k, v) in enumerate(example.items())
        }
        store = cls(folder, arrays, {k: str(v.dtype) for k, v in example.items()})
        store.final = final
        return store

    @classmethod
    def open(cls, final: Path) -> DiskStore | None:
        """A finished, intact entry, or None (absent or damaged: then it is recomputed)."""
        return cls.read(final)[0]

    @classmethod
    def read(cls, final: Path) -> tuple[DiskStore | None, str | None]:
        """(the entry, None) if it is finished and intact; (None, what is wrong) if it is there
        but damaged; (None, None) if there is none."""
        if not (final / META).exists():
            return None, None
        try:
            meta = json.loads((final / META).read_text(encoding="utf-8"))
            for i, _ in enumerate(meta["keys"]):
                if _sha256(final / f"{i}.npy") != meta["sha256"][i]:
                    return None, f"{i}.npy does not match the checksum written with it"
            arrays = {
                k: np.load(final / f"{i}.npy", mmap_mode="r") for i, k in enumerate(meta["keys"])
            }
        except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
            return None, f"unreadable ({type(exc).__name__}: {exc})"
        if any(len(a) != meta["size"] for a in arrays.values()):
            return None, "its files hold another number of samples than meta.json says"
        return cls(final, arrays, meta["dtypes"]), None

    @property
    def size(self) -> int:
        return len(next(iter(self.arrays.values())))

    def get(self, index: torch.Tensor, device: torch.device | None = None):
        rows = index.detach().cpu().numpy()
        device = device or index.device
        return {
            k: torch.from_numpy(np.ascontiguousarray(a[rows])).to(
                device=device, dtype=getattr(torch, self.dtypes[k].removeprefix("torch."))
            )
            for k, a in self.arrays.items()
        }

    def put(self, index: torch.Tensor, outputs: dict[str, torch.Tensor]) -> None:
        rows = index.detach().cpu().numpy()
        for k, v in outputs.items():
            self.arrays[k][rows] = v.detach().float().cpu().numpy()

    def finish(self) -> Path:
        """Flush, describe and move the filled entry into place; returns where it is."""
        for array in self.arrays.values():
            array.flush()
        meta = {
            "keys": list(self.arrays),
            "dtypes": self.dtypes,
            "size": self.size,
            "sha256": [_sha256(self.folder / f"{i}.npy") for i in range(len(self.arrays))],
        }
        (self.folder / META).write_text(json.dumps(meta), encoding="utf-8")
        if self.final.exists() and DiskStore.open(self.final) is None:
            # a damaged entry (this run recomputed it): moved aside, then replaced
            aside = self.final.with_name(f"{self.final.name}.damaged-{os.getpid()}")
            try:
                os.replace(self.final, aside)
            except OSError:
                pass
            shutil.rmtree(aside, ignore_errors=True)
        try:
            os.replace(self.folder, self.final)  # atomic; fails if another writer finished first
        except OSError:
            shutil.rmtree(self.folder, ignore_errors=True)
        self.folder = self.final
        return self.final

    def to_device(self, device: torch.device) -> DeviceStore:
        return DeviceStore(self.get(torch.arange(self.size), device))
