"""A small 2-D CNN for small images: conv-BN-ReLU-maxpool blocks, then an MLP head."""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from distillctl.models import expect_rank, register
from distillctl.models.stages import declare


@register("cnn")
def cnn(
    input_shape, num_classes: int, channels=(32, 64), hidden: int = 128, dropout: float = 0.0
) -> nn.Module:
    expect_rank("cnn", input_shape, 3, "image (C, H, W)", "mlp")
    blocks: OrderedDict[str, nn.Module] = OrderedDict()
    in_ch, size = input_shape[0], min(input_shape[1:])
    for i, ch in enumerate(channels, start=1):
        block = [
            nn.Conv2d(in_ch, int(ch), 3, padding=1, bias=False),
            nn.BatchNorm2d(int(ch)),
            nn.ReLU(),
        ]
        if size >= 2:  # pool while there is room, so any small image size works
            block.append(nn.MaxPool2d(2))
            size //= 2
        blocks[f"block{i}"] = nn.Sequential(*block)
        in_ch = int(ch)
    features = nn.Sequential(blocks)
    with torch.no_grad():
        flat = features(torch.zeros(2, *input_shape))[0].numel()  # 2: BatchNorm in train mode
    head = [nn.Flatten(), nn.Linear(flat, int(hidden)), nn.ReLU()]
    if dropout:
        head.append(nn.Dropout(float(dropout)))
    head.append(nn.Linear(int(hidden), int(num_classes)))
    model = nn.Sequential(OrderedDict(features=features, head=nn.Sequential(*head)))
    # the embedding is the hidden ReLU: the vector the last Linear reads
    return declare(model, input_shape, [f"features.{name}" for name in blocks], "head.2")
