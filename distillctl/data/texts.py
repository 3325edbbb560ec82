"""From texts and labels to Splits of token ids: what every text source shares.

A source reads its texts (and optional second texts of a pair, a split per text, a gold
rationale as word positions); `text_splits` carves the splits (stratified, `split_seed`) unless
the source gave them, trains the tokenizer on the training texts (data/tokens.py), encodes every
split and says what it found (sizes, length percentiles, truncated texts) for run.json and
`distillctl data info`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from distillctl.data.splits import Splits, carve
from distillctl.errors import RunError
from distillctl.inputs.text import PAD

SPLITS = ("train", "val", "test")
# the identity keys every text source has besides its own
TOKENIZER_KEYS = ("tokenizer", "tokenizer_from", "vocab_size", "max_length", "lowercase")


@dataclass
class Texts:
    """What a text source read: one entry per sample."""

    texts: list[str]
    labels: list[str]
    # the second text of a sentence pair, or None
    pairs: list[str] | None = None
    # train / val / test per sample (a split column), or None: carved
    split: list[str] | None = None
    # the gold rationale: per sample, the positions of its words (whitespace-separated) that
    # decide its class, or None
    rationale: list[list[int]] | None = None
    # where each sample came from, to name in messages ("line 12")
    where: list[str] = field(default_factory=list)


def subsample(found: Texts, size, seed: int) -> Texts:
    """A stratified `size` of the samples (all when null), before the splits are carved (a
    source's own split of each sample goes with it)."""
    if size is None or int(size) >= len(found.texts):
        return found
    from sklearn.model_selection import train_test_split

    labels = np.asarray(found.labels)
    kept_classes = {c for c in set(found.labels) if (labels == c).sum() >= 2}
    rows = np.asarray([i for i, c in enumerate(found.labels) if c in kept_classes])
    _, chosen = train_test_split(
        rows, test_size=int(size), random_state=seed, stratify=labels[rows]
    )
    chosen = np.sort(chosen)

    def pick(values):
        return None if values is None else [values[i] for i in chosen]

    return Texts(
        texts=pick(found.texts),
        labels=pick(found.labels),
        pairs=pick(found.pairs),
        split=pick(found.split),
        rationale=pick(found.rationale),
        where=pick(found.where) if found.where else [],
    )


def check_texts(found: Texts, source: str) -> None:
    for i, text in enumerate(found.texts):
        if not text.strip():
            at = found.where[i] if found.where else f"sample {i}"
            raise RunError(
                f"{source}: the text at {at} is empty", "drop that row or give it a text"
            )
    classes = sorted(set(found.labels))
    if len(classes) < 2:
        raise RunError(
            f"{source}: every sample has the label '{classes[0] if classes else ''}'; a "
            "classifier needs at least two classes",
            "point data.target at the column that holds the classes",
        )


def class_order(labels: Sequence[str]) -> list[str]:
    """Numbers in numeric order, then words in alphabetical order."""

    def key(label: str):
        try:
            return (0, float(label), label)
        except ValueError:
            return (1, 0.0, label)

    return sorted(set(labels), key=key)


def split_rows(found: Texts, y: np.ndarray, cfg: Any) -> dict[str, np.ndarray]:
    rows = np.arange(len(y))
    if found.split is not None:
        named = {s.strip().lower() for s in found.split}
        unknown = named - set(SPLITS) - {"validation", "dev"}
        if unknown:
            raise RunError(
                f"data.split_column holds {sorted(unknown)}; splits are train, val, test",
                "write train, val (or validation / dev) or test in that column",
            )
        alias = {"validation": "val", "dev": "val"}
        given = np.asarray([alias.get(s.strip().lower(), s.strip().lower()) for s in found.split])
        out = {s: rows[given == s] for s in SPLITS}
        for s in ("train", "test"):
            if not len(out[s]):
                raise RunError(f"data.split_column names no {s} rows", f"mark some rows {s}")
        if not len(out["val"]):  # carved from train
            (train, _), (val, _) = carve(
                out["train"], y[out["train"]], cfg.val_fraction, cfg.split_seed, "val"
            )
            out["train"], out["val"] = np.sort(train), np.sort(val)
        return out
    seed = int(cfg.split_seed)
    (rest, y_rest), (test, _) = carve(rows, y, cfg.test_fraction, seed, "test")
    (train, _), (val, _) = carve(rest, y_rest, cfg.val_fraction, seed, "val")
    return {"train": np.sort(train), "val": np.sort(val), "test": np.sort(test)}


def _lengths(ids: np.ndarray) -> dict[str, float]:
    real = (ids != PAD).sum(1)
    return {f"p{q}": float(np.percentile(real, q)) for q in (5, 50, 95)} | {"max": int(real.max())}


def text_splits(found: Texts, cfg: Any, data_dir: str, source: str) -> Splits:
    from distillctl.data import identity
    from distillctl.data.tokens import TextTokenizer

    check_texts(found, source)
    classes = class_order(found.labels)
    index = {c: i for i, c in enumerate(classes)}
    y = np.asarray([index[c] for c in found.labels], np.int64)
    rows = split_rows(found, y, cfg)
    texts = np.asarray(found.texts, dtype=object)
    pairs = None if found.pairs is None else np.asarray(found.pairs, dtype=object)
    tokenizer = TextTokenizer.trained(list(texts[rows["train"]]), cfg, identity(cfg), data_dir)
    ids, words, truncated = tokenizer.encode(list(texts), None if pairs is None else list(pairs))
    rationale = {}
    if found.rationale is not None:
        gold = np.zeros(ids.shape, bool)
        for i, positions in enumerate(found.rationale):
            gold[i] = np.isin(words[i], np.asarray(positions, np.int32)) & (words[i] >= 0)
        rationale = {s: gold[rows[s]] for s in SPLITS}
    report = {
        "texts": len(y),
        "truncated": int(truncated),
        "max_length": int(cfg.max_length),
        "vocab_size": int(tokenizer.tok.get_vocab_size()),
        "tokens_per_text": _lengths(ids),
        "tokenizer": {"file": str(tokenizer.path), "sha256": tokenizer.sha256},
    }
    return Splits(
        *[a for s in SPLITS for a in (ids[rows[s]], y[rows[s]])],
        num_classes=len(classes),
        kind="text",
        class_names=classes,
        report=report,
        tokenizer=str(tokenizer.path),
        rationale=rationale,
        texts={s: list(texts[rows[s]]) for s in SPLITS},
        pairs=pairs is not None,
    )
