"""`textcnn`: Kim (2014), "Convolutional Neural Networks for Sentence Classification":
token embeddings, parallel 1-D convolutions of widths `kernels` with `filters` maps each
(ReLU, length kept), max over each text's real tokens, dropout, a linear classifier. Each
width's maps (`convs.<i>.act`, (filters, L)) are feature stages; the concatenated max is the
embedding.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from distillctl.bounds import HALF_OPEN_UNIT, POSITIVE_INT
from distillctl.inputs.text import real_tokens
from distillctl.models import register
from distillctl.models.text_blocks import (
    TOKEN_EMBEDDING,
    MaskedMax,
    expect_text,
    finish,
)


class Concat(nn.Module):
    """The pooled maps of every width, side by side: the embedding's tap point."""

    def forward(self, *parts: torch.Tensor) -> torch.Tensor:
        return torch.cat(parts, dim=1)


class TextCNN(nn.Module):
    def __init__(self, vocab, classes, embed_dim, kernels, filters, dropout):
        super().__init__()
        setattr(self, TOKEN_EMBEDDING, nn.Embedding(vocab, embed_dim, padding_idx=0))
        self.convs = nn.ModuleList(
            nn.Sequential(
                OrderedDict(
                    conv=nn.Conv1d(embed_dim, filters, int(k), padding="same"), act=nn.ReLU()
                )
            )
            for k in kernels
        )
        self.pools = nn.ModuleList(MaskedMax() for _ in kernels)
        self.features = Concat()
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(filters * len(kernels), classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        mask = real_tokens(ids)
        x = self.embed(ids).transpose(1, 2)  # (B, d, L)
        pooled = [pool(conv(x), mask) for conv, pool in zip(self.convs, self.pools)]
        return self.head(self.drop(self.features(*pooled)))


@register(
    "textcnn",
    kinds=("text",),
    options=(
        ("embed_dim", POSITIVE_INT, "128"),
        ("filters", POSITIVE_INT, "100"),
        ("dropout", HALF_OPEN_UNIT, "0.5"),
    ),
)
def textcnn(
    input_shape,
    num_classes: int,
    vocab_size=None,
    embed_dim: int = 128,
    kernels=(3, 4, 5),
    filters: int = 100,
    dropout: float = 0.5,
) -> nn.Module:
    vocab, _ = expect_text("textcnn", input_shape, vocab_size)
    model = TextCNN(
        vocab, int(num_classes), int(embed_dim), [int(k) for k in kernels], int(filters),
        float(dropout),
    )  # fmt: skip
    stages = [f"convs.{i}.act" for i in range(len(kernels))]
    return finish(model, input_shape, stages, embedding="features")
