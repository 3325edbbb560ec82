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
