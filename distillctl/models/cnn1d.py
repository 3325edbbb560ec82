"""A 1-D CNN for signals (C, L): strided conv-BN-ReLU blocks, then a linear head.

The MNIST-1D paper's CNN is three strided convolutions and a linear layer (94% test accuracy).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from distillctl.models import expect_rank, register
from distillctl.models.stages import declare


@register("cnn1d", kinds=("signal",))
def cnn1d(
    input_shape, num_classes: int, channels=(32, 32, 32), kernel_size: int = 5, dropout: float = 0.0
) -> nn.Module:
    expect_rank("cnn1d", input_shape, 2, "1-D signal (C, L)", "mlp")
    blocks: OrderedDict[str, nn.Module] = OrderedDict()
    in_ch, k = input_shape[0], int(kernel_size)
    for i, ch in enumerate(channels, start=1):
        blocks[f"block{i}"] = nn.Sequential(
            nn.Conv1d(in_ch, int(ch), k, stride=2, padding=k // 2, bias=False),
            nn.BatchNorm1d(int(ch)),
            nn.ReLU(),
        )
        in_ch = int(ch)
    features = nn.Sequential(blocks)
    with torch.no_grad():
        flat = features(torch.zeros(2, *input_shape))[0].numel()  # 2: BatchNorm in train mode
    head = [nn.Flatten()]
    if dropout:
        head.append(nn.Dropout(float(dropout)))
    head.append(nn.Linear(flat, int(num_classes)))
    model = nn.Sequential(OrderedDict(features=features, head=nn.Sequential(*head)))
    # the embedding is the flattened features the Linear reads (before dropout)
    return declare(model, input_shape, [f"features.{name}" for name in blocks], "head.0")
