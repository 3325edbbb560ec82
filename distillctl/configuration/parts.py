"""Specs of the parts a config chooses from a registry: the recipe of loss terms, the
optimiser, the two networks, the Trainer's arguments. Their rules are the chosen entry's
facts (checked by validate.py); here each node is read once into a frozen spec."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TermSpec:
    """One selected loss term: its weight and its options (the constructor's arguments)."""

    name: str
    weight: float
    options: Mapping[str, Any]
    # how the weight moves over the epochs (losses/schedules.py)
    schedule: str = "constant"


@dataclass(frozen=True)
class RecipeSpec:
    """The selected loss terms (`loss=[ce,kd]`), in order, with their weights and options."""

    terms: tuple[TermSpec, ...]

    @property
    def name(self) -> str:
        """How runs and tables name a recipe: the selected terms joined, e.g. `ce+kd+at`."""
        return "+".join(t.name for t in self.terms)

    def option(self, term: str, key: str, default: Any = None) -> Any:
        """An option of a selected term (`default` when the term or the option is absent)."""
        found = next((t for t in self.terms if t.name == term), None)
        return default if found is None else found.options.get(key, default)


def parse_recipe(loss: Any) -> RecipeSpec:
    """The `loss` node (term name -> options with `weight`) as a RecipeSpec; ConfigErrors for a
    node that is no term's options, for no term, or for every weight 0."""
    from types import MappingProxyType

    from distillctl.configuration.plain import plain
    from distillctl.errors import ConfigError

    chosen = plain(loss) if loss is not None else {}
    if not chosen:
        raise ConfigError("no loss term is selected", "choose terms, e.g. loss=[ce,kd]")
    terms = []
    for name, node in chosen.items():
        if not isinstance(node, dict):
            raise ConfigError(
                f"loss.{name} must be a term's options, got {node!r}",
                "select terms by name (loss=[ce,kd]) and set options as loss.kd.temperature=4",
            )
        options = dict(node)
        weight = float(options.pop("weight", 1.0))
        schedule = str(options.pop("schedule", None) or "constant")
        terms.append(TermSpec(str(name), weight, MappingProxyType(options), schedule))
    if all(t.weight == 0.0 for t in terms):
        raise ConfigError(
            f"every selected loss term ({', '.join(chosen)}) has weight 0",
            "give at least one term a positive weight, e.g. loss.kd.weight=0.9",
        )
    return RecipeSpec(tuple(terms))


@dataclass(frozen=True)
class OptimSpec:
    """An optimiser (`optim=<name>`, `teacher_optim=<name>`) with its own options and the
    learning-rate schedule (train/optim.py); the options' rules are the optimiser's facts."""

    name: str
    options: Mapping[str, Any]
    scheduler: str = "none"
    milestones: tuple[int, ...] = ()
    gamma: float = 0.1
    warmup_epochs: int = 0


# the optim node's keys that are the schedule's, not the optimiser's
SCHEDULE_KEYS = ("name", "scheduler", "milestones", "gamma", "warmup_epochs")


def parse_optim(node: Any) -> OptimSpec | None:
    """An optim node as an OptimSpec (None for an empty one: `teacher_optim=same`)."""
    from types import MappingProxyType

    from distillctl.configuration.plain import plain

    values = plain(node) if node is not None else {}
    if not values:
        return None
    return OptimSpec(
        name=str(values.get("name", "adamw")),
        options=MappingProxyType({k: v for k, v in values.items() if k not in SCHEDULE_KEYS}),
        scheduler=str(values.get("scheduler") or "none"),
        milestones=tuple(int(m) for m in values.get("milestones") or ()),
        gamma=float(values.get("gamma", 0.1)),
        warmup_epochs=int(values.get("warmup_epochs") or 0),
    )


@dataclass(frozen=True)
class ModelSpec:
    """A network (`teacher=<arch>`, `student=<arch>`): its architecture and its builder's
    options; num_classes is None until a data source counts its classes (a user's table)."""

    arch: str
    options: Mapping[str, Any]

    def node(self, num_classes: int | None = None, vocab_size: int | None = None) -> dict[str, Any]:
        """What the builder is called with (create_model), with the data's class count and,
        for a text network whose vocabulary the config leaves open (a model's tokenizer),
        the data's vocabulary size."""
        node = {"arch": self.arch, **self.options}
        if num_classes is not None:
            node["num_classes"] = int(num_classes)
        if vocab_size is not None and "vocab_size" in node and node["vocab_size"] is None:
            node["vocab_size"] = int(vocab_size)
        return node


def parse_model(node: Any) -> ModelSpec | None:
    from types import MappingProxyType

    from distillctl.configuration.plain import plain

    values = plain(node) if node is not None else None
    if not isinstance(values, dict) or values.get("arch") is None:
        return None
    options = {k: v for k, v in values.items() if k != "arch"}
    return ModelSpec(str(values["arch"]), MappingProxyType(options))


@dataclass(frozen=True)
class TrainerSpec:
    """pytorch_lightning.Trainer's keyword arguments, and only those (`trainer:`)."""

    args: Mapping[str, Any]
