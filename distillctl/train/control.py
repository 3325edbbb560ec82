"""Explanation agreement during training: a probe that measures it, and a controller that holds
the student to a target agreement with its teacher (`distill.control.*`).

The probe explains teacher and student on a fixed subset of the *validation* split (its first
`distill.control.subset` inputs; the test split is never seen) with a cheap explainer
(`distill.control.explainer`, its configs/explainer/ defaults, `n_steps` from
`distill.control.steps`), and averages one agreement measure of explain/agreement.py over the
inputs where it is defined. The class explained is `explain.target`'s, as in `explain`.

The controller treats "agreement >= target" as a constraint on maximising accuracy and moves
the controlled term's weight lambda by dual ascent (projected gradient ascent on the Lagrange
multiplier; e.g. Boyd & Vandenberghe, Convex Optimization, section 5.5):

    lambda <- max(0, lambda + eta (target - agreement))

at the start of every `every_n_epochs`-th epoch (epoch 0 included), on the student as the
previous epochs left it: a run resumed from an epoch's checkpoint measures the same weights
again and replays the same lambda. The agreement, lambda and the seconds each check took are
metrics.csv's `control/agreement`, `control/lambda` (the weight used from this epoch on) and
`control/seconds`; the checks' share of the training time is in run.json.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import Callback
from torch import nn

from distillctl.configuration.specs import ControlSpec, ExplainSpec
from distillctl.errors import ConfigError

# the stages that distil a student (and so may control one)
DISTILLING = ("distill_student", "run")
# each measure's range: a target outside it can never be met (or is always met)
RANGES = {"spearman": (-1.0, 1.0), "cosine": (-1.0, 1.0), "topk": (0.0, 1.0)}


def explainer_config(spec: ControlSpec) -> DictConfig:
    """The control explainer's configuration: its configs/explainer/<name>.yaml, with
    `n_steps` set to `spec.steps` where it has one."""
    from distillctl.configuration.groups import config_dir

    node = OmegaConf.load(config_dir() / "explainer" / f"{spec.explainer}.yaml")
    if "n_steps" in node:
        node.n_steps = int(spec.steps)
    return node


@dataclass
class Probe:
    """The fixed validation inputs and how agreement is measured on them."""

    inputs: torch.Tensor
    labels: torch.Tensor
    background: torch.Tensor
    explainer: DictConfig
    measure: str
    target: str  # explain.target: label | teacher_pred
    top_k_fraction: float
    _teacher_maps: np.ndarray | None = None
    _targets: torch.Tensor | None = None

    @classmethod
    def of(
        cls, splits, control: ControlSpec, explain: ExplainSpec, seed: int, split: str = "val"
    ) -> Probe:
        """The first `control.subset` inputs of `split` (validation; benchmarks measure the
        same on test afterwards) and a seeded training background."""
        from distillctl.explain.pipeline import background_rows

        labels = np.asarray(getattr(splits, f"y_{split}"))
        n = min(int(control.subset), len(labels))
        return cls(
            inputs=torch.from_numpy(splits.inputs(split, slice(0, n))),
            labels=torch.from_numpy(labels[:n]),
            background=torch.from_numpy(
                splits.inputs("train", background_rows(splits, explain, seed))
            ),
            explainer=explainer_config(control),
            measure=control.measure,
            target=explain.target,
            top_k_fraction=float(explain.top_k_fraction),
        )

    def _explain(self, model: nn.Module, device: torch.device) -> np.ndarray:
        from distillctl.explain import get_explainer
        from distillctl.explain.pipeline import explained_form

        form = explained_form(model)
        was = form.training
        form.eval()
        try:
            with torch.enable_grad(), warnings.catch_warnings():
                # captum: "Input Tensor 0 did not already require gradients" (it sets it)
                warnings.filterwarnings("ignore", message=".*require gradients.*")
                found = get_explainer(self.explainer.name)(
                    form,
                    self.inputs.to(device),
                    self._targets.to(device),
                    self.background.to(device),
                    self.explainer,
                )
        finally:
            form.train(was)
        return found.detach().cpu().numpy()

    def _explain_for_check(self, model: nn.Module) -> np.ndarray:
        """Explain the probe's inputs for their labels with `model` (validation's dry run)."""
        self._targets = self.labels
        return self._explain(model, torch.device("cpu"))

    def agreement(self, teacher: nn.Module, student: nn.Module) -> float:
        """The mean agreement of the student's maps with the teacher's on the subset (the
        teacher's maps are computed once: it is frozen). NaN when no input has one."""
        from distillctl.explain import signed_maps
        from distillctl.explain.agreement import agreement
        from distillctl.inputs import kind_of

        device = next(student.parameters()).device
        if self._targets is None:
            with torch.no_grad():
                predicted = teacher(self.inputs.to(device)).argmax(-1).cpu()
            self._targets = self.labels if self.target == "label" else predicted
        if self._teacher_maps is None:
            self._teacher_maps = self._explain(teacher, device)
        mask = kind_of(self.inputs).mask(self.inputs)
        rows = agreement(
            self._teacher_maps,
            self._explain(student, device),
            self.top_k_fraction,
            signed_maps(self.explainer),
            None if mask is None else mask.numpy(),
        )[self.measure]
        values = np.asarray(rows, np.float64)
        values = values[~np.isnan(values)]
        return float(values.mean()) if values.size else float("nan")


class AgreementControl(Callback):
    """The dual-ascent controller of one term's weight (see the module's docstring)."""

    def __init__(self, probe: Probe, spec: ControlSpec, index: int, initial: float):
        self.probe = probe
        self.spec = spec
        self.index = int(index)
        self.value = float(initial)  # lambda
        self.checks: list[dict[str, float]] = []
        self.seconds = 0.0
        self.started = 0.0
        self.fit_seconds = 0.0
        self.final: dict[str, Any] | None = None

    def state_dict(self) -> dict[str, Any]:
        return {
            "lambda": self.value,
            "checks": list(self.checks),
            "seconds": self.seconds,
            "fit_seconds": self.fit_seconds + time.perf_counter() - self.started,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.value = float(state["lambda"])
        self.checks = list(state.get("checks", []))
        self.seconds = float(state.get("seconds", 0.0))
        self.fit_seconds = float(state.get("fit_seconds", 0.0))

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.started = time.perf_counter()
        self._apply(pl_module)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.fit_seconds += time.perf_counter() - self.started
        # testing a checkpoint restores the callbacks' states saved in it (the best epoch's):
        # what training did is kept here first
        self.final = self.summary()

    def _apply(self, pl_module: pl.LightningModule) -> None:
        pl_module.recipe.controlled[self.index] = self.value

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        epoch = trainer.current_epoch
        if epoch % int(self.spec.every_n_epochs):
            return
        began = time.perf_counter()
        found = self.probe.agreement(pl_module.teacher, pl_module.model)
        target = float(self.spec.agreement_target)
        if not math.isnan(found):  # no defined agreement: lambda stays
            self.value = max(0.0, self.value + float(self.spec.eta) * (target - found))
        self._apply(pl_module)
        took = time.perf_counter() - began
        self.seconds += took
        self.checks.append({"epoch": epoch, "agreement": found, "lambda": self.value})
        device = pl_module.recipe.controlled.device
        values = {"agreement": found, "lambda": self.value, "seconds": took}
        pl_module.accumulate(
            "control", {k: torch.tensor(v, device=device) for k, v in values.items()}, 1
        )

    def summary(self) -> dict[str, Any]:
        """What run.json records: every check, and the checks' share of the training time
        (as training ended, whatever checkpoint was restored since)."""
        if self.final is not None:
            return self.final
        return {
            "term": self.spec.term,
            "target": self.spec.agreement_target,
            "measure": self.spec.measure,
            "explainer": dict(self.probe.explainer),
            "subset": int(len(self.probe.inputs)),
            "checks": self.checks,
            "lambda": self.value,
            "seconds": round(self.seconds, 3),
            "fit_seconds": round(self.fit_seconds, 3),
            "share_of_training": (
                round(self.seconds / self.fit_seconds, 4) if self.fit_seconds > 0 else None
            ),
        }


def measured(cfg: Any, spec: ControlSpec) -> bool:
    """Whether a distillation measures agreement on the validation probe: a controller is
    set, or a search's objective reads `val_agreement`."""
    objective = cfg.get("objective")
    names = [objective] if objective is None or isinstance(objective, str) else list(objective)
    return spec.term is not None or "val_agreement" in names


def build(cfg: Any, specs: Any, splits, recipe) -> tuple[Probe | None, tuple[Callback, ...]]:
    """The distillation's probe (None when nothing measures agreement) and its controller
    callback (none without `distill.control.term`); the controlled term is handed over."""
    spec = specs.distill.control
    if not measured(cfg, spec):
        return None, ()
    probe = Probe.of(splits, spec, specs.explain, int(cfg.seed))
    if spec.term is None:
        return probe, ()
    index = recipe.control_term(spec.term)
    initial = recipe.weights[index] if spec.initial is None else float(spec.initial)
    return probe, (AgreementControl(probe, spec, index, initial),)


def check_terms(specs: Any) -> None:
    """The controller's options fit the recipe (from the config alone)."""
    spec = specs.distill.control
    names = [t.name for t in specs.recipe.terms] if specs.recipe is not None else []
    if spec.term is None:
        if spec.agreement_target is not None:
            raise ConfigError(
                f"distill.control.agreement_target={spec.agreement_target} is set, but no "
                "distill.control.term names the loss term whose weight would hold it",
                f"add distill.control.term=<one of: {', '.join(names)}>, or drop the target",
            )
        return
    if spec.term not in names:
        raise ConfigError(
            f"distill.control.term={spec.term} is not a term of the recipe "
            f"(loss=[{','.join(names)}])",
            f"control one of: {', '.join(names)}; or add it: "
            f"loss=[{','.join([*names, spec.term])}]",
        )
    low, high = RANGES[spec.measure]
    if spec.agreement_target is None:
        raise ConfigError(
            f"distill.control.term={spec.term} needs the agreement to hold",
            f"set distill.control.agreement_target (a {spec.measure} value in [{low:g}, "
            f"{high:g}], e.g. 0.5)",
        )
    if not low <= float(spec.agreement_target) <= high:
        raise ConfigError(
            f"distill.control.agreement_target={spec.agreement_target} is outside "
            f"[{low:g}, {high:g}], the range of distill.control.measure={spec.measure}",
            f"set a target in [{low:g}, {high:g}]",
        )
    if specs.distill.align == "words":
        raise ConfigError(
            "distill.control compares teacher and student maps input by input, and with "
            "distill.align=words their inputs are tokens of two tokenizers",
            "drop distill.control, or use one tokenizer (distill.align=tokens)",
        )


def check_config(cfg: Any, specs: Any) -> None:
    """Everything of `distill.control` checked before any run folder: its options against the
    recipe, and, where a distillation will measure agreement, the explainer against the data
    and both networks (two validation inputs explained) and the subset against the
    validation split (the data is read for it)."""
    if specs.distill is None or str(cfg.get("stage")) not in DISTILLING:
        return  # the stages that do not distil never read distill.control
    check_terms(specs)
    spec = specs.distill.control
    if not measured(cfg, spec):
        return
    from distillctl.configuration.kinds import _check, data_kind
    from distillctl.data import build_splits
    from distillctl.explain import EXPLAINERS

    key = f"distill.control.explainer={spec.explainer}"
    kind = data_kind(cfg)
    if kind is not None:
        _check(EXPLAINERS, spec.explainer, key, kind, str(cfg.data.name))
    splits = build_splits(cfg.data, cfg.paths.data_dir)
    size = len(splits.y_val)
    if spec.subset > size:
        raise ConfigError(
            f"distill.control.subset={spec.subset} is larger than the validation split "
            f"({size} inputs of data={cfg.data.name})",
            f"set distill.control.subset={size} or fewer (or raise data.val_fraction)",
        )
    dry_run(cfg, specs, splits, key)


def dry_run(cfg: Any, specs: Any, splits, key: str) -> None:
    """Explain two validation inputs with freshly built teacher and student networks: an
    explainer that cannot explain them (Grad-CAM on an MLP) is refused now."""
    from distillctl.errors import DistillctlError
    from distillctl.models import create_model

    vocab = splits.report.get("vocab_size") if isinstance(splits.report, dict) else None
    spec = specs.distill.control
    probe = Probe.of(splits, dataclasses.replace(spec, subset=2), specs.explain, int(cfg.seed))
    probe.background = probe.background[:2]
    with torch.random.fork_rng():
        nets = {
            role: create_model(
                getattr(specs, role).node(splits.num_classes, vocab), splits.input_shape, role
            )
            for role in ("teacher", "student")
        }
        for role, net in nets.items():
            try:
                probe._explain_for_check(net)
            except DistillctlError as exc:
                raise ConfigError(
                    f"{key} cannot explain the {role} ({getattr(specs, role).arch}): {exc.problem}",
                    "choose an explainer that fits both networks, e.g. "
                    "distill.control.explainer=captum_saliency (or captum_ig)",
                ) from None
