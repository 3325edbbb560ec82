"""Explanations compared word by word (distill.align=words): each model is explained on the
chosen texts as its own tokenizer encodes them, and its token maps are summed into whitespace
words (data/aligned.py) before agreement, drawing and plausibility.

A word counts where every model reached it with at least one token (a shorter max_length
cuts a text's tail for one model only); the words are drawn from a vocabulary of the explained
texts' own words, after the text kind's special tokens, so the token drawer draws them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from distillctl.data.aligned import to_words, whitespace_words
from distillctl.inputs.text import PAD, SPECIALS


@dataclass
class Reading:
    """The chosen texts as one tokenizer reads them."""

    inputs: torch.Tensor  # (N, L) ids, cut to the longest
    background: torch.Tensor  # (R, L') ids
    words: np.ndarray  # (N, L) whitespace word of each token, -1 for specials / padding


def read(tokenizer: Any, texts: list[str], background: list[str]) -> Reading:
    from distillctl.inputs.text import trimmed

    ids = torch.from_numpy(tokenizer.encode(texts)[0])
    bg = torch.from_numpy(tokenizer.encode(background)[0])
    inputs = trimmed(ids)
    return Reading(inputs, trimmed(bg), whitespace_words(tokenizer, texts)[:, : inputs.shape[1]])


class WordSpace:
    """Every model's reading of the same texts, and the words they share."""

    def __init__(self, texts: list[str], readings: dict[str, Reading]):
        self.texts = texts
        self.readings = readings
        self.count = max(1, max(len(t.split()) for t in texts))
        covered = np.ones((len(texts), self.count), bool)
        for reading in readings.values():
            reached = np.zeros_like(covered)
            for row, words in enumerate(reading.words):
                reached[row, words[words >= 0]] = True
            covered &= reached
        self.covered = covered

    def maps(self, name: str, token_maps: np.ndarray) -> np.ndarray:
        """A model's token maps as word maps (N, words), 0 where a word is not shared."""
        return to_words(token_maps, self.readings[name].words, self.count) * self.covered

    def gold(self, name: str, gold_tokens: np.ndarray | None) -> np.ndarray | None:
        """Gold words from one model's gold tokens (the data's rationale is in its tokens)."""
        if gold_tokens is None:
            return None
        marked = to_words(gold_tokens.astype(np.float64), self.readings[name].words, self.count)
        return (marked > 0) & self.covered

    def tokens_of(self, name: str, gold_words: np.ndarray | None) -> torch.Tensor | None:
        """A model's tokens that belong to gold words (its plausibility's target)."""
        if gold_words is None:
            return None
        words = self.readings[name].words
        rows = np.arange(len(words))[:, None]
        return torch.from_numpy((words >= 0) & gold_words[rows, np.clip(words, 0, None)])

    def drawn(self) -> tuple[np.ndarray, list[str]]:
        """(word ids (N, words) with [PAD] where a word is not shared, the words' vocabulary)."""
        vocabulary = list(SPECIALS)
        index: dict[str, int] = {}
        ids = np.full((len(self.texts), self.count), PAD, np.int64)
        for row, text in enumerate(self.texts):
            for w, word in enumerate(text.split()):
                if self.covered[row, w]:
                    ids[row, w] = index.setdefault(word, len(vocabulary) + len(index))
        return ids, vocabulary + list(index)
