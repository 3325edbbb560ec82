"""`bilstm`: the student of Tang et al. (2019), "Distilling Task-Specific Knowledge from BERT
into Simple Neural Networks": token embeddings (300), one bidirectional LSTM (300 per
direction) over each text's real tokens (packed, so padding never enters), the two last
hidden states concatenated, a ReLU layer (400), a linear classifier. The per-token outputs
(`states`, (2h, L)) are a feature stage; the ReLU layer's output is the embedding.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from distillctl.bounds import HALF_OPEN_UNIT, POSITIVE_INT
from distillctl.inputs.text import real_tokens
from distillctl.models import register
from distillctl.models.text_blocks import (
    TOKEN_EMBEDDING,
    ChannelsFirst,
    expect_text,
    finish,
)


class BiLSTM(nn.Module):
    def __init__(self, vocab, classes, embed_dim, hidden, fc, dropout):
        super().__init__()
        setattr(self, TOKEN_EMBEDDING, nn.Embedding(vocab, embed_dim, padding_idx=0))
        self.lstm = nn.LSTM(embed_dim, hidden, batch_first=True, bidirectional=True)
        self.states = ChannelsFirst()
        self.fc = nn.Linear(2 * hidden, fc)
        self.relu = nn.ReLU()
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(fc, classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        lengths = real_tokens(ids).sum(1).clamp_min(1).cpu()
        packed = pack_padded_sequence(
            self.embed(ids), lengths, batch_first=True, enforce_sorted=False
        )
        out, (last, _) = self.lstm(packed)
        states, _ = pad_packed_sequence(out, batch_first=True, total_length=ids.shape[1])
        self.states(states)  # a tap point: per-token states (B, 2h, L)
        final = torch.cat([last[0], last[1]], dim=1)  # forward's and backward's last states
        return self.head(self.drop(self.relu(self.fc(final))))


@register(
    "bilstm",
    kinds=("text",),
    options=(
        ("embed_dim", POSITIVE_INT, "300"),
        ("hidden", POSITIVE_INT, "300"),
        ("fc", POSITIVE_INT, "400"),
        ("dropout", HALF_OPEN_UNIT, "0.1"),
    ),
)
def bilstm(
    input_shape,
    num_classes: int,
    vocab_size=None,
    embed_dim: int = 300,
    hidden: int = 300,
    fc: int = 400,
    dropout: float = 0.1,
) -> nn.Module:
    vocab, _ = expect_text("bilstm", input_shape, vocab_size)
    model = BiLSTM(vocab, int(num_classes), int(embed_dim), int(hidden), int(fc), float(dropout))
    return finish(model, input_shape, ["states"], embedding="relu")
