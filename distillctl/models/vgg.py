"""VGG with BatchNorm (Simonyan & Zisserman 2015) for CIFAR as in CRD/DKD: five conv blocks
(vgg8: one conv each; vgg11/13/16/19: configurations A/B/D/E), 2x2 max-pools between the first
four (the fourth only for inputs of 64 pixels or more, as the reference does for 32x32), global
average pool and one linear classifier (no FC layers)."""

from __future__ import annotations

from functools import partial

from torch import nn

from distillctl.models import expect_rank, register
from distillctl.models.blocks import Head, conv_bn, kaiming_init
from distillctl.models.stages import declare

LAYOUTS = {
    8: ((64,), (128,), (256,), (512,), (512,)),
    11: ((64,), (128,), (256, 256), (512, 512), (512, 512)),
    13: ((64, 64), (128, 128), (256, 256), (512, 512), (512, 512)),
    16: ((64, 64), (128, 128), (256,) * 3, (512,) * 3, (512,) * 3),
    19: ((64, 64), (128, 128), (256,) * 4, (512,) * 4, (512,) * 4),
}


class VGG(nn.Module):
    def __init__(self, layout, in_chans: int, num_classes: int, size: int):
        super().__init__()
        c_in = in_chans
        for i, widths in enumerate(layout):
            convs = []
            for width in widths:
                convs.append(conv_bn(c_in, width, bias=True))  # the reference keeps the bias
                c_in = width
            setattr(self, f"block{i}", nn.Sequential(*convs))
            pooled = i < 3 or (i == 3 and size >= 64)
            setattr(self, f"pool{i}", nn.MaxPool2d(2) if pooled else nn.Identity())
        self.head = Head(c_in, num_classes)
        kaiming_init(self)

    def forward(self, x):
        for i in range(4):
            x = getattr(self, f"pool{i}")(getattr(self, f"block{i}")(x))
        return self.head(self.block4(x))


def _vgg(depth: int, input_shape, num_classes: int) -> nn.Module:
    expect_rank("vgg", input_shape, 3, "image (C, H, W)", "mlp")
    if min(input_shape[1:]) < 8:
        from distillctl.models import ShapeError

        raise ShapeError(
            f"needs images of at least 8x8 (three 2x2 pools), got {tuple(input_shape)}",
            "use a smaller network (cnn) or larger images",
        )
    model = VGG(LAYOUTS[depth], int(input_shape[0]), num_classes, int(min(input_shape[1:])))
    stages = ["block1", "block2", "block3", "block4"]
    return declare(model, input_shape, stages, "head.flatten")


for _depth in LAYOUTS:
    register(f"vgg{_depth}")(partial(_vgg, _depth))
