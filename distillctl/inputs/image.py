"""Images (C, H, W), pixels scaled to [0, 1] and normalised per channel by the source."""

from distillctl.inputs import InputKind, register

IMAGE = register(
    InputKind(
        name="image",
        rank=3,
        # crop by an eighth of the side (CIFAR's 4 of 32); flip only at 32 pixels and more
        # (photographs; a mirrored digit is another digit)
        views=lambda shape: {"crop": max(1, shape[-1] // 8), "flip": 0.5 if shape[-1] >= 32 else 0},
        drawer="distillctl.report.figures:image_maps",
        tree_filter="distillctl.report.tree:image_filter",
        tree_caption="its filter w_i as an image (channel mean; red pixels push right)",
    )
)
