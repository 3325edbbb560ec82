"""One registry type for every pluggable part (data sources, models, losses, explainers, ...).

Adding a method is adding one module that decorates its function with `THING.register(name)`;
asking for an unknown name gets one message that lists what there is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from distillctl.errors import ConfigError

T = TypeVar("T")


class Registry(dict[str, T], Generic[T]):
    def __init__(self, what: str):
        super().__init__()
        self.what = what  # how a user calls one entry, for messages: "data source", "loss"

    def register(self, name: str) -> Callable[[T], T]:
        def wrap(obj: T) -> T:
            self[name] = obj
            return obj

        return wrap

    def get_or_fail(self, name: str, what: str | None = None) -> T:
        """The entry `name`, or a ConfigError naming the valid choices."""
        if name not in self:
            raise ConfigError(
                f"unknown {what or self.what} '{name}'", f"choose one of: {', '.join(sorted(self))}"
            )
        return self[name]


def checked_options(
    builder: Callable, options: dict, where: str, what: str, also: tuple[str, ...] = ()
) -> dict:
    """`options` if `builder` accepts every one of them (its keyword arguments), else one
    ConfigError naming the first unknown key as `<where>.<key>` and listing the accepted ones
    (with `also`: options the caller takes off before calling the builder)."""
    import inspect

    params = inspect.signature(builder).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return options  # a builder that passes extra options on (custom, timm)
    accepted = set(params) - {"self", "input_shape"}
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise ConfigError(
            f"{where}.{unknown[0]} is not an option of {what}",
            f"its options are: {', '.join([*also, *sorted(accepted)])}",
        )
    return options
