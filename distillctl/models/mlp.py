"""Multi-layer perceptron over the flattened input."""

from __future__ import annotations

import math
from collections import OrderedDict

from torch import nn

from distillctl.models import ANY_FLOAT_KIND, register
from distillctl.models.stages import declare


@register("mlp", kinds=ANY_FLOAT_KIND)
def mlp(input_shape, num_classes: int, hidden=(128,), dropout: float = 0.0) -> nn.Module:
    layers: OrderedDict[str, nn.Module] = OrderedDict(flatten=nn.Flatten())
    width = math.prod(input_shape)
    for i, h in enumerate(hidden, start=1):
        layers[f"fc{i}"] = nn.Linear(width, int(h))
        layers[f"relu{i}"] = nn.ReLU()
        if dropout:
            layers[f"drop{i}"] = nn.Dropout(float(dropout))
        width = int(h)
    layers["head"] = nn.Linear(width, int(num_classes))
    model = nn.Sequential(layers)
    stages = [f"relu{i}" for i in range(1, len(hidden) + 1)] or ["flatten"]
    # the embedding is the last hidden ReLU (before dropout)
    return declare(model, input_shape, stages, embedding=stages[-1])
