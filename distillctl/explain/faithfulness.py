"""How good is each model's explanation, whatever the teacher says: faithfulness, sanity,
complexity. All batched in torch on the model's device; one value per input.

- deletion / insertion AUC (Petsiuk et al. 2018): remove (or insert, starting from the
  baseline) features most-relevant first in `steps` equal chunks, and take the area under the
  target-class probability curve. A faithful map drops the probability fast (low deletion
  AUC) and brings it back fast (high insertion AUC). The raw AUC favours an unconfident model
  (its curve starts low), so each is also given against the same curve for a random feature
  order, in units of the model's own p(target | x): `deletion_vs_random` = (random deletion
  AUC - deletion AUC) / p, `insertion_vs_random` = (insertion AUC - random insertion AUC) / p;
  above 0 is better than removing features at random.
- faithfulness correlation (Bhatt et al. 2020): for `subsets` random feature subsets of a
  fixed size, the Pearson correlation between the attributions' sum over the subset and the
  drop in the target logit when the subset is set to the baseline.
- sparseness (Chalasani et al. 2020): the Gini index of |attributions|; 1 = one feature holds
  everything, 0 = spread evenly.
- parameter randomisation (Adebayo et al. 2018): Spearman correlation of |attributions| of the
  trained model and of the same architecture with re-initialised weights; an explanation that
  depends on what the model learnt falls far below 1. On |maps| this mostly measures the
  input's imprint for gradient-times-input methods, so it is given signed as well, and beside
  `model_free_spearman`: the |attributions| against |x - mean background|, a map with no
  model at all (a randomisation figure near it says little about the model).
- completeness (for explainers whose maps should sum to f(x) - f(reference): IG and DeepLift
  to their baseline, the expected-gradients family to the background's mean output): the gap
  |sum(attributions) - (f(x) - f(reference))| on the target logit, relative to |f(x) -
  f(reference)|.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from distillctl.explain import baseline
from distillctl.explain.agreement import spearman
from distillctl.explain.randomness import seeded
from distillctl.inputs import kind_of


def _flat(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(len(x), -1)


@torch.no_grad()
def _target_outputs(
    model: nn.Module, rows: torch.Tensor, targets: torch.Tensor, prob: bool, batch: int
) -> torch.Tensor:
    """The model's target-class probability (or logit) for rows (N, R, *shape) -> (N, R)."""
    n, r = rows.shape[:2]
    flat = rows.reshape(n * r, *rows.shape[2:])
    outs = torch.cat([model(flat[i : i + batch]) for i in range(0, len(flat), batch)])
    outs = outs.softmax(-1) if prob else outs
    return outs.reshape(n, r, -1).gather(2, targets.view(n, 1, 1).expand(n, r, 1)).squeeze(2)


def random_order(like: torch.Tensor, seed: int) -> torch.Tensor:
    """A random feature order per input (seeded), as (N, features) indices."""
    gen = torch.Generator(device="cpu").manual_seed(seed)
    flat = _flat(like)
    return torch.rand(flat.shape, generator=gen).argsort(dim=1).to(flat.device)


def deletion_insertion(
    model: nn.Module,
    inputs: torch.Tensor,
    attributions: torch.Tensor,
    targets: torch.Tensor,
    baseline: torch.Tensor,
    steps: int = 32,
    batch: int = 4096,
    order: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-input (deletion AUC, insertion AUC) of the target probability, in [0, 1], removing
    features in the attributions' order (most relevant first), or in `order` if given."""
    x, base = _flat(inputs), _flat(baseline.expand_as(inputs))
    n, d = x.shape
    if order is None:
        order = _flat(attributions).argsort(dim=1, descending=True)  # most relevant first
    position = torch.empty_like(order)
    position.scatter_(1, order, torch.arange(d, device=x.device).expand(n, d))
    counts = torch.linspace(0, d, steps + 1, device=x.device).round().long()
    # removed[i, s, f]: feature f of input i is among the first counts[s] most relevant
    removed = position[:, None, :] < counts[None, :, None]
    deleted = torch.where(removed, base[:, None], x[:, None])
    inserted = torch.where(removed, x[:, None], base[:, None])
    shape = (n, steps + 1, *inputs.shape[1:])
    curve_del = _target_outputs(model, deleted.reshape(shape), targets, True, batch)
    curve_ins = _target_outputs(model, inserted.reshape(shape), targets, True, batch)
    return torch.trapezoid(curve_del, dx=1.0 / steps), torch.trapezoid(curve_ins, dx=1.0 / steps)


def faithfulness_correlation(
    model: nn.Module,
    inputs: torch.Tensor,
    attributions: torch.Tensor,
    targets: torch.Tensor,
    baseline: torch.Tensor,
    subsets: int = 64,
    subset_fraction: float = 0.1,
    seed: int = 0,
    batch: int = 4096,
) -> torch.Tensor:
    """Per-input Pearson correlation of sum(attributions over S) with the logit drop."""
    x, base, attr = _flat(inputs), _flat(baseline.expand_as(inputs)), _flat(attributions)
    n, d = x.shape
    size = max(1, round(subset_fraction * d))
    gen = torch.Generator(device="cpu").manual_seed(seed)
    scores = torch.rand(n, subsets, d, generator=gen).to(x.device)
    chosen = scores.argsort(dim=2)[:, :, :size]  # a random subset of `size` features
    mask = torch.zeros(n, subsets, d, dtype=torch.bool, device=x.device)
    mask.scatter_(2, chosen, True)
    perturbed = torch.where(mask, base[:, None], x[:, None]).reshape(n, subsets, *inputs.shape[1:])
    original = _target_outputs(model, inputs[:, None], targets, False, batch)
    drop = original - _target_outputs(model, perturbed, targets, False, batch)
    summed = (attr[:, None, :] * mask).sum(2)
    return _pearson(summed, drop)


def _pearson(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    a = a - a.mean(1, keepdim=True)
    b = b - b.mean(1, keepdim=True)
    denominator = a.norm(dim=1) * b.norm(dim=1)
    return torch.where(denominator > 0, (a * b).sum(1) / denominator.clamp_min(1e-12), 0.0)


def sparseness(attributions: torch.Tensor) -> torch.Tensor:
    """Per-input Gini index of |attributions| (0 when all are zero)."""
    a = _flat(attributions).abs().sort(dim=1).values
    d = a.shape[1]
    i = torch.arange(1, d + 1, device=a.device, dtype=a.dtype)
    total = a.sum(1)
    gini = ((2 * i - d - 1) * a).sum(1) / (d * total.clamp_min(1e-12))
    return torch.where(total > 0, gini, 0.0)


def randomised_copy(model: nn.Module, seed: int = 0) -> nn.Module:
    """The same architecture with every layer's weights re-initialised (BN statistics too)."""
    clone = copy.deepcopy(model)
    with seeded(seed):  # reset_parameters draws from torch's global generator
        for module in clone.modules():
            _reinitialise(module)
    return clone.eval()


def _reinitialise(module: nn.Module) -> None:
    """A module's own weights drawn afresh and its BatchNorm statistics reset, if it has them.

    A module that holds parameters but has no `reset_parameters` (a bare nn.Parameter: a
    position embedding, a layer scale, a user's module) gets them drawn from N(0, s^2), s the
    trained tensor's standard deviation (0.02 where it has none): no parameter keeps its trained
    values, or the sanity check would compare a model with itself."""
    if hasattr(module, "reset_parameters"):
        module.reset_parameters()
    else:
        with torch.no_grad():
            for param in module.parameters(recurse=False):
                spread = float(param.std()) if param.numel() > 1 else 0.0
                param.normal_(0.0, spread if spread > 0 else 0.02)
    if hasattr(module, "reset_running_stats"):
        module.reset_running_stats()


def parameter_layers(model: nn.Module) -> list[str]:
    """Names of the modules that hold their own parameters, in registration (forward) order."""
    return [
        name
        for name, module in model.named_modules()
        if name and any(True for _ in module.parameters(recurse=False))
    ]


def cascading_copies(model: nn.Module, seed: int = 0):
    """Adebayo et al. (2018)'s cascading randomisation: copies of the model with its
    parameterised layers re-initialised cumulatively from the top (output) down, as
    (name of the deepest layer randomised so far, copy)."""
    clone = copy.deepcopy(model).eval()
    for depth, name in enumerate(reversed(parameter_layers(model))):
        with seeded(seed + depth):
            _reinitialise(clone.get_submodule(name))
        yield name, copy.deepcopy(clone)


def cascading_randomisation(
    attributions: torch.Tensor, model: nn.Module, explain, seed: int = 0
) -> list[dict]:
    """Per cascading step: the layer reached and the mean Spearman of the maps with the
    trained model's, on |maps| and signed. A sane explanation falls as layers go."""
    steps = []
    for name, randomised in cascading_copies(model, seed):
        maps = explain(randomised).to(attributions)
        steps.append(
            {
                "layer": name,
                "spearman_abs": _nanmean(randomisation_similarity(attributions, maps)),
                "spearman_signed": _nanmean(randomisation_similarity(attributions, maps, False)),
            }
        )
    return steps


def _nanmean(values: list[float]) -> float:
    kept = [v for v in values if v == v]
    return sum(kept) / len(kept) if kept else float("nan")


def randomisation_similarity(
    original: torch.Tensor, randomised: torch.Tensor, absolute: bool = True
) -> list[float]:
    """Per-input Spearman correlation of the maps (|maps| by default) of two models."""
    a = _flat(original).double().cpu()
    b = _flat(randomised).double().cpu()
    if absolute:
        a, b = a.abs(), b.abs()
    return [spearman(x, y) for x, y in zip(a.numpy(), b.numpy())]


def model_free_map(inputs: torch.Tensor, background: torch.Tensor) -> torch.Tensor:
    """How unusual each feature of the input is, with no model, as the inputs' kind says
    (|x - mean(background)|; a text's tokens: their inverse document frequency)."""
    return kind_of(inputs).model_free(inputs, background)


@torch.no_grad()
def completeness_gap(
    model: nn.Module,
    inputs: torch.Tensor,
    attributions: torch.Tensor,
    targets: torch.Tensor,
    reference: torch.Tensor,
) -> torch.Tensor:
    """Per input |sum(attributions) - (f_t(x) - f_t(reference))| / |f_t(x) - f_t(reference)|,
    with f_t the target logit and f_t(reference) its mean over the reference rows: shared rows
    (R, *shape), or each input's own (N, R, *shape) (a text's baseline keeps its [CLS] and
    [SEP])."""
    out = model(inputs).gather(1, targets.view(-1, 1)).squeeze(1)
    if reference.dim() == inputs.dim() + 1:  # each input's own reference rows
        n, r = reference.shape[:2]
        logits = model(reference.reshape(n * r, *reference.shape[2:])).reshape(n, r, -1)
        ref = logits.gather(2, targets.view(n, 1, 1).expand(n, r, 1)).squeeze(2).mean(1)
    else:
        ref = model(reference)[:, targets].mean(0)  # (N,): each input's target, over refs
    expected = out - ref
    gap = (_flat(attributions).sum(1) - expected).abs()
    return gap / expected.abs().clamp_min(1e-6)


QUALITY = (
    "deletion_auc",
    "insertion_auc",
    "p_target",
    "deletion_vs_random",
    "insertion_vs_random",
    "faithfulness_corr",
    "sparseness",
    "randomisation_spearman",
    "randomisation_spearman_signed",
    "model_free_spearman",
    "completeness_gap",
)


def explanation_quality(
    model: nn.Module,
    inputs: torch.Tensor,
    attributions: torch.Tensor,
    targets: torch.Tensor,
    background: torch.Tensor,
    cfg,
    explain_randomised,
    completeness_reference: torch.Tensor | None = None,
    seed: int = 0,
) -> dict[str, list[float]]:
    """Every per-input quality figure of one model's attributions. `cfg` is explain.quality;
    `explain_randomised(model)` explains a randomised copy (the sanity check's second run);
    `completeness_reference`: the inputs the explainer's maps should sum from, if it has
    them; `seed`: the random deletion order's."""
    reference = baseline(cfg.baseline, inputs, background, "explain.quality.baseline")
    deletion, insertion = deletion_insertion(
        model, inputs, attributions, targets, reference, int(cfg.steps)
    )
    random_del, random_ins = deletion_insertion(
        model,
        inputs,
        attributions,
        targets,
        reference,
        int(cfg.steps),
        order=random_order(inputs, seed),
    )
    p = _target_outputs(model, inputs[:, None], targets, True, 4096)[:, 0].clamp_min(1e-12)
    correlation = faithfulness_correlation(
        model,
        inputs,
        attributions,
        targets,
        reference,
        int(cfg.subsets),
        float(cfg.subset_fraction),
    )
    rows = {
        "deletion_auc": deletion.tolist(),
        "insertion_auc": insertion.tolist(),
        "p_target": p.tolist(),
        "deletion_vs_random": ((random_del - deletion) / p).tolist(),
        "insertion_vs_random": ((insertion - random_ins) / p).tolist(),
        "faithfulness_corr": correlation.tolist(),
        "sparseness": sparseness(attributions).tolist(),
    }
    if cfg.sanity:
        randomised = explain_randomised(randomised_copy(model)).to(attributions)
        rows["randomisation_spearman"] = randomisation_similarity(attributions, randomised)
        rows["randomisation_spearman_signed"] = randomisation_similarity(
            attributions, randomised, absolute=False
        )
        rows["model_free_spearman"] = randomisation_similarity(
            attributions, model_free_map(inputs, background)
        )
    if kind_of(inputs).mask(inputs) is not None:  # texts: ERASER's measures too
        from distillctl.explain.eraser import eraser_rows

        rows.update(eraser_rows(model, inputs, attributions, targets, seed))
    if completeness_reference is not None:
        rows["completeness_gap"] = completeness_gap(
            model, inputs, attributions, targets, completeness_reference
        ).tolist()
    return rows
