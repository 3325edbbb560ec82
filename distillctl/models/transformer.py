"""`transformer`: a BERT-style encoder written here (Devlin et al. 2019; pre-norm blocks as in
Xiong et al. 2020): token + learned position embeddings, `layers` blocks of multi-head self-
attention (padding masked) and a GELU feed-forward, then the [CLS] state (`pooling=cls`) or
the mean over real tokens (`mean`) into a linear classifier. Each block's hidden states
(`blocks.<i>.states`, channel-first) are its feature stages, its attention probabilities
(`blocks.<i>.attn.probs`, (heads, L, L)) the named choice `attention` (e.g.
`loss.fitnet.layers=attention` between two transformers); the pooled vector is the embedding.
"""

from __future__ import annotations

import torch
from torch import nn

from distillctl.bounds import HALF_OPEN_UNIT, POSITIVE_INT, one_of
from distillctl.errors import ConfigError
from distillctl.inputs.text import real_tokens
from distillctl.models import register
from distillctl.models.text_blocks import (
    POOLS,
    TOKEN_EMBEDDING,
    ChannelsFirst,
    expect_text,
    finish,
)


class SelfAttention(nn.Module):
    def __init__(self, d_model: int, heads: int, dropout: float):
        super().__init__()
        self.heads, self.d_head = heads, d_model // heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        # tap points (pass-through): the masked scaled scores QK^T / sqrt(d) (heads, L, L)
        # and the values (heads, L, d_head), read by TinyBERT's and MiniLM's terms
        self.scores = nn.Identity()
        self.values = nn.Identity()
        self.probs = nn.Softmax(dim=-1)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, length, d = x.shape
        q, k, v = self.qkv(x).view(b, length, 3, self.heads, self.d_head).permute(2, 0, 3, 1, 4)
        scores = q @ k.transpose(-1, -2) / self.d_head**0.5
        scores = scores.masked_fill(~mask[:, None, None, :], torch.finfo(scores.dtype).min)
        scores, v = self.scores(scores), self.values(v)
        attended = self.drop(self.probs(scores)) @ v  # (B, heads, L, d_head)
        return self.out(attended.transpose(1, 2).reshape(b, length, d))


class Block(nn.Module):
    def __init__(self, d_model: int, heads: int, ffn: int, dropout: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model)
        self.attn = SelfAttention(d_model, heads, dropout)
        self.drop1 = nn.Dropout(dropout)
        self.norm2 = nn.LayerNorm(d_model)
        self.ffn = nn.Sequential(
            nn.Linear(d_model, ffn), nn.GELU(), nn.Dropout(dropout), nn.Linear(ffn, d_model)
        )
        self.drop2 = nn.Dropout(dropout)
        self.states = ChannelsFirst()

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = x + self.drop1(self.attn(self.norm1(x), mask))
        x = x + self.drop2(self.ffn(self.norm2(x)))
        self.states(x)  # a tap point: per-token states (B, d, L)
        return x


class TextTransformer(nn.Module):
    def __init__(self, vocab, length, classes, layers, d_model, heads, ffn, dropout, pooling):
        super().__init__()
        setattr(self, TOKEN_EMBEDDING, nn.Embedding(vocab, d_model, padding_idx=0))
        self.position = nn.Embedding(length, d_model)
        self.drop = nn.Dropout(dropout)
        self.embedded = ChannelsFirst()  # a tap point: the embedding layer's output (B, d, L)
        self.blocks = nn.ModuleList(Block(d_model, heads, ffn, dropout) for _ in range(layers))
        self.norm = nn.LayerNorm(d_model)
        self.pool = POOLS[pooling]()
        self.head = nn.Linear(d_model, classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        mask = real_tokens(ids)
        positions = torch.arange(ids.shape[1], device=ids.device)
        x = self.drop(self.embed(ids) + self.position(positions)[None])
        self.embedded(x)
        for block in self.blocks:
            x = block(x, mask)
        return self.head(self.pool(self.norm(x), mask))


@register(
    "transformer",
    kinds=("text",),
    options=(
        ("layers", POSITIVE_INT, "2"),
        ("d_model", POSITIVE_INT, "128"),
        ("heads", POSITIVE_INT, "4"),
        ("ffn", POSITIVE_INT, "256"),
        ("dropout", HALF_OPEN_UNIT, "0.1"),
        ("pooling", one_of(*POOLS), "cls"),
    ),
)
def transformer(
    input_shape,
    num_classes: int,
    vocab_size=None,
    layers: int = 2,
    d_model: int = 128,
    heads: int = 4,
    ffn: int = 256,
    dropout: float = 0.1,
    pooling: str = "cls",
) -> nn.Module:
    vocab, length = expect_text("transformer", input_shape, vocab_size)
    if int(d_model) % int(heads):
        raise ConfigError(
            f"transformer d_model={d_model} is not divisible by heads={heads}",
            "choose heads that divide d_model (e.g. d_model=128 heads=4)",
        )
    model = TextTransformer(
        vocab, length, int(num_classes), int(layers), int(d_model), int(heads), int(ffn),
        float(dropout), str(pooling),
    )  # fmt: skip
    stages = [f"blocks.{i}.states" for i in range(int(layers))]
    attention = [f"blocks.{i}.attn.probs" for i in range(int(layers))]
    # what the transformer KD terms read (losses/transformer_taps.py), per block
    model.transformer_taps = {
        "embedding": "embedded",
        "states": stages,
        "scores": [f"blocks.{i}.attn.scores" for i in range(int(layers))],
        "probs": attention,
        "values": [f"blocks.{i}.attn.values" for i in range(int(layers))],
        "heads": int(heads),
    }
    model.blocks_path = "blocks"  # what a student initialised from its teacher copies
    return finish(model, input_shape, stages, embedding="pool", attention=attention)
