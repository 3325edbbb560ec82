"""Typed, frozen specs of distillctl's own option groups, each field's default, rule and
meaning declared once (litgpt's config objects are the model), and `Specs`: everything a
run's config says, parsed once (the registry-chosen parts' specs are in parts.py).

`engine`, `distill` and `explain` are these dataclasses: their config nodes are made from the
defaults here (Hydra's ConfigStore, registered with the zoo in groups.config_dir), so
`--cfg job` shows them and `engine.compile=true` overrides them as before; `parse` reads a
composed config's nodes into the frozen specs, checking every rule, once per config (the
pre-check's specs are reused by the run: configuration/validate.py). Stages read the specs,
never write them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from distillctl.bounds import (
    BOOLEAN,
    NON_NEGATIVE_INT,
    OPTIONAL_POSITIVE_INT,
    POSITIVE,
    POSITIVE_INT,
    UNIT_POSITIVE,
    Bound,
    check,
    one_of,
)
from distillctl.configuration.parts import ModelSpec, OptimSpec, RecipeSpec, TrainerSpec

AT_LEAST_TWO = Bound("a whole number >= 2", lambda v: POSITIVE_INT.check(v) and v >= 2)


def option(default: Any, rule: Bound | Callable[[], Bound] | None, doc: str, example: Any = None):
    """A field: its default, its rule (or a function giving it, for a registry's names), what
    it means, and the example a message suggests (default: the default)."""
    return field(
        default=default,
        metadata={"rule": rule, "doc": doc, "example": default if example is None else example},
    )


def _transfers() -> Bound:
    from distillctl.data.transfer import TRANSFERS

    return one_of(*sorted(TRANSFERS))


def _weightings() -> Bound:
    from distillctl.losses.weighting import WEIGHTINGS

    return one_of(*WEIGHTINGS)


def _mixes() -> Bound:
    from distillctl.data.mix import MIXES

    return one_of("none", *sorted(MIXES))


@dataclass(frozen=True)
class EngineSpec:
    """distillctl's own run options (none of them a pytorch_lightning.Trainer argument)."""

    detect_nan: bool = option(
        True, BOOLEAN, "stop at the first NaN/Inf loss, naming the term and the step"
    )
    nan_check_every: int = option(
        1,
        POSITIVE_INT,
        "read the NaN guard's flags every N steps (one host sync each time; always before "
        "validation and at an epoch's end, so no checkpoint holds broken weights)",
        example=50,
    )
    channels_last: bool = option(
        False, BOOLEAN, "NHWC memory format for the student's and teacher's convolutions"
    )
    compile: bool = option(
        False, BOOLEAN, "torch.compile student and teacher in place (checkpoints unchanged)"
    )
    compile_mode: str = option(
        "default",
        one_of("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"),
        "torch.compile's mode",
    )
    compile_backend: str = option(
        "inductor", None, "torch.compile's backend (eager / aot_eager check the path)"
    )


def _control_explainers() -> Bound:
    from distillctl.explain import EXPLAINERS

    return one_of(*sorted(EXPLAINERS))


OPTIONAL_NUMBER = Bound(
    "a number, or null",
    lambda v: v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)),
)
OPTIONAL_NON_NEGATIVE = Bound(
    "a number >= 0, or null",
    lambda v: v is None or (OPTIONAL_NUMBER.check(v) and v >= 0),
)


@dataclass(frozen=True)
class ControlSpec:
    """The agreement controller (distillctl/train/control.py): the weight lambda of one term
    moved by dual ascent on `agreement >= agreement_target`, measured on a fixed validation
    subset during training; the same measure is the run's `val_agreement`."""

    term: str | None = option(
        None,
        None,
        "the loss term whose weight the controller moves (null: no controller)",
        example="e2kd",
    )
    agreement_target: float | None = option(
        None,
        OPTIONAL_NUMBER,
        "the agreement to hold: in [-1, 1] for spearman and cosine, [0, 1] for topk",
        example=0.8,
    )
    measure: str = option(
        "spearman",
        one_of("spearman", "topk", "cosine"),
        "the agreement measure (explain/agreement.py), per input, averaged over the subset",
    )
    eta: float = option(
        1.0, POSITIVE, "the dual step: lambda <- max(0, lambda + eta (target - agreement))"
    )
    initial: float | None = option(
        None, OPTIONAL_NON_NEGATIVE, "lambda at the start (null: the term's configured weight)"
    )
    every_n_epochs: int = option(1, POSITIVE_INT, "a check at the start of every N-th epoch")
    explainer: str = option(
        "captum_saliency",
        _control_explainers,
        "the explainer of the checks (its configs/explainer/ defaults; cheap ones: "
        "captum_saliency, or captum_ig with few steps)",
    )
    steps: int = option(8, POSITIVE_INT, "the explainer's n_steps where it has one (captum_ig)")
    subset: int = option(
        64, POSITIVE_INT, "validation inputs explained per check: the split's first ones, fixed"
    )


@dataclass(frozen=True)
class DistillSpec:
    """What a distillation trains on besides the labelled training split
    (distillctl/data/transfer.py); the teacher, validation and test stay the labelled data's."""

    transfer: str = option(
        "none",
        _transfers,
        "none | generated (fresh inputs from the data set's generator: MNIST-1D) | augment "
        "(consistent views: augmentation + mixing, the same tensor to teacher and student) | "
        "unlabeled (distill.unlabeled_path: a .npy/.pt file of inputs or a folder of images)",
    )
    transfer_samples: int = option(
        0, NON_NEGATIVE_INT, "generated: how many inputs to draw", example=100000
    )
    transfer_seed: int = option(
        1, None, "generated: the generator's seed (never the data's generator_seed)"
    )
    mix: str = option(
        "none",
        _mixes,
        "augment: mixing between inputs, lam ~ Beta(mix_alpha, mix_alpha); mixed inputs have no "
        "label, so label terms (ce) skip them (function matching)",
    )
    mix_alpha: float = option(1.0, POSITIVE, "the Beta distribution's parameter of distill.mix")
    unlabeled_path: str | None = option(
        None, None, "unlabeled: a .npy / .pt file of inputs, or a folder of images"
    )
    max_epochs: int | None = option(
        None,
        OPTIONAL_POSITIVE_INT,
        "epochs of the distill stage (null: trainer.max_epochs); a transfer set many times the "
        "training split needs fewer passes over it",
        example=10,
    )
    weighting: str = option(
        "fixed",
        _weightings,
        "fixed (each term's weight and schedule) | uncertainty (Kendall et al. 2018, LibMTL "
        "UW.py: one learned log-variance s per term, total = sum(w L / (2 e^s) + s / 2)) | "
        "gradnorm (Chen et al. 2018, LibMTL GradNorm.py: weights T softmax(s) learned so each "
        "term's gradient norm on the student follows its training rate; losses/weighting.py)",
    )
    gradnorm_alpha: float = option(
        1.5, POSITIVE, "gradnorm: the restoring force alpha (LibMTL's default 1.5)"
    )
    control: ControlSpec = field(default_factory=ControlSpec, metadata={"doc": ControlSpec.__doc__})
    align: str = option(
        "tokens",
        one_of("tokens", "words"),
        "texts: tokens (teacher and student read the data's token ids) | words (the teacher "
        "reads the texts with the tokenizer it was trained with, the student with the data's; "
        "agreement and the report compare whitespace words: data/aligned.py)",
    )


@dataclass(frozen=True)
class QualitySpec:
    """Each model's explanation quality (distillctl/explain/faithfulness.py)."""

    baseline: str = option(
        "zero", one_of("zero", "mean"), "what a removed feature becomes (mean: of the background)"
    )
    steps: int = option(
        32, POSITIVE_INT, "deletion/insertion curves: features moved in this many equal chunks"
    )
    subsets: int = option(
        64, AT_LEAST_TWO, "faithfulness correlation: random feature subsets per input"
    )
    subset_fraction: float = option(
        0.1, UNIT_POSITIVE, "faithfulness correlation: each subset's fraction of the features"
    )
    sanity: bool = option(
        True, BOOLEAN, "parameter-randomisation sanity check (a randomised copy explained once)"
    )
    cascading: bool = option(
        False,
        BOOLEAN,
        "also the cascading version (Adebayo et al. 2018): layers re-initialised one by one "
        "from the top, one explanation and figure per depth",
    )


@dataclass(frozen=True)
class ExplainSpec:
    """The explain stage: which run, which inputs, which measures."""

    run: str = option(
        "latest", None, "a distill run folder, or latest (the newest finished distill run)"
    )
    num_inputs: int = option(64, POSITIVE_INT, "test inputs explained per model")
    background: int = option(
        100, POSITIVE_INT, "training inputs used as the explainers' background"
    )
    target: str = option(
        "label",
        one_of("label", "teacher_pred"),
        "the class explained: the true one, or the teacher's prediction",
    )
    top_k_fraction: float = option(
        0.1,
        UNIT_POSITIVE,
        "top-k agreement uses the k = ceil(top_k_fraction * features) largest |attributions|",
    )
    levels: bool = option(
        True,
        BOOLEAN,
        "chance and ceiling of every agreement measure (distillctl/explain/levels.py)",
    )
    num_figures: int = option(
        6, NON_NEGATIVE_INT, "input pictures in the report (the metrics use all num_inputs)"
    )
    quality: QualitySpec = field(default_factory=QualitySpec, metadata={"doc": QualitySpec.__doc__})


# the option groups made from specs: config group (and its node's key) -> spec
GROUPS: dict[str, type] = {"engine": EngineSpec, "distill": DistillSpec, "explain": ExplainSpec}


def defaults(spec: type) -> dict[str, Any]:
    """A spec's defaults as a config node."""
    return dataclasses.asdict(spec())


def register_nodes() -> None:
    """Offer every spec's defaults as `<group>=default` (Hydra's ConfigStore)."""
    from hydra.core.config_store import ConfigStore

    store = ConfigStore.instance()
    for group, spec in GROUPS.items():
        store.store(group=group, name="default", node=defaults(spec))


def parse(spec: type, node: Any, prefix: str) -> Any:
    """The frozen `spec` of a config node, every rule checked (ConfigError naming the key)."""
    values = {}
    for f in dataclasses.fields(spec):
        key = f"{prefix}.{f.name}"
        given = node.get(f.name) if node is not None else None
        nested = f.default_factory
        if nested is not dataclasses.MISSING and dataclasses.is_dataclass(nested):
            values[f.name] = parse(nested, given, key)
            continue
        value = f.default if node is None or f.name not in node else given
        rule = f.metadata.get("rule")
        if rule is not None:
            bound = rule() if callable(rule) else rule  # a function gives a registry's names
            check(key, value, bound.eg(f.metadata["example"]))
        values[f.name] = value
    return spec(**values)


@dataclass(frozen=True)
class Specs:
    """A run config's specs, parsed once: what stages read instead of the config's nodes."""

    engine: EngineSpec
    distill: DistillSpec
    explain: ExplainSpec
    # the selected loss terms (a train stage reads ce's label smoothing from them)
    recipe: RecipeSpec | None = None
    # every stage's optimiser, and the teacher's own (None: teacher_optim=same)
    optim: OptimSpec | None = None
    teacher_optim: OptimSpec | None = None
    # the two networks, and the Trainer's arguments
    teacher: ModelSpec | None = None
    student: ModelSpec | None = None
    trainer: TrainerSpec | None = None
    # distill stage: where the teacher's weights come from (None where no teacher_ckpt)
    teacher_source: Any = None


def parse_all(cfg: Any) -> Specs:
    """Every spec of a (resolved) run config, each rule checked."""
    from types import MappingProxyType

    from distillctl.configuration.parts import TrainerSpec, parse_model, parse_optim, parse_recipe
    from distillctl.configuration.plain import plain
    from distillctl.runfolder.teacher_source import TeacherSource

    args = dict(plain(cfg.get("trainer")) or {})
    knobs = {f.name for f in dataclasses.fields(EngineSpec)}
    moved = {k: args.pop(k) for k in list(args) if k in knobs}
    nodes = {group: cfg.get(group) for group in GROUPS}
    if moved and nodes["engine"] is None:  # a run folder's config from before engine: existed
        nodes["engine"] = moved
    elif moved:
        from distillctl.errors import ConfigError

        key = next(iter(moved))
        raise ConfigError(
            f"trainer.{key} is not a pytorch_lightning.Trainer argument",
            f"pass engine.{key}={moved[key]} (distillctl's own run options are under engine:)",
        )
    groups = {group: parse(spec, nodes[group], group) for group, spec in GROUPS.items()}
    teacher = None
    if "teacher_ckpt" in cfg:
        teacher = TeacherSource.parse(cfg.get("teacher_ckpt"), cfg.get("teacher_checkpoint"))
    recipe = parse_recipe(cfg.get("loss")) if "loss" in cfg else None
    optims = {k: parse_optim(cfg.get(k)) for k in ("optim", "teacher_optim")}
    models = {role: parse_model(cfg.get(role)) for role in ("teacher", "student")}
    trainer = TrainerSpec(MappingProxyType(args))
    return Specs(
        **groups, recipe=recipe, teacher_source=teacher, trainer=trainer, **optims, **models
    )


def describe(spec: type) -> str:
    """The first line of a spec's docstring: what `distillctl list` says of its group."""
    return (spec.__doc__ or "").strip().splitlines()[0]
