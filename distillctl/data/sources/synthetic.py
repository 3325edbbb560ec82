"""`data=synthetic`: random inputs of any shape and class count, for speed benchmarks.

Images (3-dimensional shapes) are random uint8 pixels, like a real image set on its way to the
device; other shapes are standard-normal floats. Labels are uniform. Nothing to learn.
"""

from __future__ import annotations

import numpy as np

from distillctl.data import register
from distillctl.data.splits import Splits
from distillctl.errors import ConfigError


@register("synthetic", identity=("shape", "num_samples", "num_test", "generator_seed"))
def synthetic(cfg, data_dir: str) -> Splits:
    shape = tuple(int(d) for d in cfg.shape)
    classes = int(cfg.num_classes)
    if not shape or min(shape) < 1:
        raise ConfigError(
            f"data.shape={list(shape)} must be positive sizes", "e.g. data.shape=[3,32,32]"
        )
    rng = np.random.default_rng(int(cfg.generator_seed))
    image = len(shape) == 3

    def draw(n: int):
        x = (
            rng.integers(0, 256, (n, *shape), dtype=np.uint8)
            if image
            else rng.standard_normal((n, *shape), dtype=np.float32)
        )
        return x, rng.integers(0, classes, n).astype(np.int64)

    n, n_test = int(cfg.num_samples), int(cfg.num_test)
    x_train, y_train = draw(n)
    x_val, y_val = draw(max(n_test // 2, 1))
    x_test, y_test = draw(n_test)
    kind = {1: "tabular", 2: "signal", 3: "image"}.get(len(shape), "tabular")
    splits = Splits(
        x_train, y_train, x_val, y_val, x_test, y_test,
        num_classes=classes, kind=kind, class_names=[str(c) for c in range(classes)],
    )  # fmt: skip
    if image:
        splits.normalise = ([0.5] * shape[0], [0.289] * shape[0])  # uniform pixels: mean, std
    return splits
