"""scikit-learn's bundled data sets: offline, no download."""

from __future__ import annotations

import numpy as np

from distillctl.data import register
from distillctl.data.splits import Splits, from_pool

# a set without official splits: test, then validation, carved with split_seed
POOL_KEYS = ("test_fraction", "val_fraction", "split_seed")


@register("digits", identity=POOL_KEYS, kind="image")
def digits(cfg, data_dir: str) -> Splits:
    """8x8 grey digit images scaled to [0, 1], as (1, 8, 8) images."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.images / 16.0).astype(np.float32)[:, None, :, :]
    return from_pool(
        x,
        bunch.target,
        cfg,
        num_classes=10,
        kind="image",
        class_names=[str(c) for c in bunch.target_names],
    )


@register("breast_cancer", identity=POOL_KEYS, kind="tabular")
def breast_cancer(cfg, data_dir: str) -> Splits:
    """30 tabular features standardised with the training split's mean and deviation."""
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer()
    splits = from_pool(
        bunch.data.astype(np.float32),
        bunch.target,
        cfg,
        num_classes=2,
        kind="tabular",
        class_names=list(bunch.target_names),
        feature_names=list(bunch.feature_names),
    )
    mean = splits.x_train.mean(axis=0)
    std = splits.x_train.std(axis=0) + 1e-6
    for name in ("x_train", "x_val", "x_test"):
        setattr(splits, name, ((getattr(splits, name) - mean) / std).astype(np.float32))
    return splits
