"""SHAP's GradientExplainer and DeepExplainer on PyTorch models."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from distillctl.bounds import POSITIVE_INT
from distillctl.errors import ConfigError, RunError
from distillctl.explain import from_background, per_target, register
from distillctl.explain.randomness import import_quietly, input_seed, seeded


def shap_layout(values, like: torch.Tensor, targets: torch.Tensor | None = None) -> torch.Tensor:
    """SHAP's output layout, handled here once. SHAP returns a list with one array per output
    (old SHAP), an array with outputs last (new SHAP), or an Explanation holding either.
    Returns each row's attributions for its target (`targets`), or for the one explained
    output when there is a single one; shaped like `like`."""
    values = values.values if hasattr(values, "values") else values
    if isinstance(values, list):
        values = np.stack([np.asarray(v) for v in values], axis=-1)
    values = np.asarray(values)
    if values.ndim == like.ndim:  # one output, already without its axis
        values = values[..., None]
    values = values.reshape(len(like), -1, values.shape[-1])
    if targets is None:
        picked = values[..., 0]
    else:
        picked = values[np.arange(len(values)), :, targets.cpu().numpy()]
    return torch.as_tensor(picked, dtype=like.dtype, device=like.device).reshape(like.shape)


@register(
    "shap_gradient",
    stochastic=True,
    complete=from_background,
    nsamples=POSITIVE_INT.eg(200),
    batch_size=POSITIVE_INT.eg(100),
)
def shap_gradient(
    model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, background: torch.Tensor, cfg
) -> torch.Tensor:
    shap = import_quietly("shap")

    def explain_one(output: nn.Module, group: torch.Tensor) -> torch.Tensor:
        explainer = shap.GradientExplainer(output, background, batch_size=int(cfg.batch_size))
        maps = []
        for one in group.split(1):  # each input from its own draws: no neighbour moves its map
            rseed = input_seed(int(cfg.seed), one[0])
            with seeded(rseed):  # SHAP reseeds NumPy's global generator with rseed: keep it here
                values = explainer.shap_values(one, nsamples=int(cfg.nsamples), rseed=rseed)
            maps.append(shap_layout(values, one))
        return torch.cat(maps)

    return per_target(model, inputs, targets, explain_one)


@register("shap_deep", complete=from_background)
def shap_deep(
    model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, background: torch.Tensor, cfg
) -> torch.Tensor:
    shap = import_quietly("shap")

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
        return shap_layout(values, group)

    return per_target(model, inputs, targets, explain_one)


def numpy_model(model: nn.Module, like: torch.Tensor):
    """The model as SHAP's model-agnostic explainers call it: numpy rows in, logits out."""
    device = like.device

    def predict(rows: np.ndarray) -> np.ndarray:
        x = torch.as_tensor(np.asarray(rows), dtype=like.dtype, device=device)
        with torch.no_grad():
            return model(x.reshape(-1, *like.shape[1:])).cpu().numpy()

    return predict


@register("shap_kernel", stochastic=True, nsamples=POSITIVE_INT.eg(200), kmeans=POSITIVE_INT.eg(10))
def shap_kernel(
    model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, background: torch.Tensor, cfg
) -> torch.Tensor:
    """Kernel SHAP (model-agnostic, for tabular data): the background is summarised by
    k-means to `explainer.kmeans` centres; `nsamples` coalitions per input."""
    shap = import_quietly("shap")

    flat_bg = background.reshape(len(background), -1).cpu().numpy()
    distinct = len(np.unique(flat_bg, axis=0))  # k-means needs as many distinct rows as centres
    summary = shap.kmeans(flat_bg, min(int(cfg.kmeans), distinct))
    explainer = shap.KernelExplainer(numpy_model(model, inputs), summary)
    return one_row_at_a_time(
        lambda row: explainer.shap_values(row, nsamples=int(cfg.nsamples), silent=True),
        inputs,
        targets,
        int(cfg.seed),
    )


def one_row_at_a_time(explain, inputs: torch.Tensor, targets: torch.Tensor, seed: int):
    """A model-agnostic SHAP explainer (which draws its coalitions or orders from NumPy's
    global generator) called per input, each from its own seeded state: an input's map
    depends on the seed and that input only, never on the other inputs or on what ran before."""
    flat = inputs.reshape(len(inputs), -1)
    rows = flat.cpu().numpy()
    parts = []
    for index in range(len(rows)):
        with seeded(input_seed(seed, inputs[index])):
            values = explain(rows[index : index + 1])
        # laid out against the flat row SHAP saw: a signal's (1, C, L) has as many axes as
        # SHAP's (1, features, outputs) answer, which read as one output before
        picked = shap_layout(values, flat[index : index + 1], targets[index : index + 1])
        parts.append(picked.reshape(inputs[index : index + 1].shape))
    return torch.cat(parts)


@register(
    "shap_permutation",
    stochastic=True,
    max_evals=POSITIVE_INT.eg(500),
    batch_size=POSITIVE_INT.eg(100),
)
def shap_permutation(
    model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, background: torch.Tensor, cfg
) -> torch.Tensor:
    """Permutation SHAP with an independent (background) masker; `max_evals` model calls
    per input, `batch_size` rows per model call."""
    shap = import_quietly("shap")

    flat_bg = background.reshape(len(background), -1).cpu().numpy()
    features = flat_bg.shape[1]
    if int(cfg.max_evals) < 2 * features + 1:  # SHAP's own rule, checked before any work
        raise ConfigError(
            f"explainer.max_evals={cfg.max_evals} is too low for inputs of {features} features: "
            f"the permutation explainer needs at least 2 * {features} + 1 = {2 * features + 1}",
            f"set explainer.max_evals={2 * features + 1} or more, or choose "
            "explainer=captum_gradientshap for inputs this large",
        )
    with seeded(int(cfg.seed)):  # its constructor reseeds NumPy's global generator with seed=
        explainer = shap.PermutationExplainer(
            numpy_model(model, inputs),
            shap.maskers.Independent(flat_bg, max_samples=len(flat_bg)),
            seed=int(cfg.seed),
        )
    return one_row_at_a_time(
        lambda row: explainer(
            row, max_evals=int(cfg.max_evals), batch_size=int(cfg.batch_size), silent=True
        ),
        inputs,
        targets,
        int(cfg.seed),
    )
