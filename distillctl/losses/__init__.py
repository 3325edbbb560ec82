"""Distillation methods as weighted loss terms, composed on the command line.

`loss=[ce,kd,at]` selects three terms. Each has its own config node `loss.<name>` with a
`weight` and the method's options (`loss.kd.temperature=4 loss.at.layers=[features.block1]`).
A method is one Term module in its own file, registered under its name in TERMS; its
constructor's arguments are its options. The Recipe sums the weighted terms, taps the layers
they ask for (forward hooks), builds their auxiliary modules (regressors, embedders, memory
banks) from the tapped shapes with one dry forward, and reports each term's value.
"""

from __future__ import annotations

import contextlib
import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from distillctl.bounds import NON_NEGATIVE, Bound
from distillctl.errors import ConfigError
from distillctl.losses.teacher_cache import LOGITS
from distillctl.models import plain
from distillctl.models.soft_tree import is_soft_tree
from distillctl.models.taps import FeatureTaps, output_shapes
from distillctl.registry import Registry, checked_options

TERMS: Registry[type[Term]] = Registry("loss")


def register(name: str, **bounds: Bound):
    """Register a Term class as `name`, with the bounds of its options (checked before any run
    folder exists, by validate.py); every term's `weight` is a number >= 0."""

    def wrap(cls: type[Term]) -> type[Term]:
        cls.bounds = {"weight": NON_NEGATIVE.eg(1), **bounds}
        return TERMS.register(name)(cls)

    return wrap


def term_bounds(name: str) -> dict[str, Bound]:
    _load_builtin()
    return TERMS.get_or_fail(name).bounds


@dataclass
class Step:
    """What a term may read about one training batch. Teacher tensors are detached; with a
    term that `needs_graph`, `graph` holds the teacher's logits and features with their graph
    (the input requires grad then, so input gradients exist too)."""

    x: torch.Tensor
    labels: torch.Tensor
    student_logits: torch.Tensor
    teacher_logits: torch.Tensor
    student_features: dict[str, torch.Tensor] = field(default_factory=dict)
    teacher_features: dict[str, torch.Tensor] = field(default_factory=dict)
    index: torch.Tensor | None = None
    epoch: int = 0
    graph: dict[str, Any] = field(default_factory=dict)


@dataclass
class Shapes:
    """Per-sample output shapes of the tapped layers, and the training set's labels (their
    count is the training-set size; -1 marks an unlabelled sample)."""

    student: dict[str, tuple[int, ...]]
    teacher: dict[str, tuple[int, ...]]
    train_labels: torch.Tensor

    @property
    def num_train(self) -> int:
        return len(self.train_labels)


class Term(nn.Module):
    """One loss term: `forward(step) -> scalar tensor`.

    needs_index: reads `step.index` (the training samples' positions; CRD's memory bank).
    needs_graph: differentiates through the forward passes (explanation-guided terms).
    """

    needs_index = False
    needs_graph = False
    # reads true labels, so it applies to labelled samples only (label -1 marks the others)
    needs_labels = False
    key = "loss"
    bounds: dict[str, Bound] = {}

    def bind(self, student: nn.Module, teacher: nn.Module) -> None:
        """Resolve layer names against the two models (feature terms)."""

    def tapped(self) -> tuple[list[str], list[str]]:
        """Layer names this term reads from the student and from the teacher."""
        return [], []

    def build(self, shapes: Shapes) -> None:
        """Create auxiliary modules from the tapped shapes; reject shapes it cannot use."""

    def samples(self, labels: torch.Tensor) -> torch.Tensor:
        """How many samples of the last batch the term applied to (after `forward`)."""
        # device tensors made on the device: no host-to-device copy in the training step
        return (labels != -1).sum() if self.needs_labels else labels.new_full((), len(labels))

    def forward(self, step: Step) -> torch.Tensor:
        raise NotImplementedError


class SampleTerm(Term):
    """A term that is a mean over samples of one value per sample: `per_sample(step)` gives
    the values (B,) and which samples count (B,) bool; the term is their mean over the counted
    ones. Such a term can also be taken in expectation over a soft tree's leaves
    (distillctl/losses/leafwise.py)."""

    # True: the values of the samples not counted are zeroed but the mean is still over the
    # whole batch (FixMatch's masked mean), so the term's scale does not follow how many count
    mean_over_batch = False

    def __init__(self):
        super().__init__()
        self._counted: torch.Tensor | None = None

    def per_sample(self, step: Step) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def reduce(self, values: torch.Tensor, counted: torch.Tensor) -> torch.Tensor:
        """The mean over the counted samples (or over the batch, `mean_over_batch`), without a
        data-dependent branch (0 when none count)."""
        self._counted = counted.sum()
        over = values.new_tensor(float(len(values))) if self.mean_over_batch else self._counted
        return (values * counted).sum() / over.clamp_min(1)

    def forward(self, step: Step) -> torch.Tensor:
        return self.reduce(*self.per_sample(step))

    def samples(self, labels: torch.Tensor) -> torch.Tensor:
        return self._counted if self._counted is not None else super().samples(labels)


def every_sample(values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """`per_sample`'s answer for a term that applies to every sample."""
    return values, torch.ones_like(values, dtype=torch.bool)


PENALTY = "tree_penalty"  # a soft tree student's balance penalty, beside the terms' values


def student_outputs(student: nn.Module, x: torch.Tensor) -> tuple[Any, torch.Tensor]:
    """(routing, logits) of a soft tree (its routing and mixture log-probabilities), else
    (None, student(x))."""
    if is_soft_tree(student):
        routing = student.route(x)
        return routing, student.output(routing, "mixture")
    return None, student(x)


@dataclass
class WeightedTerm:
    name: str
    weight: float
    term: Term


def _load_builtin() -> None:
    """Import every module of this package: each registers its term."""
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")


def build_term(name: str, options: dict[str, Any]) -> Term:
    """The term `name` with `options` (its config node minus `weight`)."""
    _load_builtin()
    cls = TERMS.get_or_fail(name)
    checked_options(cls.__init__, options, f"loss.{name}", f"the '{name}' loss", also=("weight",))
    term = cls(**options)
    term.key = f"loss.{name}"  # how messages name its options
    return term


def recipe_name(loss_cfg: Any) -> str:
    """How runs and tables name a recipe: the term names joined, e.g. `ce+kd+at`."""
    return "+".join(plain(loss_cfg))


def build_recipe(loss_cfg: Any) -> Recipe:
    """The Recipe of `loss` (a mapping term name -> options with `weight`); zero weights drop."""
    chosen = plain(loss_cfg)
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
        if weight != 0.0:
            terms.append(WeightedTerm(name, weight, build_term(name, options)))
    if not terms:
        raise ConfigError(
            f"every selected loss term ({', '.join(chosen)}) has weight 0",
            "give at least one term a positive weight, e.g. loss.kd.weight=0.9",
        )
    return Recipe(terms)


class Recipe(nn.Module):
    """The weighted sum of terms, with the feature taps and auxiliary modules they need.

    The student and teacher are not submodules: the Recipe's state (auxiliary modules, memory
    banks) is saved in the training checkpoint, never in the exported student.
    """

    def __init__(self, terms: list[WeightedTerm]):
        super().__init__()
        self.names = [t.name for t in terms]
        self.weights = [float(t.weight) for t in terms]
        self.terms = nn.ModuleList(t.term for t in terms)
        self.needs_index = any(t.needs_index for t in self.terms)
        self.needs_graph = any(t.needs_graph for t in self.terms)
        self._taps: tuple[FeatureTaps | None, FeatureTaps | None] = (None, None)
        self.teacher_cache = None  # a losses.teacher_cache.TeacherCache, set by the stage

    def describe(self) -> str:
        return " + ".join(f"{w:g}*{n}" for n, w in zip(self.names, self.weights))

    def samples_seen(self, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        """How many samples of the batch each term applied to (label terms: the labelled)."""
        return {n: t.samples(labels) for n, t in zip(self.names, self.terms)}

    def teacher_layers(self) -> list[str]:
        """The teacher layers whose outputs the terms read (after bind): part of what a
        teacher-output cache holds."""
        taps = self._taps[1]
        return list(taps.names) if taps is not None else []

    def bind(
        self,
        student: nn.Module,
        teacher: nn.Module,
        input_shape: tuple[int, ...],
        train_labels: Any,
    ) -> Recipe:
        """Resolve layers, measure their shapes with one dry forward, build auxiliary modules,
        and place the forward hooks. `train_labels`: the training split's labels.
        Call once, before training (and before loading a checkpoint that holds the auxiliary
        modules' weights)."""
        from distillctl.losses.leafwise import check_terms

        check_terms(student, dict(zip(self.names, self.terms)))
        for term in self.terms:
            term.bind(student, teacher)
        s_names = list(dict.fromkeys(n for t in self.terms for n in t.tapped()[0]))
        t_names = list(dict.fromkeys(n for t in self.terms for n in t.tapped()[1]))
        shapes = Shapes(
            output_shapes(student, input_shape, s_names) if s_names else {},
            output_shapes(teacher, input_shape, t_names) if t_names else {},
            torch.as_tensor(train_labels).long(),
        )
        for term in self.terms:
            term.build(shapes)
        self._taps = (
            FeatureTaps(student, s_names) if s_names else None,
            FeatureTaps(teacher, t_names) if t_names else None,
        )
        return self

    def forward(
        self,
        student: nn.Module,
        teacher: nn.Module,
        x: torch.Tensor,
        labels: torch.Tensor,
        index: torch.Tensor | None = None,
        epoch: int = 0,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The weighted total and each term's value for one batch."""
        s_taps, t_taps = (
            taps.capture() if taps is not None else contextlib.nullcontext({})
            for taps in self._taps
        )
        if self.needs_graph:
            x = x.detach().requires_grad_(True)

        def teacher_pass() -> dict[str, torch.Tensor]:
            with torch.set_grad_enabled(self.needs_graph), t_taps as feats:
                logits = teacher(x)
            return {LOGITS: logits, **feats}

        cache = self.teacher_cache
        if cache is not None and index is not None:
            outputs = cache.lookup(index, teacher_pass)
        else:
            outputs = teacher_pass()
        teacher_logits = outputs.pop(LOGITS)
        t_feats = outputs
        with s_taps as s_feats:
            routing, student_logits = student_outputs(student, x)
        step = Step(
            x=x,
            labels=labels,
            student_logits=student_logits,
            teacher_logits=teacher_logits.detach(),
            student_features=dict(s_feats),
            teacher_features={k: v.detach() for k, v in t_feats.items()},
            index=index,
            epoch=epoch,
            graph={"teacher_logits": teacher_logits, "teacher_features": dict(t_feats)},
        )
        terms = dict(zip(self.names, self.terms))
        if routing is None:
            values = {name: term(step) for name, term in terms.items()}
        else:  # a soft tree: its objective and penalty (losses/leafwise.py)
            from distillctl.losses.leafwise import tree_terms

            values = tree_terms(student, routing, step, terms)
        total = sum(w * values[n] for n, w in zip(self.names, self.weights))
        return total + values.get(PENALTY, 0.0), values
