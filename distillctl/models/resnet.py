"""CIFAR ResNets (He et al. 2016, section 4.2) as the CRD and DKD benchmarks use them:
resnet8/14/20/32/44/56/110 (6n+2 layers, widths 16-16-32-64) and the 4x-wide resnet8x4 and
resnet32x4 (32-64-128-256). Three stages of basic blocks at strides 1, 2, 2; a 1x1 conv + BN
shortcut where the shape changes. Parameter counts with 100 classes match the published ones
(tests/test_zoo.py)."""

from __future__ import annotations

from functools import partial

from torch import nn

from distillctl.models import expect_rank, register
from distillctl.models.blocks import Head, conv_bn, kaiming_init, three_stages
from distillctl.models.stages import declare


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(
            conv_bn(c_in, c_out, 3, stride), conv_bn(c_out, c_out, relu=False)
        )
        self.shortcut = (
            conv_bn(c_in, c_out, 1, stride, relu=False)
            if stride != 1 or c_in != c_out
            else nn.Identity()
        )
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.body(x) + self.shortcut(x))


class CifarResNet(nn.Module):
    def __init__(self, depth: int, widths: tuple[int, ...], in_chans: int, num_classes: int):
        super().__init__()
        if (depth - 2) % 6:
            raise ValueError(f"depth {depth} is not 6n+2")
        n = (depth - 2) // 6
        self.stem = conv_bn(in_chans, widths[0])
        c_in = three_stages(self, BasicBlock, widths[1:], n, widths[0], "layer")
        self.head = Head(c_in, num_classes)
        kaiming_init(self)

    def forward(self, x):
        return self.head(self.layer3(self.layer2(self.layer1(self.stem(x)))))


def _resnet(depth: int, widths: tuple[int, ...], input_shape, num_classes: int) -> nn.Module:
    expect_rank("resnet", input_shape, 3, "image (C, H, W)", "mlp")
    model = CifarResNet(depth, widths, int(input_shape[0]), num_classes)
    return declare(model, input_shape, ["layer1", "layer2", "layer3"], "head.flatten")


NARROW, WIDE = (16, 16, 32, 64), (32, 64, 128, 256)
for _depth in (8, 14, 20, 32, 44, 56, 110):
    register(f"resnet{_depth}")(partial(_resnet, _depth, NARROW))
for _depth in (8, 32):
    register(f"resnet{_depth}x4")(partial(_resnet, _depth, WIDE))
