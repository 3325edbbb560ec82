"""Does every part of a run fit the data's input kind? Checked before any run folder exists,
from what each part declares (ArchFacts.kinds, TermFacts.kinds, ExplainerFacts.kinds,
AugmentFacts.kinds through data/augment.build, TransferFacts.mixes against the kind's dtype)
and the kind the data source declares (SourceFacts.kind; a source whose kind only its data
decides is checked when it is read).
Only the parts the stage uses are checked: `train teacher` on text data does not care about the
default image student.
"""

from __future__ import annotations

from typing import Any

from distillctl.errors import ConfigError

# the parts each stage uses
USES = {
    "train_teacher": ("teacher",),
    "train_student": ("student",),
    "distill_student": ("teacher", "student", "loss", "transfer"),
    "explain": ("explainer",),
    "run": ("teacher", "student", "loss", "transfer", "explainer"),
}


def data_kind(cfg: Any) -> str | None:
    from distillctl.data import SOURCES

    name = cfg.get("data", {}).get("name") if cfg.get("data") is not None else None
    return SOURCES.facts(str(name)).kind if name in SOURCES else None


def _refuse(what: str, kinds: tuple[str, ...], kind: str, name: str, fits: list[str]) -> None:
    raise ConfigError(
        f"{what} works on {' / '.join(kinds)} inputs, but data={name} gives {kind} inputs",
        f"for {kind} data choose one of: {', '.join(fits)}" if fits else "",
    )


def _check(registry, chosen: str, what: str, kind: str, data: str) -> None:
    if chosen not in registry:
        return  # an unknown name is its registry's own message
    kinds = registry.facts(chosen).kinds
    if kind not in kinds:
        fits = [n for n in sorted(registry) if kind in registry.facts(n).kinds]
        _refuse(what, kinds, kind, data, fits)


def explainer_fits(cfg: Any, specs: Any, kind: str, data: str) -> None:
    """The chosen explainer and its baselines take `kind` inputs."""
    from distillctl.explain import EXPLAINERS

    _check(EXPLAINERS, str(cfg.explainer.name), f"explainer={cfg.explainer.name}", kind, data)
    baselines_fit(cfg, specs, kind, data)


def baselines_fit(cfg: Any, specs: Any, kind: str, data: str) -> None:
    """explainer.baseline and explain.quality.baseline among those the kind can make."""
    from distillctl.inputs import kind as input_kind

    allowed = input_kind(kind).baselines
    chosen = {"explainer.baseline": cfg.explainer.get("baseline")}
    if specs.explain is not None:
        chosen["explain.quality.baseline"] = specs.explain.quality.baseline
    for key, value in chosen.items():
        if value is not None and str(value) not in allowed:
            raise ConfigError(
                f"{key}={value} has no meaning for {kind} inputs (data={data})",
                f"set {key}={' or '.join(allowed)}"
                + (": the [PAD] text keeping [CLS] and [SEP]" if kind == "text" else ""),
            )


def term_archs_fit(cfg: Any, name: str) -> None:
    """A term on a transformer's own layers (TermFacts.archs) between networks that have them."""
    from distillctl.losses import TERMS

    archs = TERMS.facts(name).archs if name in TERMS else None
    if not archs:
        return
    for role in ("teacher", "student"):
        arch = cfg.get(role, {}).get("arch") if cfg.get(role) is not None else None
        if arch is not None and str(arch) not in archs:
            raise ConfigError(
                f"loss={name} reads the hidden states and attention of {' / '.join(archs)} "
                f"networks, but {role}={arch} has none",
                f"use {role}=transformer, or a term on logits or pooled vectors (kd, fitnet, ...)",
            )


def architecture_fits(arch: str, kind: str, role: str, data: str) -> None:
    from distillctl.models import MODELS

    _check(MODELS, arch, f"{role}={arch}", kind, data)


def check(cfg: Any, specs: Any) -> None:
    """Refuse the first part of the run that does not take the data's inputs."""
    from distillctl.data.transfer import TRANSFERS
    from distillctl.losses import TERMS
    from distillctl.models import MODELS

    kind = data_kind(cfg)
    if kind is None:
        return
    data = str(cfg.data.name)
    uses = USES.get(str(cfg.get("stage")), ())
    for role in ("teacher", "student"):
        node = cfg.get(role)
        if role in uses and node is not None and node.get("arch") is not None:
            architecture_fits(str(node.arch), kind, role, data)
            fits = MODELS.facts(str(node.arch)).fits_data if node.arch in MODELS else None
            if fits is not None:
                fits(dict(node), cfg, role)
    if "loss" in uses and specs.recipe is not None:
        for term in specs.recipe.terms:
            _check(TERMS, term.name, f"loss={term.name}", kind, data)
            term_archs_fit(cfg, term.name)
    # `explain` explains a distill run on that run's data, whatever data group it composed:
    # its explainer is checked once that data is known (explainer_fits, stages/explain.py)
    if "explainer" in uses and cfg.get("explainer") is not None and cfg.get("stage") != "explain":
        explainer_fits(cfg, specs, kind, data)
    if "transfer" in uses:
        from distillctl.data import augment
        from distillctl.inputs import kind as input_kind

        augment.build(cfg.data.get("augment"), kind)  # the one check of augmentations' kinds
        mixing = TRANSFERS.facts(specs.distill.transfer).mixes if specs.distill else False
        dtype = input_kind(kind).dtype
        if mixing and str(specs.distill.mix) != "none" and dtype and not dtype.is_floating_point:
            raise ConfigError(
                f"distill.mix={specs.distill.mix} mixes inputs, but {kind} inputs are integer "
                f"({dtype}): token ids cannot be mixed",
                "set distill.mix=none (data.augment's options for this data: "
                + ", ".join(
                    n for n in sorted(augment.AUGMENTS) if kind in augment.AUGMENTS.facts(n).kinds
                )
                + ")",
            )
