"""Mixing the inputs of a training batch for consistent-view distillation
(`distill.transfer=augment distill.mix=mixup|cutmix`), as in function matching (Beyer et al.,
"Knowledge distillation: A good teacher is patient and consistent", CVPR 2022): the batch is
augmented and mixed once, and the same tensor goes to teacher and student.

mixup (Zhang et al. 2018): x' = lam * x + (1 - lam) * x[perm]; cutmix (Yun et al. 2019): a box
covering a (1 - lam) share of the spatial extent (rows of an image, steps of a signal, features
of a table) is taken from x[perm]. lam ~ Beta(alpha, alpha), one per batch, as both papers'
reference code draws it. A mixed input has no true label: it is marked unlabelled (-1), so
label terms (ce) skip it and the teacher's output on it is the target.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from distillctl.registry import Registry

UNLABELLED = -1
Mix = Callable[[torch.Tensor, float, torch.Generator], torch.Tensor]
MIXES: Registry[Mix] = Registry("distill.mix")


def _draws(
    n: int, alpha: float, gen: torch.Generator
) -> tuple[float, torch.Tensor, np.random.Generator]:
    """lam, a partner permutation and a numpy generator, all from the batch's torch generator."""
    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=gen, device=gen.device))
    rng = np.random.default_rng(seed)
    lam = float(rng.beta(alpha, alpha))
    perm = torch.from_numpy(rng.permutation(n))
    return lam, perm, rng


@MIXES.register("mixup")
def mixup(x: torch.Tensor, alpha: float, gen: torch.Generator) -> torch.Tensor:
    lam, perm, _ = _draws(len(x), alpha, gen)
    return lam * x + (1.0 - lam) * x[perm.to(x.device)]


@MIXES.register("cutmix")
def cutmix(x: torch.Tensor, alpha: float, gen: torch.Generator) -> torch.Tensor:
    lam, perm, rng = _draws(len(x), alpha, gen)
    out = x.clone()
    spatial = list(range(2, x.dim())) or [1]  # tabular rows: a run of features
    # a box over the spatial axes whose volume is (1 - lam) of the whole
    side = (1.0 - lam) ** (1.0 / len(spatial))
    box = []
    for axis in spatial:
        size = x.shape[axis]
        width = int(round(size * side))
        centre = int(rng.integers(0, size))
        start, stop = max(centre - width // 2, 0), min(centre - width // 2 + width, size)
        box.append(slice(start, stop))
    region = (slice(None), *([slice(None)] * (spatial[0] - 1)), *box)
    out[region] = x[perm.to(x.device)][region]
    return out


def build(name: str, alpha: float):
    """(x, y, generator) -> (mixed x, y marked unlabelled), or None for `none`."""
    if name == "none":
        return None
    mix = MIXES.get_or_fail(name)

    def apply(x: torch.Tensor, y: torch.Tensor, gen: torch.Generator):
        return mix(x, float(alpha), gen), torch.full_like(y, UNLABELLED)

    return apply
