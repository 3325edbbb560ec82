"""Differentiable explanations for the explanation-guided terms (e2kd, saliency_match).

Both are computed with torch.autograd.grad on the training step's own forward pass, so with
`create_graph=True` the student's explanation is itself differentiable and trains.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def class_score(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Sum over the batch of each sample's `target` logit (its gradient is per sample)."""
    return logits.gather(1, target[:, None]).sum()


def grad_cam(
    logits: torch.Tensor, activation: torch.Tensor, target: torch.Tensor, create_graph: bool
) -> torch.Tensor:
    """Grad-CAM (Selvaraju et al. 2017): ReLU(sum_c mean(d score / d A_c) * A_c), (N, *spatial)."""
    (grads,) = torch.autograd.grad(
        class_score(logits, target), activation, create_graph=create_graph, retain_graph=True
    )
    weights = grads.mean(dim=tuple(range(2, grads.dim())), keepdim=True)
    return F.relu((weights * activation).sum(1))


def input_gradient(
    logits: torch.Tensor, x: torch.Tensor, target: torch.Tensor, create_graph: bool
) -> torch.Tensor:
    """d logit_target / d x, per sample (Simonyan et al. 2014's saliency before the abs)."""
    (grads,) = torch.autograd.grad(
        class_score(logits, target), x, create_graph=create_graph, retain_graph=True
    )
    return grads
