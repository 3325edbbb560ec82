"""Optimisers and learning-rate schedules behind registries: `optim=<name>`, `optim.scheduler`.

Every stage trains with `optim`; the teacher with `teacher_optim` when one is chosen. Each
optimiser is a function (params, **its options); the options' bounds are checked before any run
folder exists (validate.py), what depends on several options here. A schedule
is a torch scheduler stepped once per epoch, with an optional linear warm-up in front of it.
Milestones count epochs from the start of training, warm-up included (the papers' convention).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from distillctl.bounds import BOOLEAN, NON_NEGATIVE, NON_NEGATIVE_INT, POSITIVE, Bound
from distillctl.configuration.parts import OptimSpec, parse_optim
from distillctl.errors import ConfigError
from distillctl.registry import Registry, checked_options


@dataclass(frozen=True)
class OptimizerFacts:
    """What an optimiser declares on registration: its options' rules (checked by validate.py
    before any run folder exists; rules across options are the builder's)."""

    bounds: dict[str, Bound] = field(default_factory=dict)


OPTIMIZERS: Registry[Callable[..., torch.optim.Optimizer]] = Registry(
    "optimizer", facts=OptimizerFacts
)
SCHEDULES: Registry[Callable[..., Any]] = Registry("learning-rate schedule")
# the rules of the schedule's keys, whatever the optimiser
EPOCHS = Bound(
    "a list of whole epoch numbers",
    lambda v: (
        not isinstance(v, str | bytes | dict)
        and hasattr(v, "__iter__")
        and all(NON_NEGATIVE_INT.check(m) for m in v)
    ),
)
SCHEDULE_BOUNDS = {
    "gamma": POSITIVE.eg(0.1),
    "warmup_epochs": NON_NEGATIVE_INT.eg(5),
    "milestones": EPOCHS.eg("[150,180,210]"),
}


@OPTIMIZERS.register(
    "adamw", bounds={"lr": POSITIVE.eg(3e-3), "weight_decay": NON_NEGATIVE.eg(0.0)}
)
def adamw(params, lr: float, weight_decay: float = 0.0, betas=(0.9, 0.999)):
    betas = tuple(float(b) for b in betas)
    if len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas):
        raise ConfigError(
            f"optim.betas={list(betas)} must be two numbers in [0, 1)",
            "set optim.betas=[0.9,0.999]",
        )
    return torch.optim.AdamW(
        params,
        lr=float(lr),
        weight_decay=float(weight_decay),
        betas=betas,
    )


@OPTIMIZERS.register(
    "sgd",
    bounds={
        "lr": POSITIVE.eg(0.05),
        "momentum": NON_NEGATIVE.eg(0.9),
        "nesterov": BOOLEAN.eg(False),
        "weight_decay": NON_NEGATIVE.eg(5e-4),
    },
)
def sgd(
    params, lr: float, momentum: float = 0.9, nesterov: bool = False, weight_decay: float = 0.0
):
    if nesterov and float(momentum) == 0:
        raise ConfigError("optim.nesterov=true needs momentum", "set optim.momentum=0.9")
    return torch.optim.SGD(
        params,
        lr=float(lr),
        momentum=float(momentum),
        nesterov=bool(nesterov),
        weight_decay=float(weight_decay),
    )


@SCHEDULES.register("cosine")
def cosine(optimizer, epochs: int, start: int, **_):
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(epochs - start, 1))


@SCHEDULES.register("multistep")
def multistep(optimizer, epochs: int, start: int, milestones=(), gamma: float = 0.1, **_):
    steps = sorted(int(m) for m in milestones)
    if not steps or steps[0] <= start:
        raise ConfigError(
            f"optim.milestones={list(steps)} needs epochs after the warm-up ({start})",
            "set optim.milestones=[150,180,210] (epochs from the start of training)",
        )
    # the scheduler starts counting after the warm-up: shift the milestones to keep them absolute
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, [m - start for m in steps], gamma)


@SCHEDULES.register("none")
def constant(optimizer, epochs: int, start: int, **_):
    return torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)


def configure(optim: OptimSpec | Any, params, epochs: int) -> dict[str, Any]:
    """Lightning's configure_optimizers answer for an OptimSpec (or an optim node, parsed)."""
    spec = optim if isinstance(optim, OptimSpec) else parse_optim(optim)
    builder = OPTIMIZERS.get_or_fail(spec.name, "optimizer (optim=)")
    options = dict(spec.options)
    optimizer = builder(params, **checked_options(builder, options, "optim", f"optim={spec.name}"))
    schedule = SCHEDULES.get_or_fail(spec.scheduler, "optim.scheduler")
    warmup = spec.warmup_epochs
    if warmup and warmup >= epochs:
        raise ConfigError(
            f"optim.warmup_epochs={warmup} must be fewer than trainer.max_epochs={epochs}",
            "set optim.warmup_epochs=5 (or 0 for none)",
        )
    main = schedule(
        optimizer,
        epochs,
        warmup,
        milestones=spec.milestones,
        gamma=spec.gamma,
    )
    if warmup:
        ramp = torch.optim.lr_scheduler.LinearLR(
            optimizer, start_factor=1.0 / (warmup + 1), end_factor=1.0, total_iters=warmup
        )
        main = torch.optim.lr_scheduler.SequentialLR(optimizer, [ramp, main], milestones=[warmup])
    return {"optimizer": optimizer, "lr_scheduler": main}
