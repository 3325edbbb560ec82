"""What a config value may be, declared by whoever owns the value (torch-free).

A Bound names the allowed values in words, checks one value, and gives a good example. Loss
terms declare theirs when they register (`losses.register("kd", temperature=POSITIVE.eg(4))`),
explainers theirs (`explain.register(..., bounds={...})`); validate.py applies them to the
selected terms and explainer before any run folder exists.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from distillctl.errors import ConfigError


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class Bound:
    what: str
    check: Callable[[Any], bool]
    example: str = ""

    def eg(self, example: Any) -> Bound:
        return replace(
            self, example=str(example).lower() if isinstance(example, bool) else str(example)
        )


POSITIVE_INT = Bound("a whole number > 0", lambda v: _whole(v) and v > 0)
OPTIONAL_POSITIVE_INT = Bound(
    "a whole number > 0, or null", lambda v: v is None or (_whole(v) and v > 0)
)
CLASSES = Bound("a whole number >= 2, or null", lambda v: v is None or (_whole(v) and v >= 2))
NON_NEGATIVE_INT = Bound("a whole number >= 0", lambda v: _whole(v) and v >= 0)
ANY_INT = Bound("a whole number", _whole)
POSITIVE = Bound("a number > 0", lambda v: _number(v) and v > 0)
NON_NEGATIVE = Bound("a number >= 0", lambda v: _number(v) and v >= 0)
UNIT = Bound("a number in [0, 1]", lambda v: _number(v) and 0 <= v <= 1)
HALF_OPEN_UNIT = Bound("a number in [0, 1)", lambda v: _number(v) and 0 <= v < 1)
OPEN_UNIT = Bound("a number strictly between 0 and 1", lambda v: _number(v) and 0 < v < 1)
UNIT_POSITIVE = Bound("a number in (0, 1]", lambda v: _number(v) and 0 < v <= 1)
BOOLEAN = Bound("true or false", lambda v: isinstance(v, bool))


def one_of(*choices: str) -> Bound:
    return Bound(f"one of: {', '.join(choices)}", lambda v: v in choices)


def whole_between(low: int, high: int) -> Bound:
    return Bound(f"a whole number from {low} to {high}", lambda v: _whole(v) and low <= v <= high)


def whole_one_of(*values: int, what: str | None = None) -> Bound:
    return Bound(what or " or ".join(str(v) for v in values), lambda v: _whole(v) and v in values)


def check(key: str, value: Any, bound: Bound) -> None:
    if not bound.check(value):
        raise ConfigError(
            f"{key}={value!r} is not valid: it must be {bound.what}",
            f"set {key}={bound.example}" if bound.example else f"set {key} to {bound.what}",
        )


def check_options(prefix: str, options: dict[str, Any], bounds: dict[str, Bound]) -> None:
    """Each option that has a declared bound, checked; `prefix` names them (`loss.kd`)."""
    for key, bound in bounds.items():
        if key in options:
            check(f"{prefix}.{key}", options[key], bound)
