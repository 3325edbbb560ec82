"""Tiny data sets written in torchvision's own on-disk formats (idx, CIFAR pickles, SVHN .mat)."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np


def _images(n: int, shape: tuple[int, ...], classes: int, seed: int):
    """Images whose class shows in their brightness, so a model can learn them a little."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    base = (y * (200 // classes))[:, None].astype(np.int64)
    x = rng.integers(0, 55, (n, int(np.prod(shape)))) + base
    return x.clip(0, 255).astype(np.uint8).reshape(n, *shape), y


def write_idx(path: Path, array: np.ndarray, compress: bool = False) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    raw = header + array.astype(np.uint8).tobytes()
    if compress:
        path = path.with_name(path.name + ".gz")
        raw = gzip.compress(raw)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw)


def mnist(
    root: Path, folder: str = "MNIST", train: int = 60, test: int = 20, gz: bool = True
) -> Path:
    """torchvision keeps the raw files extracted; the downloaded .gz are read as well."""
    raw = root / folder / "raw"
    for split, n, seed in (("train", train, 0), ("t10k", test, 1)):
        x, y = _images(n, (28, 28), 10, seed)
        write_idx(raw / f"{split}-images-idx3-ubyte", x, compress=gz and split == "train")
        write_idx(raw / f"{split}-labels-idx1-ubyte", y)
    return root


def _pickle(path: Path, obj: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(obj, protocol=2))


def cifar10(root: Path, per_batch: int = 20, test: int = 20) -> Path:
    folder = root / "cifar-10-batches-py"
    for i in range(1, 6):
        x, y = _images(per_batch, (3, 32, 32), 10, i)
        _pickle(
            folder / f"data_batch_{i}", {"data": x.reshape(per_batch, -1), "labels": y.tolist()}
        )
    x, y = _images(test, (3, 32, 32), 10, 9)
    _pickle(folder / "test_batch", {"data": x.reshape(test, -1), "labels": y.tolist()})
    names = "airplane automobile bird cat deer dog frog horse ship truck".split()
    _pickle(folder / "batches.meta", {"label_names": names})
    return root


def cifar100(root: Path, train: int = 400, test: int = 100) -> Path:
    folder = root / "cifar-100-python"
    for split, n, seed in (("train", train, 0), ("test", test, 1)):
        x, y = _images(n, (3, 32, 32), 100, seed)
        _pickle(folder / split, {"data": x.reshape(n, -1), "fine_labels": y.tolist()})
    _pickle(folder / "meta", {"fine_label_names": [f"class{i}" for i in range(100)]})
    return root


def svhn(root: Path, train: int = 60, test: int = 20) -> Path:
    from scipy.io import savemat

    root.mkdir(parents=True, exist_ok=True)
    for split, n, seed in (("train", train, 0), ("test", test, 1)):
        x, y = _images(n, (32, 32, 3), 10, seed)
        # SVHN stores (32, 32, 3, N) and the digit 0 as label 10
        savemat(
            str(root / f"{split}_32x32.mat"),
            {"X": x.transpose(1, 2, 3, 0), "y": (np.where(y == 0, 10, y))[:, None]},
        )
    return root
