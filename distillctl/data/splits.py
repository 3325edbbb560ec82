"""Train / validation / test arrays of one data set, and the stratified carving that makes them."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from distillctl.errors import ConfigError


@dataclass
class Splits:
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    # image (C, H, W), signal (C, L) or tabular (F,): decides the pictures in the report
    kind: str
    class_names: list[str] = field(default_factory=list)
    feature_names: list[str] = field(default_factory=list)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.x_train.shape[1:])

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.y_train), "val": len(self.y_val), "test": len(self.y_test)}


def carve(x: np.ndarray, y: np.ndarray, fraction: float, seed: int, what: str):
    """Split off `fraction` of (x, y), stratified by class, reproducibly. Returns (rest, carved)."""
    from sklearn.model_selection import train_test_split

    if not 0.0 < float(fraction) < 1.0:
        raise ConfigError(
            f"data.{what}_fraction={fraction} must be between 0 and 1 (exclusive)",
            f"set data.{what}_fraction to e.g. 0.1",
        )
    x_rest, x_cut, y_rest, y_cut = train_test_split(
        x, y, test_size=float(fraction), random_state=int(seed), stratify=y
    )
    return (x_rest, y_rest), (x_cut, y_cut)


def from_train_test(x_train, y_train, x_test, y_test, cfg, **meta) -> Splits:
    """Splits from a data set that has a test split: validation is carved from train."""
    (x_tr, y_tr), (x_val, y_val) = carve(x_train, y_train, cfg.val_fraction, cfg.split_seed, "val")
    return Splits(
        x_tr.astype(np.float32),
        y_tr.astype(np.int64),
        x_val.astype(np.float32),
        y_val.astype(np.int64),
        np.asarray(x_test, np.float32),
        np.asarray(y_test, np.int64),
        **meta,
    )


def from_pool(x, y, cfg, **meta) -> Splits:
    """Splits from a data set without any: test, then validation, carved with data.split_seed."""
    (x_rest, y_rest), (x_test, y_test) = carve(x, y, cfg.test_fraction, cfg.split_seed, "test")
    return from_train_test(x_rest, y_rest, x_test, y_test, cfg, **meta)
