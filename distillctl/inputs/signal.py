"""1-D signals (C, L)."""

from distillctl.inputs import InputKind, register

SIGNAL = register(
    InputKind(
        name="signal",
        rank=2,
        # shift by a tenth of the length, scale and add noise
        views=lambda shape: {"shift": max(1, shape[-1] // 10), "scale": 0.1, "noise": 0.1},
        drawer="distillctl.report.figures:signal_maps",
        tree_filter="distillctl.report.tree:signal_filter",
        tree_caption="its filter w_i along the signal (above 0 pushes right)",
    )
)
