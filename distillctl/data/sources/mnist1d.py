"""MNIST-1D (Greydanus 2020), generated locally by `mnist1d.data.make_dataset` and cached.

Never downloaded: the package's `get_dataset` would fetch a pickle from the network.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from distillctl.data import register
from distillctl.data.splits import Splits, from_train_test
from distillctl.errors import ConfigError
from distillctl.io import atomic_write_bytes


def _generate(num_samples: int, train_split: float, seed: int) -> dict[str, np.ndarray]:
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples, args.train_split, args.seed = num_samples, train_split, seed
    made = make_dataset(args)
    return {k: np.asarray(made[k]) for k in ("x", "y", "x_test", "y_test")}


def generated(num_samples: int, train_split: float, seed: int, data_dir: str):
    """make_dataset's arrays for these arguments, cached under data_dir (keyed by them)."""
    key = {"num_samples": num_samples, "train_split": train_split, "seed": seed}
    digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    cache = Path(data_dir) / f"mnist1d-{digest}.npz"
    if cache.exists():
        try:
            with np.load(cache) as stored:
                return {k: stored[k] for k in ("x", "y", "x_test", "y_test")}
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache is rebuilt, not trusted
    arrays = _generate(**key)
    import io

    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_write_bytes(cache, buffer.getvalue())
    return arrays


def transfer_inputs(cfg, n: int, seed: int, data_dir: str) -> np.ndarray:
    """`n` fresh unlabelled signals for distill.transfer=generated, stored as the training
    split stores them ((n, 1, 40)); drawn with `seed`, which must not be the data's own."""
    if seed == int(cfg.generator_seed):
        raise ConfigError(
            f"distill.transfer_seed={seed} is data.generator_seed: the generator would draw the "
            "test split's signals again",
            f"choose another seed, e.g. distill.transfer_seed={seed + 1}",
        )
    made = generated(n, float(cfg.train_split), seed, data_dir)
    return np.concatenate([made["x"], made["x_test"]])[:n, None, :].astype(np.float32)


@register(
    "mnist1d",
    identity=("num_samples", "train_split", "generator_seed", "val_fraction", "split_seed"),
    kind="signal",
)
def mnist1d(cfg, data_dir: str) -> Splits:
    """Signals of length 40 as (1, 40); the cache file is keyed by the generator's arguments."""
    if int(cfg.num_samples) < 100:
        raise ConfigError(
            f"data.num_samples={cfg.num_samples} is too small for MNIST-1D",
            "use data.num_samples=100 or more (the paper uses 5000)",
        )
    arrays = generated(
        int(cfg.num_samples), float(cfg.train_split), int(cfg.generator_seed), data_dir
    )
    return from_train_test(
        arrays["x"][:, None, :],
        arrays["y"],
        arrays["x_test"][:, None, :],
        arrays["y_test"],
        cfg,
        num_classes=10,
        kind="signal",
        class_names=[str(c) for c in range(10)],
    )
