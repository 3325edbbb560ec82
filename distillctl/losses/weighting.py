"""How a recipe weighs its terms against each other: `distill.weighting`.

    fixed        each term's configured weight times its schedule (the default)
    uncertainty  Kendall, Gal & Cipolla (CVPR 2018) as LibMTL's weighting/UW.py writes it
    gradnorm     Chen et al. (ICML 2018) as LibMTL's weighting/GradNorm.py writes it

A learned weighting is an nn.Module of the Recipe: its parameters train with the student (the
same optimiser, as in LibMTL, where they are parameters of the model) and its state is saved in
the training checkpoint with the recipe. A term's "task loss" is its value times its
configured, scheduled weight; what a learned weighting adds multiplies that.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from distillctl.registry import Registry

WEIGHTINGS: Registry[type] = Registry("distill.weighting")


class Weighting(nn.Module):
    """Fixed weights: the total is sum(w_i L_i)."""

    # whether combine reads the terms' gradients on the student's parameters (it is then given
    # them; the others are not, so no step collects them for nothing)
    reads_gradients = False

    def __init__(self, terms: int):
        super().__init__()
        self.count = terms

    def combine(
        self,
        values: Sequence[torch.Tensor],
        weights: Sequence[float],
        epoch: int,
        params: Sequence[nn.Parameter] = (),
    ) -> torch.Tensor:
        """The total of the terms' `values` (in recipe order) at 0-based `epoch`; `params`: the
        student's trainable parameters (what gradnorm measures gradients on)."""
        return sum(w * v for w, v in zip(weights, values))

    def factors(self) -> torch.Tensor | None:
        """The learned factor each term's weight is multiplied by, as it stands (None: none)."""
        return None

    @classmethod
    def from_spec(cls, terms: int, spec) -> Weighting:
        """The weighting of `terms` terms, its options read from the DistillSpec `spec`."""
        return cls(terms)


WEIGHTINGS.register("fixed")(Weighting)


@WEIGHTINGS.register("uncertainty")
class Uncertainty(Weighting):
    """A log-variance s per term, initialised to -0.5 (LibMTL's loss_scale); each term counts
    w L / (2 e^s) + s / 2 (w its configured weight and schedule, 1 in LibMTL)."""

    def __init__(self, terms: int):
        super().__init__(terms)
        self.log_variances = nn.Parameter(torch.full((terms,), -0.5))

    def combine(self, values, weights, epoch, params=()):
        s = self.log_variances
        return sum(
            w * v / (2 * s[i].exp()) + s[i] / 2 for i, (w, v) in enumerate(zip(weights, values))
        )

    def factors(self) -> torch.Tensor:
        return 1 / (2 * self.log_variances.detach().exp())


def gradient_norm(loss: torch.Tensor, params: Sequence[nn.Parameter]) -> torch.Tensor:
    """||d loss / d params|| over every parameter (0 where the loss does not reach them), kept
    out of the graph: LibMTL reads the gradients' `.data`."""
    if not loss.requires_grad:
        return loss.new_zeros(())
    grads = torch.autograd.grad(loss, list(params), retain_graph=True, allow_unused=True)
    found = [g.detach().pow(2).sum() for g in grads if g is not None]
    return torch.stack(found).sum().sqrt() if found else loss.new_zeros(())


@WEIGHTINGS.register("gradnorm")
class GradNorm(Weighting):
    """LibMTL's GradNorm, over the student's parameters (its `rep_grad=False`: every shared
    parameter, the student's whole network here).

    Weights: T softmax(loss_scale), loss_scale initialised to ones. Epoch 0 trains with unit
    weights and records each term's mean value L_i(0) (LibMTL's train_loss_buffer[:, 0]). From
    epoch 1: G_i = ||w_i grad(task_i)||, G = mean G_i, r_i = (L_i / L_i(0)) / mean_j(L_j /
    L_j(0)), and loss_scale descends sum_i |G_i - (G r_i^alpha)| (the target detached); the
    student descends sum_i w_i task_i with the weights detached, as LibMTL's
    _backward_new_grads. alpha (`distill.gradnorm_alpha`, LibMTL's default 1.5) is the
    restoring force. The GradNorm objective adds its gradient but not its value to the total
    (metrics.csv's loss stays the weighted sum). Deviation: LibMTL gives task-specific
    parameters their task's unweighted gradient; a recipe's auxiliary modules (a term's
    regressor) get their term's weighted one, like the student.
    """

    reads_gradients = True

    def __init__(self, terms: int, alpha: float = 1.5):
        super().__init__(terms)
        self.alpha = float(alpha)
        self.loss_scale = nn.Parameter(torch.ones(terms))
        self.register_buffer("initial", torch.full((terms,), float("nan")))
        self.register_buffer("sums", torch.zeros(terms))
        self.register_buffer("seen", torch.zeros(()))

    @classmethod
    def from_spec(cls, terms: int, spec) -> GradNorm:
        return cls(terms, spec.gradnorm_alpha)

    def weights(self) -> torch.Tensor:
        return self.count * torch.softmax(self.loss_scale, -1)

    def factors(self) -> torch.Tensor:
        return self.weights().detach()

    def combine(self, values, weights, epoch, params=()):
        tasks = [w * v for w, v in zip(weights, values)]
        raw = torch.stack([torch.as_tensor(v).detach().float().reshape(()) for v in values])
        if epoch < 1:  # LibMTL: unit weights, each term's mean loss of the epoch recorded
            self.sums += raw.to(self.sums)
            self.seen += 1
            return sum(tasks)
        if torch.isnan(self.initial).any():  # the first step after epoch 0
            self.initial.copy_(self.sums / self.seen if self.seen > 0 else raw.to(self.initial))
        scale = self.weights()
        norms = torch.stack([gradient_norm(t, params) for t in tasks]).to(scale)
        per_term = scale * norms
        ratios = raw.to(scale) / self.initial.clamp_min(1e-12)
        rates = ratios / ratios.mean().clamp_min(1e-12)
        target = (per_term.mean() * rates**self.alpha).detach()
        balance = (per_term - target).abs().sum()
        total = sum(scale[i].detach() * t for i, t in enumerate(tasks))
        return total + (balance - balance.detach())  # its gradient, not its value


def build(spec, terms: int) -> Weighting:
    """The weighting `spec.weighting` names (spec: the DistillSpec) over `terms` terms."""
    return WEIGHTINGS.get_or_fail(spec.weighting, "distill.weighting").from_spec(terms, spec)
