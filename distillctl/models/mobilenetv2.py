"""MobileNetV2 (Sandler et al. 2018) in the CIFAR form CRD and DKD distil into: expansion 6,
width multiplier 0.5 ("mobile_half"), a stride-2 3x3 stem, inverted residual blocks
(1x1 expand - 3x3 depthwise - 1x1 linear projection, identity shortcut where shapes agree),
a 1x1 conv to 1280 channels, global average pool, linear classifier."""

from __future__ import annotations

from torch import nn

from distillctl.models import expect_rank, register
from distillctl.models.blocks import Head, conv_bn, kaiming_init
from distillctl.models.stages import declare

# (expansion, channels, blocks, first stride) per stage, before the width multiplier
SETTING = ((1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
           (6, 160, 3, 2), (6, 320, 1, 1))  # fmt: skip


class InvertedResidual(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int, expansion: int):
        super().__init__()
        mid = c_in * expansion
        self.body = nn.Sequential(
            conv_bn(c_in, mid, 1),
            conv_bn(mid, mid, 3, stride, groups=mid),
            conv_bn(mid, c_out, 1, relu=False),
        )
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x):
        return x + self.body(x) if self.residual else self.body(x)


class MobileNetV2(nn.Module):
    def __init__(self, in_chans: int, num_classes: int, width: float = 0.5, expansion: int = 6):
        super().__init__()
        c_in = int(32 * width)
        self.stem = conv_bn(in_chans, c_in, 3, 2)
        for i, (t, c, n, s) in enumerate(SETTING):
            blocks = []
            for b in range(n):
                c_out = int(c * width)
                blocks.append(
                    InvertedResidual(c_in, c_out, s if b == 0 else 1, expansion if t > 1 else 1)
                )
                c_in = c_out
            setattr(self, f"stage{i}", nn.Sequential(*blocks))
        last = int(1280 * width) if width > 1.0 else 1280
        self.conv_last = conv_bn(c_in, last, 1)
        self.head = Head(last, num_classes)
        kaiming_init(self)

    def forward(self, x):
        x = self.stem(x)
        for i in range(len(SETTING)):
            x = getattr(self, f"stage{i}")(x)
        return self.head(self.conv_last(x))


@register("mobilenetv2")
def mobilenetv2(input_shape, num_classes: int, width: float = 0.5, expansion: int = 6):
    expect_rank("mobilenetv2", input_shape, 3, "image (C, H, W)", "mlp")
    model = MobileNetV2(int(input_shape[0]), num_classes, float(width), int(expansion))
    # the reference's feature list: after stages 1, 2, 4 and 6
    return declare(model, input_shape, ["stage1", "stage2", "stage4", "stage6"], "head.flatten")
