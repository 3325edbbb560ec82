"""Small texts for tests: a corpus, a tokenizer trained on it (in a test's folder), and token
ids encoded with it."""

from __future__ import annotations

from pathlib import Path

import torch
from omegaconf import OmegaConf

CORPUS = [
    "the cat sat on the mat",
    "a dog ran in the park",
    "cats and dogs play together",
    "the bird sang a song at dawn",
    "rain fell on the quiet town",
    "a child read a book by the fire",
    "the river runs to the sea",
    "stars shine over the dark hills",
] * 4
LENGTH = 12


def tokenizer(folder: Path, vocab_size: int = 80, max_length: int = LENGTH):
    from distillctl.data.tokens import TextTokenizer

    cfg = OmegaConf.create(
        {"tokenizer": "wordpiece", "vocab_size": vocab_size, "max_length": max_length,
         "lowercase": True}
    )  # fmt: skip
    return TextTokenizer.trained(CORPUS, cfg, {"name": "tests", "corpus": len(CORPUS)}, folder)


def ids(tok, n: int, offset: int = 0) -> torch.Tensor:
    """`n` texts of the corpus as padded ids (n, max_length)."""
    texts = [CORPUS[(offset + i) % 8] for i in range(n)]
    return torch.from_numpy(tok.encode(texts)[0])
