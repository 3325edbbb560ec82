"""Layers the CIFAR zoo shares, each a module (no functional activations, no in-place ops, no
module used twice) so SHAP's DeepExplainer and captum's DeepLift can walk every model."""

from __future__ import annotations

from torch import nn


def conv_bn(
    c_in: int, c_out: int, kernel: int = 3, stride: int = 1, groups=1, relu=True, bias=False
):
    """Conv -> BatchNorm [-> ReLU]."""
    layers = [
        nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=bias),
        nn.BatchNorm2d(c_out),
    ]
    if relu:
        layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def three_stages(model: nn.Module, block, widths, n: int, c_in: int, prefix: str) -> int:
    """The CIFAR ResNet/WRN body: `<prefix>1..3` of `n` blocks each at strides 1, 2, 2 (the
    first block of a stage changes width and stride). Returns the output width."""
    for i, (width, stride) in enumerate(zip(widths, (1, 2, 2)), start=1):
        blocks = []
        for b in range(n):
            blocks.append(block(c_in, width, stride if b == 0 else 1))
            c_in = width
        setattr(model, f"{prefix}{i}", nn.Sequential(*blocks))
    return c_in


class Head(nn.Sequential):
    """Global average pool -> flatten (the embedding, named `flatten`) -> linear classifier."""

    def __init__(self, width: int, num_classes: int):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(width, int(num_classes))


class ChannelShuffle(nn.Module):
    """ShuffleNet's channel shuffle: (N, g*c, H, W) -> interleave the g groups."""

    def __init__(self, groups: int):
        super().__init__()
        self.groups = groups

    def forward(self, x):
        n, c, h, w = x.shape
        g = self.groups
        return x.view(n, g, c // g, h, w).transpose(1, 2).reshape(n, c, h, w)


def kaiming_init(model: nn.Module) -> nn.Module:
    """He initialisation for convolutions, BatchNorm to identity (as the CRD/DKD code bases)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return model
