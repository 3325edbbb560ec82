"""torchvision's data sets, read from `paths.data_dir` in torchvision's own on-disk layouts:
`mnist`, `fashion_mnist`, `cifar10`, `cifar100`, `svhn`.

The files are read here (idx files, CIFAR's pickled batches through an unpickler that admits
only plain arrays, SVHN's .mat), so a data set is never unpickled blindly and tiny files in the
same formats stand in for it in tests. `data.download=true` asks torchvision's own downloader
to fetch them first (a network is needed). Pixels stay uint8; they are scaled and normalised
(per-channel statistics of the training split) on the device.
"""

from __future__ import annotations

import gzip
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from distillctl.data import register
from distillctl.data.splits import Splits, from_train_test
from distillctl.errors import RunError

IDENTITY = ("val_fraction", "split_seed", "subset")
# where the files are (data.root, else paths.data_dir): not identity, but kept with each run
FILES = ("root",)


@dataclass(frozen=True)
class Layout:
    folder: str  # under paths.data_dir, as torchvision lays it out
    files: tuple[str, ...]  # what must be there
    torchvision: str  # the torchvision.datasets class that downloads it
    how: str  # how to get the files without our downloader


MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
LAYOUTS = {
    "mnist": Layout(
        "MNIST/raw", MNIST_FILES, "MNIST", "torchvision.datasets.MNIST(root, download=True)"
    ),
    "fashion_mnist": Layout(
        "FashionMNIST/raw",
        MNIST_FILES,
        "FashionMNIST",
        "torchvision.datasets.FashionMNIST(root, download=True)",
    ),
    "cifar10": Layout(
        "cifar-10-batches-py",
        tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch", "batches.meta"),
        "CIFAR10",
        "extract cifar-10-python.tar.gz (https://www.cs.toronto.edu/~kriz/cifar.html) there",
    ),
    "cifar100": Layout(
        "cifar-100-python",
        ("train", "test", "meta"),
        "CIFAR100",
        "extract cifar-100-python.tar.gz (https://www.cs.toronto.edu/~kriz/cifar.html) there",
    ),
    "svhn": Layout(
        ".",
        ("train_32x32.mat", "test_32x32.mat"),
        "SVHN",
        "download train_32x32.mat and test_32x32.mat from http://ufldl.stanford.edu/housenumbers/",
    ),
}
FASHION = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
           "Bag", "Ankle boot"]  # fmt: skip


def _found(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _download(name: str, root: Path) -> None:
    import torchvision.datasets as tvd

    try:
        for train in (True, False):
            kwargs = {"split": "train" if train else "test"} if name == "svhn" else {"train": train}
            getattr(tvd, LAYOUTS[name].torchvision)(str(root), download=True, **kwargs)
    except Exception as exc:  # no network, a proxy, a full disk: one message either way
        raise RunError(
            f"data.download=true could not fetch '{name}' into {root}: {type(exc).__name__}: {exc}",
            f"copy the files to {root / LAYOUTS[name].folder} ({LAYOUTS[name].how})",
        ) from None


def files_of(name: str, cfg, data_dir: str) -> dict[str, Path]:
    """The data set's files, after downloading them if asked; a clear error when absent."""
    root = Path(cfg.get("root") or data_dir)
    layout = LAYOUTS[name]
    folder = root / layout.folder
    if cfg.get("download") and any(_found(folder, f) is None for f in layout.files):
        _download(name, root)
    found = {f: _found(folder, f) for f in layout.files}
    missing = [f for f, path in found.items() if path is None]
    if missing:
        raise RunError(
            f"data '{name}' expects torchvision's files in {folder.resolve()} and "
            f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing",
            f"pass data.download=true (needs a network), or {layout.how}; "
            "paths.data_dir (or DISTILLCTL_DATA) says where to look",
        )
    return {f: p for f, p in found.items() if p is not None}


def _open(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def read_idx(path: Path) -> np.ndarray:
    """An idx file (MNIST's format): magic (0, 0, dtype 0x08 = uint8, ndim), sizes, data."""
    with _open(path) as f:
        raw = f.read()
    if len(raw) < 4 or raw[:2] != b"\x00\x00" or raw[2] != 0x08:
        raise RunError(f"{path} is not an idx file of unsigned bytes", "re-download the data set")
    ndim = raw[3]
    dims = np.frombuffer(raw, ">u4", count=ndim, offset=4).astype(int)
    data = np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise RunError(
            f"{path} is truncated ({data.size} of {int(np.prod(dims))} bytes)",
            "re-download the data set",
        )
    return data.reshape(dims)


class _ArraysOnly(pickle.Unpickler):
    """CIFAR's batches are pickled dicts of bytes, lists and numpy arrays: nothing else loads."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # how Python 3 writes bytes into a protocol-2 pickle
    }

    def find_class(self, module: str, name: str):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a CIFAR batch")


def read_cifar_batch(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            batch = _ArraysOnly(f, encoding="latin1").load()
    except Exception as exc:
        raise RunError(
            f"{path} is not a CIFAR batch file ({type(exc).__name__}: {exc})",
            "re-download the data set (data.download=true) or re-extract the archive",
        ) from None
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}


def _cifar_images(batch: dict) -> np.ndarray:
    return np.asarray(batch["data"], np.uint8).reshape(-1, 3, 32, 32)


def channel_stats(x: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of uint8 images (N, C, H, W), on the [0, 1] scale."""
    flat = x.transpose(1, 0, 2, 3).reshape(x.shape[1], -1).astype(np.float64) / 255.0
    return flat.mean(axis=1).round(6).tolist(), (flat.std(axis=1) + 1e-6).round(6).tolist()


def _splits(cfg, x_train, y_train, x_test, y_test, classes: list[str]) -> Splits:
    splits = from_train_test(
        x_train,
        y_train,
        x_test,
        y_test,
        cfg,
        num_classes=len(classes),
        kind="image",
        class_names=classes,
    )
    splits.normalise = channel_stats(splits.x_train)
    return splits


def _mnist_like(name: str, classes: list[str]):
    def load(cfg, data_dir: str) -> Splits:
        files = files_of(name, cfg, data_dir)
        images = {f: read_idx(p) for f, p in files.items()}
        return _splits(
            cfg,
            images["train-images-idx3-ubyte"][:, None],
            images["train-labels-idx1-ubyte"],
            images["t10k-images-idx3-ubyte"][:, None],
            images["t10k-labels-idx1-ubyte"],
            classes,
        )

    return load


register("mnist", identity=IDENTITY, files=FILES, kind="image")(
    _mnist_like("mnist", [str(d) for d in range(10)])
)
register("fashion_mnist", identity=IDENTITY, files=FILES, kind="image")(
    _mnist_like("fashion_mnist", FASHION)
)


@register("cifar10", identity=IDENTITY, files=FILES, kind="image")
def cifar10(cfg, data_dir: str) -> Splits:
    files = files_of("cifar10", cfg, data_dir)
    train = [read_cifar_batch(files[f"data_batch_{i}"]) for i in range(1, 6)]
    test = read_cifar_batch(files["test_batch"])
    names = list(read_cifar_batch(files["batches.meta"])["label_names"])
    return _splits(
        cfg,
        np.concatenate([_cifar_images(b) for b in train]),
        np.concatenate([np.asarray(b["labels"]) for b in train]),
        _cifar_images(test),
        np.asarray(test["labels"]),
        names,
    )


@register("cifar100", identity=IDENTITY, files=FILES, kind="image")
def cifar100(cfg, data_dir: str) -> Splits:
    files = files_of("cifar100", cfg, data_dir)
    train, test = read_cifar_batch(files["train"]), read_cifar_batch(files["test"])
    names = list(read_cifar_batch(files["meta"])["fine_label_names"])
    return _splits(
        cfg,
        _cifar_images(train),
        np.asarray(train["fine_labels"]),
        _cifar_images(test),
        np.asarray(test["fine_labels"]),
        names,
    )


@register("svhn", identity=IDENTITY, files=FILES, kind="image")
def svhn(cfg, data_dir: str) -> Splits:
    from scipy.io import loadmat

    files = files_of("svhn", cfg, data_dir)

    def read(path: Path):
        mat = loadmat(str(path))
        # X: (32, 32, 3, N); y: (N, 1) with 10 standing for the digit 0
        return np.ascontiguousarray(mat["X"].transpose(3, 2, 0, 1), np.uint8), mat["y"].ravel() % 10

    x_train, y_train = read(files["train_32x32.mat"])
    x_test, y_test = read(files["test_32x32.mat"])
    return _splits(cfg, x_train, y_train, x_test, y_test, [str(d) for d in range(10)])
