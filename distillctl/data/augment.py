"""On-device augmentation of training batches, applied alike to every stage's training data.

The scratch student and the distilled student see the same augmented inputs, so the baseline
stays fair; in distillation the teacher labels exactly the augmented input the student sees
("consistent teaching", Beyer et al. 2022), which is where much of KD's gain comes from.
Each augmentation is a function (x, amount, generator) -> x registered under its config key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from distillctl.errors import ConfigError
from distillctl.registry import Registry

Augment = Callable[[torch.Tensor, float, torch.Generator], torch.Tensor]
FLOAT_KINDS = ("image", "signal", "tabular")


@dataclass(frozen=True)
class AugmentFacts:
    """What an augmentation declares on registration."""

    # the input kinds it changes (token ids are not numbers to add noise to)
    kinds: tuple[str, ...] = FLOAT_KINDS


AUGMENTS: Registry[Augment] = Registry("augmentation", facts=AugmentFacts)
register = AUGMENTS.register


@register("shift")
def shift(x: torch.Tensor, amount: float, gen: torch.Generator) -> torch.Tensor:
    """Translate each sample by a random whole number of steps in [-amount, amount] along every
    spatial axis (pixels of an image, positions of a signal), filling with zeros."""
    a = int(amount)
    spatial = x.dim() - 2  # (N, C, *spatial); tabular rows (N, F) have none
    if a <= 0 or spatial <= 0:
        return x
    out = F.pad(x, [a, a] * spatial)
    for axis in range(2, x.dim()):
        n, size = x.shape[0], x.shape[axis]
        offset = torch.randint(0, 2 * a + 1, (n,), generator=gen, device=gen.device)
        index = torch.arange(size, device=x.device)[None, :] + offset.to(x.device)[:, None]
        view = [n] + [1] * (x.dim() - 1)
        view[axis] = size
        target = list(out.shape)
        target[axis] = size
        out = torch.gather(out, axis, index.view(view).expand(target))
    return out


# padding by N pixels and cropping back at a random place (the CIFAR recipe's RandomCrop(32, 4))
# is the same operation as a random shift by up to N with zero fill
register("crop")(shift)


@register("flip")
def flip(x: torch.Tensor, amount: float, gen: torch.Generator) -> torch.Tensor:
    """Mirror each image left-right with probability `amount` (0.5 in the CIFAR recipe)."""
    if amount <= 0 or x.dim() != 4:
        return x
    mirrored = torch.rand(x.shape[0], generator=gen, device=gen.device).to(x.device) < amount
    return torch.where(mirrored[:, None, None, None], x.flip(-1), x)


@register("scale")
def scale(x: torch.Tensor, amount: float, gen: torch.Generator) -> torch.Tensor:
    """Multiply each sample by a random factor in [1 - amount, 1 + amount] (a signal's
    amplitude)."""
    if amount <= 0:
        return x
    u = torch.rand(x.shape[0], generator=gen, device=gen.device).to(x)
    return x * (1.0 + float(amount) * (2.0 * u - 1.0)).view(-1, *[1] * (x.dim() - 1))


@register("noise")
def noise(x: torch.Tensor, amount: float, gen: torch.Generator) -> torch.Tensor:
    """Add Gaussian noise of standard deviation `amount`."""
    if amount <= 0:
        return x
    return x + float(amount) * torch.randn(x.shape, generator=gen, device=gen.device).to(x)


def _draw(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    return torch.rand(x.shape, generator=gen, device=gen.device).to(x.device)


@register("token_mask", kinds=("text",))
def token_mask(x: torch.Tensor, amount: float, gen: torch.Generator) -> torch.Tensor:
    """Tang et al. (2019)'s masking: each word token becomes [MASK] with probability
    `amount` (their p_mask = 0.1)."""
    from distillctl.inputs.text import MASK, word_tokens

    hit = (_draw(x, gen) < amount) & word_tokens(x)
    return torch.where(hit, torch.full_like(x, MASK), x)


@register("token_dropout", kinds=("text",))
def token_dropout(x: torch.Tensor, amount: float, gen: torch.Generator) -> torch.Tensor:
    """Each word token is deleted (set to [PAD], which every text network ignores) with
    probability `amount`."""
    from distillctl.inputs.text import PAD, word_tokens

    hit = (_draw(x, gen) < amount) & word_tokens(x)
    return torch.where(hit, torch.full_like(x, PAD), x)


@register("ngram", kinds=("text",))
def ngram(x: torch.Tensor, amount: float, gen: torch.Generator) -> torch.Tensor:
    """Tang et al. (2019)'s n-gram sampling: with probability `amount` (their p_ng = 0.25) a
    text keeps only one random n-gram of its words, n uniform in 1..5 ([CLS] and [SEP]
    stay)."""
    from distillctl.inputs.text import PAD, word_tokens

    words = word_tokens(x)
    n_words = words.sum(1)
    rows = len(x)
    device = gen.device
    chosen = torch.rand(rows, generator=gen, device=device).to(x.device) < amount
    size = torch.randint(1, 6, (rows,), generator=gen, device=device).to(x.device)
    size = torch.minimum(size, n_words.clamp_min(1))
    start = torch.rand(rows, generator=gen, device=device).to(x.device) * (n_words - size + 1)
    start = start.long()
    rank = words.long().cumsum(1) - 1  # each word's place among the text's words
    keep = (rank >= start[:, None]) & (rank < (start + size)[:, None])
    drop = chosen[:, None] & words & ~keep
    return torch.where(drop, torch.full_like(x, PAD), x)


def build(
    augment_cfg: Any, kind: str | None = None
) -> Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None:
    """The composed augmentation of a `data.augment` mapping ({name: amount}), or None; with
    `kind`, each one must change inputs of that kind."""
    steps = []
    for name, amount in dict(augment_cfg or {}).items():
        if name not in AUGMENTS:
            raise ConfigError(
                f"data.augment.{name} is not an augmentation",
                f"choose from: {', '.join(sorted(AUGMENTS))}",
            )
        if float(amount) < 0:
            raise ConfigError(
                f"data.augment.{name}={amount} must not be negative",
                f"set data.augment.{name}=0 to switch it off",
            )
        kinds = AUGMENTS.facts(name).kinds
        if float(amount) > 0 and kind is not None and kind not in kinds:
            fits = [n for n in sorted(AUGMENTS) if kind in AUGMENTS.facts(n).kinds]
            raise ConfigError(
                f"data.augment.{name} changes {' / '.join(kinds)} inputs, but this data is {kind}",
                f"set data.augment.{name}=0; for {kind} data: {', '.join(fits)}",
            )
        if float(amount) > 0:
            steps.append((AUGMENTS[name], float(amount)))
    if not steps:
        return None

    def apply(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        for fn, amount in steps:
            x = fn(x, amount, gen)
        return x

    return apply
