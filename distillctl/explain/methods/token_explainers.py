"""Explainers of token inputs (texts), where an input is a sequence of ids and a gradient along
the ids means nothing:

- `captum_lig`: integrated gradients on the token embeddings (captum's
  LayerIntegratedGradients; Sundararajan et al. 2017, as applied to BERT in captum's tutorial),
  from the [PAD] text that keeps [CLS] and [SEP], summed over the embedding's dimensions: one
  signed value per token.
- `shap_partition`: SHAP's Partition explainer (Lundberg et al.) with `shap.maskers.Text`
  over the data's own tokenizer, driven by a function from strings to class probabilities:
  the texts are decoded, SHAP masks token spans hierarchically (masked tokens become
  [MASK]), and each of its tokens' values lands on the id at the same position.

Occlusion of single tokens and LIME on tokens are the general explainers (captum_occlusion,
captum_lime), which treat a text's positions as features and a removed token as [PAD].
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from distillctl.bounds import POSITIVE_INT, one_of
from distillctl.errors import ConfigError
from distillctl.explain import baseline, register
from distillctl.explain.methods.captum_explainers import chunked
from distillctl.inputs.text import MASK, real_tokens


def embedding_layer(model: nn.Module) -> nn.Module:
    name = getattr(model, "token_embedding", None)
    if not name:
        raise ConfigError(
            "explainer=captum_lig attributes to a network's token embeddings, but this network "
            "names no embedding layer (model.token_embedding)",
            "use a text network of distillctl (transformer, textcnn, bilstm, bow), or "
            "explainer=captum_occlusion",
        )
    return model.get_submodule(name)


# no completeness figure: the integration path runs through the [PAD] embeddings read with the
# input's own attention mask, whose output is not the network's output on the [PAD] text (which
# it reads with that text's mask), so sum(attributions) = f(x) - f(baseline) does not hold
@register(
    "captum_lig",
    kinds=("text",),
    baseline=one_of("zero").eg("zero"),
    n_steps=POSITIVE_INT.eg(32),
    internal_batch_size=POSITIVE_INT.eg(512),
    batch_size=POSITIVE_INT.eg(32),
)
def layer_integrated_gradients(model: nn.Module, inputs, targets, background, cfg):
    from captum.attr import LayerIntegratedGradients

    method = LayerIntegratedGradients(model, embedding_layer(model))

    def explain(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        attributions = method.attribute(
            x,
            baselines=baseline(cfg.baseline, x, background),
            target=t,
            n_steps=int(cfg.n_steps),
            internal_batch_size=int(cfg.internal_batch_size),
        )
        return attributions.sum(-1) * real_tokens(x)  # per token; padding is nothing

    return chunked(explain, inputs, targets, int(cfg.batch_size)).float()


def _probabilities(model: nn.Module, tokenizer, device: torch.device):
    """strings -> class probabilities (N, C): the function SHAP's Text masker drives."""

    def predict(texts) -> np.ndarray:
        ids = tokenizer.encode([str(t) for t in texts])[0]
        x = torch.from_numpy(ids).to(device)
        with torch.no_grad():
            return model(x).softmax(-1).cpu().numpy()

    return predict


@register(
    "shap_partition",
    kinds=("text",),
    max_evals=POSITIVE_INT.eg(200),
    batch_size=POSITIVE_INT.eg(64),
)
def partition(model: nn.Module, inputs, targets, background, cfg) -> torch.Tensor:
    """SHAP values per token: one Partition explanation per input, of its target class, with
    `max_evals` model evaluations; SHAP's tokens are the data tokenizer's, so its values map
    onto the ids position by position (a token SHAP merged or dropped keeps 0)."""
    import shap

    from distillctl.data.tokens import current

    tokenizer = current()
    masker = shap.maskers.Text(tokenizer, mask_token="[MASK]", collapse_mask_token=False)
    masker.mask_token_id = MASK
    predict = _probabilities(model, tokenizer, inputs.device)
    explainer = shap.explainers.Partition(predict, masker, output_names=None)
    texts = [tokenizer.decode(row) for row in inputs.cpu().tolist()]
    out = torch.zeros(inputs.shape, dtype=torch.float32)
    for row, (text, target) in enumerate(zip(texts, targets.tolist())):
        found = explainer(
            [text], max_evals=int(cfg.max_evals), batch_size=int(cfg.batch_size), silent=True
        )
        values = np.asarray(found.values[0])[:, int(target)]
        ids = tokenizer(text)["input_ids"]
        width = min(len(values), len(ids), inputs.shape[1])
        out[row, :width] = torch.from_numpy(values[:width].astype(np.float32))
    return out.to(inputs.device)
