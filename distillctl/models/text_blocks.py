"""What the text networks share: token embeddings, the attention mask read from the ids, masked
pooling, and the stage modules that show per-token states channel-first (B, d, L), as a 1-D
signal's maps are, so taps, FitNets' regressor (a 1x1 convolution: one linear map per token)
and the masked feature losses read them like any other map.

Every text network takes token ids (B, L) and finds its padding itself ([PAD] is id 0), so an
explainer or a faithfulness measure calling `model(ids)` gets padding honoured without a
separate mask argument; a removed token set to [PAD] is gone for the network.
"""

from __future__ import annotations

import torch
from torch import nn

from distillctl.models import ShapeError
from distillctl.models.stages import declare

# the layer whose output is the token embeddings: captum's LayerIntegratedGradients attributes
# to it (explainer=captum_lig)
TOKEN_EMBEDDING = "embed"


def expect_text(arch: str, input_shape: tuple[int, ...], vocab_size) -> tuple[int, int]:
    """(vocabulary size, max length) of text inputs, or one message naming what was given."""
    if len(input_shape) != 1 or vocab_size is None:
        raise ShapeError(
            f"builds for text inputs (token ids), but the data gives shape {tuple(input_shape)}",
            "use it with a text data set (data=planted_text, text_csv, wordnet_glosses), or "
            "choose a network for this data (cnn, cnn1d, mlp, ...)",
        )
    return int(vocab_size), int(input_shape[0])


class ChannelsFirst(nn.Module):
    """(B, L, d) -> (B, d, L): a tap point for per-token states."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.transpose(1, 2)


class MaskedMean(nn.Module):
    """The mean over a text's real tokens of (B, L, d) states -> (B, d)."""

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        weights = mask.to(x.dtype).unsqueeze(-1)
        return (x * weights).sum(1) / weights.sum(1).clamp_min(1.0)


class First(nn.Module):
    """The [CLS] position's state (B, L, d) -> (B, d)."""

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return x[:, 0]


class MaskedMax(nn.Module):
    """Max over time of (B, d, L) maps over the real tokens -> (B, d) (Kim 2014)."""

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        fill = torch.finfo(x.dtype).min
        return x.masked_fill(~mask[:, None, : x.shape[-1]], fill).amax(-1)


POOLS = {"mean": MaskedMean, "cls": First}


def finish(
    model: nn.Module, input_shape, stages: list[str], embedding: str, attention=()
) -> nn.Module:
    """Declare the stages (measured on a full-length text), the token-embedding layer and
    any attention probabilities (the named choice `attention`)."""
    model.token_embedding = TOKEN_EMBEDDING
    model.attention_layers = list(attention)
    model.input_kind = "text"  # its dry runs and example inputs are token ids
    return declare(model, input_shape, stages, embedding=embedding)
