"""`bow`: a fastText-style bag of words (Joulin et al. 2017, "Bag of Tricks for Efficient Text
Classification"): the mean of the token embeddings over each text's real tokens, an optional
ReLU hidden layer (`hidden`, 0 for none), a linear classifier. The token embeddings
(`states`, (d, L)) are a feature stage; the mean (or the hidden layer) is the embedding.
"""

from __future__ import annotations

import torch
from torch import nn

from distillctl.bounds import NON_NEGATIVE_INT, POSITIVE_INT
from distillctl.inputs.text import real_tokens
from distillctl.models import register
from distillctl.models.text_blocks import (
    TOKEN_EMBEDDING,
    ChannelsFirst,
    MaskedMean,
    expect_text,
    finish,
)


class BagOfWords(nn.Module):
    def __init__(self, vocab, classes, embed_dim, hidden):
        super().__init__()
        setattr(self, TOKEN_EMBEDDING, nn.Embedding(vocab, embed_dim, padding_idx=0))
        self.states = ChannelsFirst()
        self.pool = MaskedMean()
        self.hidden = (
            nn.Sequential(nn.Linear(embed_dim, hidden), nn.ReLU()) if hidden else nn.Identity()
        )
        self.head = nn.Linear(hidden or embed_dim, classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.embed(ids)
        self.states(x)  # a tap point: per-token embeddings (B, d, L)
        return self.head(self.hidden(self.pool(x, real_tokens(ids))))


@register(
    "bow",
    kinds=("text",),
    options=(("embed_dim", POSITIVE_INT, "64"), ("hidden", NON_NEGATIVE_INT, "0")),
)
def bow(
    input_shape, num_classes: int, vocab_size=None, embed_dim: int = 64, hidden: int = 0
) -> nn.Module:
    vocab, _ = expect_text("bow", input_shape, vocab_size)
    model = BagOfWords(vocab, int(num_classes), int(embed_dim), int(hidden))
    return finish(model, input_shape, ["states"], embedding="hidden" if hidden else "pool")
