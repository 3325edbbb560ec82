"""How a term's weight (and kd's temperature) moves over a stage's epochs:
`loss.<term>.schedule` and `loss.kd.temperature_schedule`, each a factor on the configured value.

    constant              1 (the default)
    linear_warmup[:W]     min(e / W, 1) with e = 1, 2, ... (W = 20): mdistiller's DKD ramp,
                          `min(kwargs["epoch"] / self.warmup, 1.0)` with its 1-based epochs
    cosine[:F]            from 1 at the first epoch to F at the last along half a cosine (F = 0)
    step:N[:G]            G ** (epochs done // N) (G = 0.1): times G every N epochs

Written as one word with its numbers after colons (`loss.kd.schedule=linear_warmup:10`), so
that every term's config carries one key for it. The factor of an epoch is the same for every
step of that epoch; the effective values are logged per epoch (metrics.csv: `weight_<term>`,
`kd_temperature`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from distillctl.bounds import Bound
from distillctl.errors import ConfigError

# name -> (its numbers' meanings, their defaults)
FORMS = {
    "constant": ((), ()),
    "linear_warmup": (("warm-up epochs",), (20.0,)),
    "cosine": (("final factor",), (0.0,)),
    "step": (("epochs per step", "factor per step"), (None, 0.1)),
}
EXAMPLES = "constant, linear_warmup:20, cosine:0.1, step:30:0.1"


@dataclass(frozen=True)
class Schedule:
    name: str = "constant"
    numbers: tuple[float, ...] = ()

    def factor(self, epoch: int, epochs: int) -> float:
        """The factor at 0-based `epoch` of a stage of `epochs` epochs."""
        if self.name == "linear_warmup":
            return min((epoch + 1) / self.numbers[0], 1.0)
        if self.name == "cosine":
            final = self.numbers[0]
            progress = min(epoch / max(epochs - 1, 1), 1.0)
            return final + (1.0 - final) * 0.5 * (1.0 + math.cos(math.pi * progress))
        if self.name == "step":
            every, gamma = self.numbers
            return gamma ** (epoch // int(every))
        return 1.0

    @property
    def constant(self) -> bool:
        return self.name == "constant"


def parse(text, key: str) -> Schedule:
    """`text` (e.g. `step:30:0.1`) as a Schedule, or one ConfigError naming `key`."""
    name, *given = str("constant" if text is None else text).split(":")
    if name not in FORMS:
        raise ConfigError(f"{key}={text}: no schedule '{name}'", f"choose one of: {EXAMPLES}")
    meanings, defaults = FORMS[name]
    if len(given) > len(meanings):
        raise ConfigError(
            f"{key}={text}: {name} takes {len(meanings)} number(s) ({', '.join(meanings)})",
            f"e.g. {key}={next(e for e in EXAMPLES.split(', ') if e.startswith(name))}",
        )
    numbers = []
    for i, meaning in enumerate(meanings):
        raw = given[i] if i < len(given) else defaults[i]
        try:
            value = float(raw) if raw is not None else None
        except ValueError:
            value = None
        if value is None or not math.isfinite(value):
            raise ConfigError(
                f"{key}={text}: {name} needs its {meaning} as a number",
                f"e.g. {key}={next(e for e in EXAMPLES.split(', ') if e.startswith(name))}",
            )
        numbers.append(value)
    positive = {"linear_warmup": (0,), "step": (0, 1)}.get(name, ())
    if any(numbers[i] <= 0 for i in positive) or (name == "cosine" and numbers[0] < 0):
        raise ConfigError(
            f"{key}={text}: {', '.join(meanings)} must be positive",
            f"e.g. {key}={next(e for e in EXAMPLES.split(', ') if e.startswith(name))}",
        )
    return Schedule(name, tuple(numbers))


def _valid(text) -> bool:
    try:
        parse(text, "schedule")
    except ConfigError:
        return False
    return True


# the bound every term's `schedule` option is checked with (before any run folder)
SCHEDULE = Bound(f"a schedule: {EXAMPLES}", _valid)
