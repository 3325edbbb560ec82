"""The Recipe: the weighted sum of the selected terms, with the feature taps and auxiliary
modules they need."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from distillctl.losses.base import Shapes, Step, Term
from distillctl.losses.leafwise import PENALTY, check_terms, student_outputs, tree_terms
from distillctl.losses.schedules import Schedule
from distillctl.losses.teacher_cache import LOGITS, cut, token_axes
from distillctl.losses.weighting import Weighting
from distillctl.models.taps import FeatureTaps, output_shapes


@dataclass
class WeightedTerm:
    name: str
    weight: float
    term: Term
    schedule: Schedule = field(default_factory=Schedule)


class Recipe(nn.Module):
    """The weighted sum of terms, with the feature taps and auxiliary modules they need.

    The student and teacher are not submodules: the Recipe's state (auxiliary modules, memory
    banks) is saved in the training checkpoint, never in the exported student.
    """

    def __init__(self, terms: list[WeightedTerm]):
        super().__init__()
        self.names = [t.name for t in terms]
        self.weights = [float(t.weight) for t in terms]
        self.schedules = [t.schedule for t in terms]
        self.control: set[int] = set()  # the terms whose weight a controller moves
        self.epochs = 1  # the stage's epochs, which schedules span (set by the stage)
        # distill.weighting: how the terms are weighed against each other (losses/weighting.py)
        self.weighting: Weighting = Weighting(len(terms))
        # distill.control: the controlled term's weight (lambda), which its controller sets
        # between epochs (train/control.py; the controller's state, saved with the training
        # checkpoint, restores it on resume)
        self.register_buffer("controlled", torch.tensor(self.weights), persistent=False)
        self.terms = nn.ModuleList(t.term for t in terms)
        self.needs_index = any(t.needs_index for t in self.terms)
        self.needs_graph = any(t.needs_graph for t in self.terms)
        self._taps: tuple[FeatureTaps | None, FeatureTaps | None] = (None, None)
        self.teacher_cache = None  # a losses.teacher_cache.TeacherCache, set by the stage
        self.full_length: int | None = None  # texts: the data's max_length (set by bind)
        # texts: the axes of each tapped teacher output that run over positions (set by bind)
        self.token_axes: dict[str, list[int]] = {}

    def describe(self) -> str:
        return " + ".join(
            f"{w:g}*{n}"
            + ("" if s.constant else f" ({s.name}{''.join(f':{x:g}' for x in s.numbers)})")
            for n, w, s in zip(self.names, self.weights, self.schedules)
        )

    def weigh(self, weighting: Weighting) -> None:
        """Weigh the terms with `weighting` (distill.weighting: losses/weighting.py)."""
        self.weighting = weighting

    def combine(
        self, values: dict[str, torch.Tensor], epoch: int, params: Sequence[nn.Parameter] = ()
    ) -> torch.Tensor:
        """The total of the terms' `values` at `epoch` (`params`: the student's trainable
        parameters, which a gradient-based weighting reads)."""
        found = [values[n] for n in self.names]
        return self.weighting.combine(found, self.weights_at(epoch), epoch, params)

    def weights_at(self, epoch: int) -> list[Any]:
        """Each term's weight at 0-based `epoch`: its configured weight (a controlled term's:
        its controller's lambda, on the device) times its schedule."""
        return [
            (self.controlled[i] if i in self.control else w) * s.factor(epoch, self.epochs)
            for i, (w, s) in enumerate(zip(self.weights, self.schedules))
        ]

    def control_term(self, name: str) -> int:
        """Hand term `name`'s weight to a controller (distill.control): its index."""
        index = self.names.index(name)
        self.control.add(index)
        return index

    def scheduled(self, epoch: int) -> dict[str, Any]:
        """What moves with the epoch, for metrics.csv: `weight_<term>` of every scheduled term
        and what the terms report themselves (kd's temperature). Learned weights stay tensors
        on their device: this runs every step, and reading them back would wait for the device."""
        weights: list[Any] = self.weights_at(epoch)
        learned = self.weighting.factors()
        if learned is not None:  # the learned weights, as they stand
            weights = [w * learned[i] for i, w in enumerate(weights)]
        found = {
            f"weight_{n}": w
            for i, (n, w, s) in enumerate(zip(self.names, weights, self.schedules))
            if not s.constant or learned is not None or i in self.control
        }
        for name, term in zip(self.names, self.terms):
            for key, value in term.scheduled(epoch, self.epochs).items():
                found[f"{name}_{key}"] = value
        return found

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
        check_terms(student, dict(zip(self.names, self.terms)))
        self.full_length = int(input_shape[-1])
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
        self.token_axes = {}
        if t_names and getattr(teacher, "input_kind", None) == "text":
            shorter = output_shapes(teacher, (*input_shape[:-1], input_shape[-1] - 1), t_names)
            self.token_axes = {n: token_axes(shapes.teacher[n], shorter[n]) for n in t_names}
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
        mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The weighted total and each term's value for one batch (`mask`: which positions
        of padded inputs are real, for terms on per-token features)."""
        s_taps, t_taps = (
            taps.capture() if taps is not None else contextlib.nullcontext({})
            for taps in self._taps
        )
        if self.needs_graph:
            x = x.detach().requires_grad_(True)

        # texts: the teacher reads each batch at the data's full length, so its outputs for a
        # sample never depend on the batch's longest text: the cache holds what an uncached
        # run computes, bit for bit; per-token outputs are then cut to the batch's length
        texts = mask is not None and self.full_length is not None
        teacher_x = F.pad(x, (0, self.full_length - x.shape[-1])) if texts else x

        def teacher_pass() -> dict[str, torch.Tensor]:
            with torch.set_grad_enabled(self.needs_graph), t_taps as feats:
                logits = teacher(teacher_x)
            return {LOGITS: logits, **feats}

        cache = self.teacher_cache
        if cache is not None and index is not None:
            outputs = cache.lookup(index, teacher_pass)
        else:
            outputs = teacher_pass()
        if texts:
            outputs = cut(outputs, self.token_axes, int(x.shape[-1]))
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
            epochs=self.epochs,
            mask=mask,
            graph={"teacher_logits": teacher_logits, "teacher_features": dict(t_feats)},
        )
        terms = dict(zip(self.names, self.terms))
        if routing is None:
            values = {name: term(step) for name, term in terms.items()}
        else:  # a soft tree: its objective and penalty (losses/leafwise.py)
            values = tree_terms(student, routing, step, terms)
        params = (
            [p for p in student.parameters() if p.requires_grad]
            if self.weighting.reads_gradients
            else ()
        )
        total = self.combine(values, epoch, params)
        return total + values.get(PENALTY, 0.0), values
