"""Wide ResNets (Zagoruyko & Komodakis 2016) for CIFAR: wrn_<depth>_<k>, depth 6n+4, widths
16-16k-32k-64k, pre-activation blocks (BN-ReLU-conv twice), a 1x1 conv shortcut on the
activated input where the width or stride changes, BN-ReLU before the pool. As in CRD/DKD:
wrn_16_1, wrn_16_2, wrn_40_1, wrn_40_2."""

from __future__ import annotations

from functools import partial

from torch import nn

from distillctl.models import expect_rank, register
from distillctl.models.blocks import Head, kaiming_init, three_stages
from distillctl.models.stages import declare


class PreActBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.pre = nn.Sequential(nn.BatchNorm2d(c_in), nn.ReLU())
        self.body = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(),
            nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False),
        )
        # where the shape changes the shortcut sees the activated input, else the raw one
        self.project = c_in != c_out
        self.shortcut = nn.Conv2d(c_in, c_out, 1, stride, bias=False) if self.project else None

    def forward(self, x):
        activated = self.pre(x)
        residual = self.shortcut(activated) if self.project else x
        return self.body(activated) + residual


class WideResNet(nn.Module):
    def __init__(self, depth: int, k: int, in_chans: int, num_classes: int):
        super().__init__()
        n = (depth - 4) // 6
        widths = (16, 16 * k, 32 * k, 64 * k)
        self.stem = nn.Conv2d(in_chans, widths[0], 3, 1, 1, bias=False)
        c_in = three_stages(self, PreActBlock, widths[1:], n, widths[0], "block")
        self.post = nn.Sequential(nn.BatchNorm2d(c_in), nn.ReLU())
        self.head = Head(c_in, num_classes)
        kaiming_init(self)

    def forward(self, x):
        return self.head(self.post(self.block3(self.block2(self.block1(self.stem(x))))))


def _wrn(depth: int, k: int, input_shape, num_classes: int) -> nn.Module:
    expect_rank("wrn", input_shape, 3, "image (C, H, W)", "mlp")
    model = WideResNet(depth, k, int(input_shape[0]), num_classes)
    return declare(model, input_shape, ["block1", "block2", "block3"], "head.flatten")


for _depth, _k in ((16, 1), (16, 2), (40, 1), (40, 2)):
    register(f"wrn_{_depth}_{_k}")(partial(_wrn, _depth, _k))
