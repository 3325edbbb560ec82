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


@register(
    "mnist1d",
    identity=("num_samples", "train_split", "generator_seed", "val_fraction", "split_seed"),
)
def mnist1d(cfg, data_dir: str) -> Splits:
    """Signals of length 40 as (1, 40); the cache file is keyed by the generator's arguments."""
    if int(cfg.num_samples) < 100:
        raise ConfigError(
            f"data.num_samples={cfg.num_samples} is too small for MNIST-1D",
            "use data.num_samples=100 or more (the paper uses 5000)",
        )
    key = {
        "num_samples": int(cfg.num_samples),
        "train_split": float(cfg.train_split),
        "seed": int(cfg.generator_seed),
    }
    digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    cache = Path(data_dir) / f"mnist1d-{digest}.npz"
    arrays = None
    if cache.exists():
        try:
            with np.load(cache) as stored:
                arrays = {k: stored[k] for k in ("x", "y", "x_test", "y_test")}
        except (OSError, ValueError, KeyError):
            arrays = None  # a damaged cache is rebuilt, not trusted
    if arrays is None:
        arrays = _generate(**key)
        import io

        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        atomic_write_bytes(cache, buffer.getvalue())
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
