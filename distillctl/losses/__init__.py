"""Distillation methods as weighted loss terms, composed on the command line.

`loss=[ce,kd,at]` selects three terms. Each has its own config node `loss.<name>` with a
`weight` and the method's options (`loss.kd.temperature=4 loss.at.layers=[features.block1]`).
A method is one Term module in its own file, registered under its name in TERMS; its
constructor's arguments are its options. The Recipe sums the weighted terms, taps the layers
they ask for (forward hooks), builds their auxiliary modules (regressors, embedders, memory
banks) from the tapped shapes with one dry forward, and reports each term's value.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

from distillctl.bounds import NON_NEGATIVE, Bound
from distillctl.configuration.parts import RecipeSpec, parse_recipe
from distillctl.configuration.plain import plain
from distillctl.losses.base import SampleTerm, Shapes, Step, Term, every_sample
from distillctl.losses.recipe import Recipe, WeightedTerm
from distillctl.models import ANY_KIND
from distillctl.registry import Registry, checked_options

__all__ = [
    "TERMS",
    "Recipe",
    "SampleTerm",
    "Shapes",
    "Step",
    "Term",
    "build_recipe",
    "build_term",
    "every_sample",
    "recipe_name",
    "register",
]


@dataclass(frozen=True)
class TermFacts:
    """What a loss term declares on registration, read by validate.py before any run folder."""

    # its options' rules (`weight`'s, a number >= 0, added for every term)
    bounds: dict[str, Bound] = field(default_factory=dict)
    # state each process keeps and does not share (CRD's memory banks): such a term cannot run
    # on several devices; the words name the state in the message
    process_state: str | None = None
    # reads the class of every sample it sees (CRD draws negatives from the other classes):
    # transfer sets that add inputs without a class cannot go with it
    needs_every_class: bool = False
    # the input kinds (data.kind) it is defined for
    kinds: tuple[str, ...] = ANY_KIND
    # the architectures both networks must be (terms on a transformer's own layers), or None
    archs: tuple[str, ...] | None = None


TERMS: Registry[type[Term]] = Registry("loss", package=__name__, facts=TermFacts)


def register(
    name: str,
    process_state: str | None = None,
    needs_every_class: bool = False,
    kinds: tuple[str, ...] = ANY_KIND,
    archs: tuple[str, ...] | None = None,
    **bounds: Bound,
):
    """Register a Term class as `name`, with its facts and the bounds of its options (checked
    before any run folder exists, by validate.py). A bound without an example takes the
    option's default in the constructor as its example, so a default is written once."""

    def wrap(cls: type[Term]) -> type[Term]:
        defaults = {
            k: p.default
            for k, p in inspect.signature(cls.__init__).parameters.items()
            if p.default is not inspect.Parameter.empty
        }
        from distillctl.losses.schedules import SCHEDULE

        declared = {
            "weight": NON_NEGATIVE.eg(1),
            "schedule": SCHEDULE.eg("constant"),
            **{
                k: b.eg(defaults[k]) if not b.example and k in defaults else b
                for k, b in bounds.items()
            },
        }
        facts = {
            "process_state": process_state,
            "needs_every_class": needs_every_class,
            "archs": None if archs is None else tuple(archs),
        }
        return TERMS.register(name, bounds=declared, kinds=tuple(kinds), **facts)(cls)

    return wrap


def term_bounds(name: str) -> dict[str, Bound]:
    return TERMS.facts(name, "loss").bounds


def build_term(name: str, options: dict[str, Any]) -> Term:
    """The term `name` with `options` (its config node minus `weight`)."""
    cls = TERMS.get_or_fail(name)
    checked_options(
        cls.__init__, options, f"loss.{name}", f"the '{name}' loss", also=("weight", "schedule")
    )
    term = cls(**options)
    term.key = f"loss.{name}"  # how messages name its options
    return term


def recipe_name(loss: Any) -> str:
    """How runs and tables name a recipe: the selected terms joined, e.g. `ce+kd+at` (of a
    RecipeSpec, or of the `loss` node of a stored config)."""
    return loss.name if isinstance(loss, RecipeSpec) else "+".join(plain(loss))


def build_recipe(loss: Any) -> Recipe:
    """The Recipe of a RecipeSpec (or of a `loss` node, parsed); zero weights drop."""
    spec = loss if isinstance(loss, RecipeSpec) else parse_recipe(loss)
    from distillctl.losses.schedules import parse

    return Recipe(
        [
            WeightedTerm(
                t.name,
                t.weight,
                build_term(t.name, dict(t.options)),
                parse(t.schedule, f"loss.{t.name}.schedule"),
            )
            for t in spec.terms
            if t.weight != 0.0
        ]
    )
