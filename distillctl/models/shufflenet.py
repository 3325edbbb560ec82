"""ShuffleNet V1 (Zhang et al. 2018; groups 3, widths 240-480-960, 4-8-4 blocks) and V2
(Ma et al. 2018; 1x: widths 116-232-464, 3-7-3 blocks, 1024-channel 1x1 conv before the pool)
in the CIFAR form of CRD and DKD: a 1x1 stem without pooling, stride 2 at each stage's first
block."""

from __future__ import annotations

import torch
from torch import nn

from distillctl.models import expect_rank, register
from distillctl.models.blocks import ChannelShuffle, Head, conv_bn, kaiming_init
from distillctl.models.stages import declare


class V1Unit(nn.Module):
    """1x1 group conv - shuffle - 3x3 depthwise - 1x1 group conv; add (stride 1) or
    concatenate with a 3x3 average-pooled input (stride 2)."""

    def __init__(self, c_in: int, c_out: int, stride: int, groups: int):
        super().__init__()
        mid = c_out // 4
        first = 1 if c_in == 24 else groups  # the stem's 24 channels are not grouped
        self.body = nn.Sequential(
            conv_bn(c_in, mid, 1, groups=first),
            ChannelShuffle(first),
            conv_bn(mid, mid, 3, stride, groups=mid, relu=False),
            nn.ReLU(),
            conv_bn(mid, c_out, 1, groups=groups, relu=False),
        )
        self.concat = stride == 2
        self.shortcut = nn.AvgPool2d(3, 2, 1) if self.concat else nn.Identity()
        self.relu = nn.ReLU()

    def forward(self, x):
        out, res = self.body(x), self.shortcut(x)
        return self.relu(torch.cat([out, res], 1) if self.concat else out + res)


class V2Unit(nn.Module):
    """Channel split: half passes, half goes 1x1 - 3x3 depthwise - 1x1; concatenate, shuffle."""

    def __init__(self, channels: int):
        super().__init__()
        half = channels // 2
        self.half = half
        self.branch = nn.Sequential(
            conv_bn(half, half, 1),
            conv_bn(half, half, 3, groups=half, relu=False),
            conv_bn(half, half, 1),
        )
        self.shuffle = ChannelShuffle(2)

    def forward(self, x):
        return self.shuffle(torch.cat([x[:, : self.half], self.branch(x[:, self.half :])], 1))


class V2Down(nn.Module):
    """Both branches at stride 2: depthwise - 1x1, and 1x1 - depthwise - 1x1; concatenate."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        mid = c_out // 2
        self.left = nn.Sequential(
            conv_bn(c_in, c_in, 3, 2, groups=c_in, relu=False), conv_bn(c_in, mid, 1)
        )
        self.right = nn.Sequential(
            conv_bn(c_in, mid, 1),
            conv_bn(mid, mid, 3, 2, groups=mid, relu=False),
            conv_bn(mid, mid, 1),
        )
        self.shuffle = ChannelShuffle(2)

    def forward(self, x):
        return self.shuffle(torch.cat([self.left(x), self.right(x)], 1))


class ShuffleNet(nn.Module):
    def __init__(
        self, stages: list[nn.Module], stem: nn.Module, tail: nn.Module, width: int, classes: int
    ):
        super().__init__()
        self.stem = stem
        for i, stage in enumerate(stages, start=1):
            setattr(self, f"layer{i}", stage)
        self.tail = tail
        self.head = Head(width, classes)
        kaiming_init(self)

    def forward(self, x):
        return self.head(self.tail(self.layer3(self.layer2(self.layer1(self.stem(x))))))


def _finish(model: nn.Module, input_shape) -> nn.Module:
    return declare(model, input_shape, ["layer1", "layer2", "layer3"], "head.flatten")


@register("shufflenetv1")
def shufflenetv1(input_shape, num_classes: int, groups: int = 3):
    expect_rank("shufflenetv1", input_shape, 3, "image (C, H, W)", "mlp")
    widths = {1: (144, 288, 576), 2: (200, 400, 800), 3: (240, 480, 960), 4: (272, 544, 1088),
              8: (384, 768, 1536)}[int(groups)]  # fmt: skip
    c_in, stages = 24, []
    for width, blocks in zip(widths, (4, 8, 4)):
        units = []
        for b in range(blocks):
            units.append(V1Unit(c_in, width - (c_in if b == 0 else 0), 2 if b == 0 else 1, groups))
            c_in = width
        stages.append(nn.Sequential(*units))
    stem = conv_bn(int(input_shape[0]), 24, 1)
    model = ShuffleNet(stages, stem, nn.Identity(), c_in, num_classes)
    return _finish(model, input_shape)


@register("shufflenetv2")
def shufflenetv2(input_shape, num_classes: int, net_size: float = 1.0):
    expect_rank("shufflenetv2", input_shape, 3, "image (C, H, W)", "mlp")
    sizes = {0.5: (48, 96, 192, 1024), 1.0: (116, 232, 464, 1024), 1.5: (176, 352, 704, 1024),
             2.0: (224, 488, 976, 2048)}  # fmt: skip
    *widths, last = sizes[float(net_size)]
    c_in, stages = 24, []
    for width, blocks in zip(widths, (3, 7, 3)):
        stages.append(nn.Sequential(V2Down(c_in, width), *[V2Unit(width) for _ in range(blocks)]))
        c_in = width
    stem = conv_bn(int(input_shape[0]), 24, 1)
    model = ShuffleNet(stages, stem, conv_bn(c_in, last, 1), last, num_classes)
    return _finish(model, input_shape)
