"""captum's attribution methods, batched on the model's device with per-input targets.

captum takes a target per input, so no grouping by class is needed; inputs go through in
chunks of `explainer.batch_size` (for IntegratedGradients also `internal_batch_size` for its
path steps). Every function returns attributions shaped like the inputs, as a tensor.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import nullcontext

import torch
import torch.nn.functional as F
from torch import nn

from distillctl.bounds import POSITIVE_INT, one_of
from distillctl.errors import ConfigError, RunError
from distillctl.explain import baseline, from_background, from_baseline, register
from distillctl.explain.randomness import input_seed, seeded
from distillctl.models import ANY_KIND, SPATIAL_KINDS


def chunked(
    explain: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    inputs: torch.Tensor,
    targets: torch.Tensor,
    batch_size: int,
    seed: int | None = None,
) -> torch.Tensor:
    """explain(inputs, targets) over chunks of `batch_size` inputs, concatenated. On a GPU out
    of memory, the chunk halves and the rest goes on at the size that fits. With a `seed`
    (a stochastic explainer: captum draws for a whole call from the global generators), the
    inputs go one at a time, each from its own seeded state (`randomness.input_seed`), so an
    input's map never depends on its neighbours; the caller's random state is left as it was."""
    if seed is not None:
        batch_size = 1
    parts, start = [], 0
    while start < len(inputs):
        chunk = slice(start, start + batch_size)
        try:
            with seeded(input_seed(seed, inputs[start])) if seed is not None else nullcontext():
                parts.append(explain(inputs[chunk], targets[chunk]).detach())
        except torch.cuda.OutOfMemoryError:
            if batch_size == 1:
                raise
            torch.cuda.empty_cache()
            batch_size = max(1, batch_size // 2)
            continue
        start += len(parts[-1])
    return torch.cat(parts)


BASELINE = one_of("zero", "mean").eg("zero")


@register(
    "captum_ig",
    complete=from_baseline,
    n_steps=POSITIVE_INT.eg(32),
    internal_batch_size=POSITIVE_INT.eg(1024),
    baseline=BASELINE,
    batch_size=POSITIVE_INT.eg(100),
)
def integrated_gradients(model: nn.Module, inputs, targets, background, cfg) -> torch.Tensor:
    from captum.attr import IntegratedGradients

    method = IntegratedGradients(model)
    ref = baseline(cfg.baseline, inputs, background)

    def explain(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return method.attribute(
            x,
            baselines=ref.expand_as(x),
            target=t,
            n_steps=int(cfg.n_steps),
            internal_batch_size=int(cfg.internal_batch_size),
        )

    return chunked(explain, inputs, targets, int(cfg.batch_size))


@register("captum_saliency", signed=lambda cfg: not bool(cfg.abs), batch_size=POSITIVE_INT.eg(100))
def saliency(model: nn.Module, inputs, targets, background, cfg) -> torch.Tensor:
    from captum.attr import Saliency

    method = Saliency(model)
    return chunked(
        lambda x, t: method.attribute(x, target=t, abs=bool(cfg.abs)),
        inputs,
        targets,
        int(cfg.batch_size),
    )


@register(
    "captum_deeplift", complete=from_baseline, baseline=BASELINE, batch_size=POSITIVE_INT.eg(100)
)
def deeplift(model: nn.Module, inputs, targets, background, cfg) -> torch.Tensor:
    from captum.attr import DeepLift

    method = DeepLift(model)
    ref = baseline(cfg.baseline, inputs, background)
    try:
        return chunked(
            lambda x, t: method.attribute(x, baselines=ref.expand_as(x), target=t),
            inputs,
            targets,
            int(cfg.batch_size),
        )
    except (AssertionError, RuntimeError, NotImplementedError) as exc:
        raise RunError(
            f"captum's DeepLift cannot explain this model ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else 'no message'}); it needs nn.Module "
            "activations that are not reused or in place",
            "use explainer=captum_ig or explainer=shap_gradient",
        ) from None


@register(
    "captum_gradientshap",
    stochastic=True,
    complete=from_background,
    nsamples=POSITIVE_INT.eg(200),
)
def gradient_shap(model: nn.Module, inputs, targets, background, cfg) -> torch.Tensor:
    """Expected gradients (SHAP's GradientExplainer), in captum: background points as
    baselines, nsamples random points per input. captum draws both from the global NumPy and
    torch generators, for a whole call: each input is one call from its own seeded state (from
    `explainer.seed` and the input), nsamples model inputs per call."""
    from captum.attr import GradientShap

    method = GradientShap(model)
    return chunked(
        lambda x, t: method.attribute(
            x, baselines=background, target=t, n_samples=int(cfg.nsamples), stdevs=0.0
        ),
        inputs,
        targets,
        1,
        seed=int(cfg.seed),
    )


@register(
    "captum_occlusion",
    kinds=ANY_KIND,
    window=POSITIVE_INT.eg(2),
    stride=POSITIVE_INT.eg(1),
    perturbations_per_eval=POSITIVE_INT.eg(64),
    batch_size=POSITIVE_INT.eg(100),
)
def occlusion(model: nn.Module, inputs, targets, background, cfg) -> torch.Tensor:
    """Occlude a sliding window (all channels at once) with zeros; the drop in the target
    logit is the window's attribution. A text's window is `window` tokens set to [PAD] (id 0):
    window=1 occludes single tokens."""
    from captum.attr import Occlusion

    method = Occlusion(model)
    sample = inputs.shape[1:]
    window = int(cfg.window)
    if len(sample) == 1:  # tabular: one feature at a time, window features wide
        shape, strides = (window,), (int(cfg.stride),)
    else:
        shape = (sample[0], *[window] * (len(sample) - 1))
        strides = (sample[0], *[int(cfg.stride)] * (len(sample) - 1))
    return chunked(
        lambda x, t: method.attribute(
            x,
            sliding_window_shapes=shape,
            strides=strides,
            target=t,
            baselines=torch.zeros_like(x),
            perturbations_per_eval=int(cfg.perturbations_per_eval),
        ),
        inputs,
        targets,
        int(cfg.batch_size),
    ).float()


# Grad-CAM's auto layer: the last whose maps are at least this wide in every spatial dimension
GRADCAM_MIN_SIZE = 4


def gradcam_auto_layer(model: nn.Module, input_shape: tuple[int, ...]) -> str:
    """The last layer whose output is a map like the input's with every spatial side at least
    GRADCAM_MIN_SIZE; if none is, the one with the largest map (a 2x2 map after the last
    pooling leaves many inputs with an all-zero Grad-CAM)."""
    from distillctl.models.taps import layer_names, output_shapes

    shapes = output_shapes(model, input_shape, layer_names(model))
    maps = {n: s for n, s in shapes.items() if len(s) == len(input_shape) and len(s) >= 2}
    if not maps:
        return layer_names(model)[-1]  # the caller names the problem
    wide = [n for n, s in maps.items() if min(s[1:]) >= GRADCAM_MIN_SIZE]
    if wide:
        return wide[-1]
    return max(maps, key=lambda n: (math.prod(maps[n][1:]), list(maps).index(n)))


def gradcam_layer(model: nn.Module, input_shape: tuple[int, ...], cfg) -> tuple[str, tuple]:
    """The layer Grad-CAM uses for `model` and its per-sample output shape."""
    from distillctl.models.stages import resolve_layers
    from distillctl.models.taps import output_shapes

    if cfg.layer in (None, "auto"):
        name = gradcam_auto_layer(model, input_shape)
    else:
        (name,) = resolve_layers(model, cfg.layer, "model", "explainer.layer")[-1:]
    return name, tuple(output_shapes(model, input_shape, [name]).get(name, ()))


def gradcam_details(model: nn.Module, input_shape: tuple[int, ...], cfg) -> dict[str, str]:
    name, shape = gradcam_layer(model, input_shape, cfg)
    return {"layer": name, "map size": "x".join(map(str, shape[1:]))}


@register(
    "captum_gradcam",
    signed=lambda cfg: False,
    details=gradcam_details,
    kinds=SPATIAL_KINDS,
    batch_size=POSITIVE_INT.eg(100),
)
def gradcam(model: nn.Module, inputs, targets, background, cfg) -> torch.Tensor:
    """Grad-CAM at the layer `explainer.layer` (a module name, or auto: see
    `gradcam_auto_layer`), upsampled to the input's size and spread over its channels."""
    from captum.attr import LayerGradCam

    name, shape = gradcam_layer(model, tuple(inputs.shape[1:]), cfg)
    if len(shape) < 2 or len(shape) != inputs.dim() - 1:
        raise ConfigError(
            f"explainer=captum_gradcam needs a layer with spatial maps like the input's, but "
            f"layer '{name}' gives {tuple(shape)} for inputs {tuple(inputs.shape[1:])}",
            "set explainer.layer to a convolutional layer (`distillctl list layers`), or use "
            "explainer=captum_ig for models without one",
        )
    method = LayerGradCam(model, model.get_submodule(name))
    mode = "linear" if inputs.dim() == 3 else "bilinear"

    def explain(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        cam = method.attribute(x, target=t, relu_attributions=True)  # (N, 1, *spatial)
        cam = F.interpolate(cam, size=tuple(x.shape[2:]), mode=mode, align_corners=False)
        return cam.expand_as(x)

    return chunked(explain, inputs, targets, int(cfg.batch_size))
