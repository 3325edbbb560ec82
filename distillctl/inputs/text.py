"""Texts (L,): token ids of one text, padded to the data's max_length with [PAD] (id 0).

Stored as int64 ids, left-aligned: [CLS] tokens... [SEP] [PAD]... A training batch is cut to
its longest text and carries the attention mask (ids != [PAD]); networks read the mask from
the ids themselves, so any caller of `model(ids)` (an explainer, a faithfulness measure) gets
padding honoured too. Removing a token means setting it to [PAD]: every network of this
project then ignores it, as ERASER's deletion does (positions of later tokens are kept).
"""

from __future__ import annotations

from typing import Any

import torch

from distillctl.errors import ConfigError
from distillctl.inputs import InputKind, register, single_features

# the tokenizer's special tokens, in id order (data/tokens.py trains with them first)
SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
PAD, UNK, CLS, SEP, MASK = range(len(SPECIALS))


def real_tokens(ids: torch.Tensor) -> torch.Tensor:
    """The attention mask: True where a position holds a token, not padding."""
    return ids != PAD


def kept_tokens(ids: torch.Tensor) -> torch.Tensor:
    """Positions an explanation's baseline and a removal keep: [CLS] and [SEP]."""
    return (ids == CLS) | (ids == SEP)


def word_tokens(ids: torch.Tensor) -> torch.Tensor:
    """The positions holding a text's words: real tokens that are not [CLS] or [SEP] (what an
    augmentation may change and what ERASER ranks)."""
    return real_tokens(ids) & ~kept_tokens(ids)


def trimmed(ids: torch.Tensor) -> torch.Tensor:
    """The ids cut to the longest text among them (texts are left-aligned)."""
    if ids.numel() == 0:
        return ids
    used = real_tokens(ids).any(0).nonzero()
    length = int(used.max()) + 1 if len(used) else 1
    return ids[:, :length]


class Tokens:
    """The text kind's preparation: ids are the network's inputs as stored; a batch is cut to
    its longest text, and its attention mask is the non-[PAD] positions."""

    def __init__(self, normalise: Any = None):
        self.normalise = None

    def scale(self, x: torch.Tensor) -> torch.Tensor:
        return trimmed(x)

    def standardise(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def inputs(self, x: torch.Tensor) -> torch.Tensor:
        return trimmed(x)

    def mask(self, x: torch.Tensor) -> torch.Tensor:
        return real_tokens(x)


class TextKind(InputKind):
    def example(self, shape: tuple[int, ...], n: int = 2, device: Any = None) -> torch.Tensor:
        """Texts of every position filled ([CLS] then [UNK]s): a dry run measures layers at the
        data's full length, with no padding to pool away."""
        ids = torch.full((n, *shape), UNK, dtype=torch.long, device=device)
        ids[:, 0] = CLS
        return ids

    def baseline(self, how: str, inputs: torch.Tensor, background: torch.Tensor) -> torch.Tensor:
        """Each input's text with every token but [CLS] and [SEP] set to [PAD] (N, L): the
        integrated path starts from no words, and a removed token is a deleted one."""
        if how != "zero":
            raise ConfigError(
                f"baseline={how} has no meaning for token inputs (ids have no mean)",
                "use baseline=zero: the [PAD] text keeping [CLS] and [SEP]",
            )
        return torch.where(kept_tokens(inputs), inputs, torch.full_like(inputs, PAD))

    def mask(self, inputs: torch.Tensor) -> torch.Tensor | None:
        return real_tokens(inputs)

    def model_free(self, inputs: torch.Tensor, background: torch.Tensor) -> torch.Tensor:
        """How unusual each token is with no model: its inverse document frequency among the
        background texts (log((1 + n) / (1 + df)) + 1), 0 on padding."""
        vocab = int(max(inputs.max(), background.max())) + 1
        present = torch.zeros(len(background), vocab, device=inputs.device)
        present.scatter_(1, background.long(), 1.0)
        df = present[:, PAD + 1 :].sum(0)
        idf = torch.cat([df.new_zeros(1), ((1 + len(background)) / (1 + df)).log() + 1])
        return idf[inputs] * real_tokens(inputs)


TEXT = register(
    TextKind(
        name="text",
        rank=1,
        # Tang et al. (2019)'s masking for distillation transfer sets, and token dropout
        views=lambda shape: {"token_mask": 0.1, "token_dropout": 0.1},
        drawer="distillctl.report.tokens:token_maps",
        tree_filter="",
        tree_caption="",
        dtype=torch.long,
        # a perturbation (LIME, occlusion) switches single tokens
        feature_groups=single_features,
        preparation=Tokens,
        baselines=("zero",),
    )
)
