"""One registry type for every pluggable part: data sources, architectures, loss terms,
explainers, transfer sets, loggers, optimisers, schedules.

Every registry has the same contract:

- an entry is registered with `THING.register(name, **facts)`: the object (a builder, a class,
  a function) and its facts (what `validate` and the stages need to know about it without
  building it: bounds of its options, the input kinds it supports, ...), declared once, in the
  registry's facts dataclass;
- entries are discovered the same way: a registry that names a `package` imports every public
  module of it (pkgutil) the first time it is asked for anything, so adding an entry is adding
  one module there; a registry without a package holds the entries of the module defining it;
- asking for an unknown name gets one message that lists what there is.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Generic, TypeVar

from distillctl.errors import ConfigError

T = TypeVar("T")


class NoFacts:
    """The facts of a registry whose entries declare none."""

    def __init__(self, **facts: Any):
        if facts:
            raise TypeError(f"this registry's entries declare no facts, got {sorted(facts)}")


class Registry(Mapping[str, T], Generic[T]):
    def __init__(self, what: str, package: str | None = None, facts: type = NoFacts):
        self.what = what  # how a user calls one entry, for messages: "data source", "loss"
        self.package = package  # where its entries live (every public module is imported)
        self.fact_type = facts
        self._entries: dict[str, T] = {}
        self._facts: dict[str, Any] = {}
        self._loaded = package is None

    def register(self, name: str, **facts: Any) -> Callable[[T], T]:
        """Decorator: register `obj` as `name`, with its facts (the registry's facts type)."""
        declared = self.fact_type(**facts)

        def wrap(obj: T) -> T:
            self._entries[name] = obj
            self._facts[name] = declared
            return obj

        return wrap

    def load(self) -> Registry[T]:
        """Import every public module of the registry's package, once (they register)."""
        if not self._loaded:
            self._loaded = True
            package = importlib.import_module(self.package)
            for info in pkgutil.iter_modules(package.__path__):
                if not info.name.startswith("_"):
                    importlib.import_module(f"{self.package}.{info.name}")
        return self

    def __getitem__(self, name: str) -> T:
        return self.load()._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.load()._entries)

    def __len__(self) -> int:
        return len(self.load()._entries)

    def get_or_fail(self, name: str, what: str | None = None) -> T:
        """The entry `name`, or a ConfigError naming the valid choices."""
        if name not in self:
            raise ConfigError(
                f"unknown {what or self.what} '{name}'", f"choose one of: {', '.join(sorted(self))}"
            )
        return self[name]

    def facts(self, name: str, what: str | None = None) -> Any:
        """The facts `name` declared on registration (a ConfigError for an unknown name)."""
        self.get_or_fail(name, what)
        return self._facts[name]


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
