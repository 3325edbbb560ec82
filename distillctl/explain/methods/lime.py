"""`captum_lime`: LIME (Ribeiro et al. 2016) in captum: each input's features are grouped
(square patches or SLIC superpixels of an image, windows of a signal, single features of a
table); `n_samples` random subsets of groups are switched to the baseline, the model is
evaluated on each, and a linear surrogate fitted on the on/off vectors (weighted by an
exponential kernel of the cosine distance, width `kernel_width`) gives each group a weight,
spread over the group's features. The surrogate is ordinary least squares (captum's
SkLearnLinearRegression), not captum's default Lasso, so on a model that is linear in the
groups the weights are exact (tests/test_explainers.py: they recover a linear model's
coefficients). Draws are seeded from `explainer.seed`, as every stochastic explainer's.
"""

from __future__ import annotations

import torch
from torch import nn

from distillctl.bounds import POSITIVE, POSITIVE_INT, one_of
from distillctl.errors import ConfigError
from distillctl.explain import baseline, register
from distillctl.explain.methods.captum_explainers import BASELINE, chunked
from distillctl.models import ANY_KIND


def patch_groups(inputs: torch.Tensor, patch: int) -> torch.Tensor:
    """Group ids of one of `inputs`, as their input kind groups features (inputs/): square
    patches (all channels together) of an image, windows of a signal, one feature each for a
    table's columns or a text's tokens."""
    from distillctl.inputs import kind_of

    shape = tuple(inputs.shape[1:])
    return kind_of(inputs).feature_groups(shape, patch)


def slic_groups(x: torch.Tensor, segments: int) -> torch.Tensor:
    """SLIC superpixels (scikit-image) of one image (C, H, W), repeated over its channels."""
    try:
        from skimage.segmentation import slic
    except ImportError:
        raise ConfigError(
            "explainer.segments=slic needs scikit-image", "pip install scikit-image"
        ) from None
    image = x.detach().cpu().permute(1, 2, 0).double().numpy()
    labels = slic(image, n_segments=segments, channel_axis=-1, start_label=0)
    return torch.as_tensor(labels, dtype=torch.long).expand(x.shape).clone()


@register(
    "captum_lime",
    stochastic=True,
    kinds=ANY_KIND,
    n_samples=POSITIVE_INT.eg(200),
    segments=one_of("patches", "slic").eg("patches"),
    patch=POSITIVE_INT.eg(2),
    superpixels=POSITIVE_INT.eg(16),
    kernel_width=POSITIVE.eg(0.75),
    baseline=BASELINE,
    perturbations_per_eval=POSITIVE_INT.eg(64),
)
def lime(model: nn.Module, inputs, targets, background, cfg) -> torch.Tensor:
    from captum._utils.models.linear_model import SkLearnLinearRegression
    from captum.attr import Lime
    from captum.attr._core.lime import get_exp_kernel_similarity_function

    if cfg.segments == "slic" and inputs.dim() != 4:
        raise ConfigError(
            "explainer.segments=slic groups image pixels, but these inputs are not images",
            "use explainer.segments=patches (windows of a signal, single table features)",
        )
    method = Lime(
        model,
        interpretable_model=SkLearnLinearRegression(),
        similarity_func=get_exp_kernel_similarity_function(
            "cosine", kernel_width=float(cfg.kernel_width)
        ),
    )
    shared = patch_groups(inputs, int(cfg.patch)).to(inputs.device)

    def explain(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        # one input (chunked with a seed): its own surrogate (and superpixels) and its own draws
        groups = (
            slic_groups(x[0], int(cfg.superpixels)).to(x.device)
            if cfg.segments == "slic"
            else shared
        )
        return method.attribute(
            x,
            baselines=baseline(cfg.baseline, x, background),
            target=int(t[0]),
            feature_mask=groups[None],
            n_samples=int(cfg.n_samples),
            perturbations_per_eval=int(cfg.perturbations_per_eval),
        )

    return chunked(explain, inputs, targets, 1, seed=int(cfg.seed)).float()
