"""SHAP's GradientExplainer and DeepExplainer on PyTorch models."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from distillctl.errors import RunError
from distillctl.explain import per_target, register


def single_output(values, like: torch.Tensor) -> torch.Tensor:
    """SHAP's layout, handled once: a list per output (old SHAP) or outputs last (new SHAP).

    Every call here explains one output, so this takes that output's attributions.
    """
    if isinstance(values, list):
        values = values[0]
    values = np.asarray(values)
    if values.ndim == like.ndim + 1:
        values = values[..., 0]
    return torch.as_tensor(values, dtype=like.dtype).reshape(like.shape)


@register("shap_gradient")
def shap_gradient(
    model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, background: torch.Tensor, cfg
) -> torch.Tensor:
    import shap

    def explain_one(output: nn.Module, group: torch.Tensor) -> torch.Tensor:
        explainer = shap.GradientExplainer(output, background, batch_size=int(cfg.batch_size))
        values = explainer.shap_values(group, nsamples=int(cfg.nsamples), rseed=0)
        return single_output(values, group)

    return per_target(model, inputs, targets, explain_one)


@register("shap_deep")
def shap_deep(
    model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, background: torch.Tensor, cfg
) -> torch.Tensor:
    import shap

    def explain_one(output: nn.Module, group: torch.Tensor) -> torch.Tensor:
        try:
            explainer = shap.DeepExplainer(output, background)
            values = explainer.shap_values(group, check_additivity=True)
        except (AssertionError, RuntimeError, NotImplementedError) as exc:
            raise RunError(
                f"SHAP's DeepExplainer cannot explain this model ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0] if str(exc) else 'no message'}); it needs "
                "nn.Module layers without functional activations, in-place ops or reused modules",
                "use explainer=shap_gradient",
            ) from None
        return single_output(values, group)

    return per_target(model, inputs, targets, explain_one)


def numpy_model(model: nn.Module, like: torch.Tensor):
    """The model as SHAP's model-agnostic explainers call it: numpy rows in, logits out."""
    device = like.device

    def predict(rows: np.ndarray) -> np.ndarray:
        x = torch.as_tensor(np.asarray(rows), dtype=like.dtype, device=device)
        with torch.no_grad():
            return model(x.reshape(-1, *like.shape[1:])).cpu().numpy()

    return predict


def for_targets(values, targets: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Each row's attributions for its own target, from SHAP's outputs-last layout."""
    values = np.asarray(values.values if hasattr(values, "values") else values)
    picked = values[np.arange(len(values)), ..., targets.cpu().numpy()]
    return torch.as_tensor(picked, dtype=like.dtype, device=like.device).reshape(like.shape)


@register("shap_kernel")
def shap_kernel(
    model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, background: torch.Tensor, cfg
) -> torch.Tensor:
    """Kernel SHAP (model-agnostic, for tabular data): the background is summarised by
    k-means to `explainer.kmeans` centres; `nsamples` coalitions per input."""
    import shap

    flat_bg = background.reshape(len(background), -1).cpu().numpy()
    distinct = len(np.unique(flat_bg, axis=0))  # k-means needs as many distinct rows as centres
    summary = shap.kmeans(flat_bg, min(int(cfg.kmeans), distinct))
    explainer = shap.KernelExplainer(numpy_model(model, inputs), summary)
    values = explainer.shap_values(
        inputs.reshape(len(inputs), -1).cpu().numpy(), nsamples=int(cfg.nsamples), silent=True
    )
    return for_targets(values, targets, inputs)


@register("shap_permutation")
def shap_permutation(
    model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, background: torch.Tensor, cfg
) -> torch.Tensor:
    """Permutation SHAP with an independent (background) masker; `max_evals` model calls
    per input, `batch_size` rows per model call."""
    import shap

    flat_bg = background.reshape(len(background), -1).cpu().numpy()
    explainer = shap.PermutationExplainer(
        numpy_model(model, inputs), shap.maskers.Independent(flat_bg, max_samples=len(flat_bg))
    )
    values = explainer(
        inputs.reshape(len(inputs), -1).cpu().numpy(),
        max_evals=int(cfg.max_evals),
        batch_size=int(cfg.batch_size),
        silent=True,
    )
    return for_targets(values, targets, inputs)
