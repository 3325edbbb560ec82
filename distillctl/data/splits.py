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
    # images stored as uint8 pixels (0..255) are scaled to [0, 1], then normalised with these
    # per-channel (mean, std) of the training split; None: the arrays are model inputs as they are
    normalise: tuple[list[float], list[float]] | None = None
    # what reading the data found and did (skipped files, imputed values): goes to run.json
    report: dict = field(default_factory=dict)
    # texts: the trained tokenizer's file (data/tokens.py), and the gold rationale where the
    # data has one: per split, which token positions decide the class (N, max_length) bool
    tokenizer: str | None = None
    rationale: dict[str, np.ndarray] = field(default_factory=dict)
    # texts: each split's texts as read (a second tokenizer encodes them: distill.align=words),
    # and whether they are sentence pairs
    texts: dict[str, list[str]] = field(default_factory=dict)
    pairs: bool = False

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.x_train.shape[1:])

    def inputs(self, split: str, index=slice(None)) -> np.ndarray:
        """Model inputs of a split's samples `index` (float32; token ids stay int64, cut to the
        longest text): prepared exactly as the training batches are, by the input kind's
        preparation (images: data/pixels.py)."""
        import torch

        from distillctl.inputs import kind

        x = torch.from_numpy(np.ascontiguousarray(getattr(self, f"x_{split}")[index]))
        prepared = kind(self.kind).preparation(self.normalise).inputs(x)
        if not prepared.is_floating_point():
            return prepared.numpy()
        return prepared.to(torch.float32).numpy()

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
    try:
        x_rest, x_cut, y_rest, y_cut = train_test_split(
            x, y, test_size=float(fraction), random_state=int(seed), stratify=y
        )
    except ValueError as exc:  # too few samples (or of one class) to stratify
        classes = len(np.unique(y))
        raise ConfigError(
            f"data.{what}_fraction={fraction} of {len(y)} samples cannot hold every one of the "
            f"{classes} classes on both sides ({exc})",
            f"use more data (at least 2 samples per class and fraction x {len(y)} >= {classes}),"
            f" or a larger data.{what}_fraction",
        ) from None
    return (x_rest, y_rest), (x_cut, y_cut)


def _stored(x) -> np.ndarray:
    """Pixels stay uint8 (4x smaller, scaled on the device); everything else is float32."""
    x = np.asarray(x)
    return x if x.dtype == np.uint8 else x.astype(np.float32)


def subset(x, y, size, seed: int):
    """A stratified subset of `size` samples (the first classes get the remainder), or all."""
    if size is None or int(size) >= len(y):
        return x, y
    if int(size) < len(np.unique(y)):
        raise ConfigError(
            f"data.subset={size} is smaller than the number of classes ({len(np.unique(y))})",
            "set data.subset to at least one sample per class, or null for all",
        )
    from sklearn.model_selection import train_test_split

    _, x_cut, _, y_cut = train_test_split(
        x, y, test_size=int(size), random_state=int(seed), stratify=y
    )
    return x_cut, y_cut


def from_train_test(x_train, y_train, x_test, y_test, cfg, **meta) -> Splits:
    """Splits from a data set that has a test split: validation is carved from train, then
    `data.subset` (when the config has one) keeps that many training samples."""
    (x_tr, y_tr), (x_val, y_val) = carve(x_train, y_train, cfg.val_fraction, cfg.split_seed, "val")
    x_tr, y_tr = subset(x_tr, y_tr, cfg.get("subset"), int(cfg.split_seed))
    return Splits(
        _stored(x_tr),
        np.asarray(y_tr, np.int64),
        _stored(x_val),
        np.asarray(y_val, np.int64),
        _stored(x_test),
        np.asarray(y_test, np.int64),
        **meta,
    )


def from_pool(x, y, cfg, **meta) -> Splits:
    """Splits from a data set without any: test, then validation, carved with data.split_seed."""
    (x_rest, y_rest), (x_test, y_test) = carve(x, y, cfg.test_fraction, cfg.split_seed, "test")
    return from_train_test(x_rest, y_rest, x_test, y_test, cfg, **meta)
