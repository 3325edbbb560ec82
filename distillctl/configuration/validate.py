"""Config validation in one place: every bad value is reported by name, with an example of a
good one, before any training starts (and before a run folder is made)."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from distillctl.bounds import (
    ANY_INT,
    CLASSES,
    OPEN_UNIT,
    OPTIONAL_POSITIVE_INT,
    POSITIVE_INT,
    Bound,
    check,
    check_options,
    one_of,
    whole_one_of,
)
from distillctl.configuration.plain import plain
from distillctl.configuration.specs import Specs, parse_all
from distillctl.errors import ConfigError
from distillctl.train.objective import OBJECTIVES

# key (dotted), rule, an example of a good value. Keys absent from a config are skipped.
# Values no loss term or explainer owns; those declare their own bounds (losses.register,
# explain.register) and are checked for the selected ones below.
RULES: tuple[tuple[str, Bound, str], ...] = (
    ("seed", ANY_INT, "0"),
    ("trainer.max_epochs", POSITIVE_INT, "30"),
    ("data.batch_size", POSITIVE_INT, "64"),
    ("data.val_fraction", OPEN_UNIT, "0.1"),
    ("data.test_fraction", OPEN_UNIT, "0.2"),
    ("data.num_samples", POSITIVE_INT, "5000"),
    ("data.train_split", OPEN_UNIT, "0.8"),
    ("data.subset", OPTIONAL_POSITIVE_INT, "1000"),
    # data=image_folder: null keeps the images' own size
    ("data.image_size", OPTIONAL_POSITIVE_INT, "32"),
    ("data.channels", whole_one_of(1, 3, what="1 (grey) or 3 (RGB)"), "3"),
    # null: counted from the data (a CSV's target column, an image folder's class folders)
    *((f"{k}.num_classes", CLASSES, "10") for k in ("data", "teacher", "student")),
    ("eval_checkpoint", one_of("best", "last"), "best"),
    ("teacher_checkpoint", one_of("best", "last"), "best"),
    (
        "teacher_cache",
        Bound("auto, true or false", lambda v: str(v).lower() in ("auto", "true", "false")),
        "auto",
    ),
    ("teacher_cache_store", one_of("auto", "memory", "disk"), "auto"),
    (
        "objective",
        Bound(
            f"null, one of: {', '.join(OBJECTIVES)}, or a list of them (a multi-objective search)",
            lambda v: (
                v is None
                or (isinstance(v, str) and v in OBJECTIVES)
                or (
                    isinstance(v, (list, tuple, ListConfig))
                    and len(v) > 0
                    and all(o in OBJECTIVES for o in v)
                )
            ),
        ),
        "val_acc",
    ),
)


def registered() -> tuple[tuple[str, Bound, str], ...]:
    """Rules whose allowed values are a registry's names: read from the registry."""
    from distillctl.train.optim import OPTIMIZERS, SCHEDULES

    return (
        *(
            rule
            for group in ("optim", "teacher_optim")
            for rule in (
                (f"{group}.name", one_of(*sorted(OPTIMIZERS)), "sgd"),
                (f"{group}.scheduler", one_of(*sorted(SCHEDULES)), "cosine"),
            )
        ),
    )


def _matches(cfg: DictConfig, pattern: str) -> list[tuple[str, Any]]:
    """(key, value) of every key that `pattern` names; `*` stands for any one key."""
    found: list[tuple[str, Any]] = [("", cfg)]
    for part in pattern.split("."):
        step = []
        for prefix, node in found:
            if not isinstance(node, DictConfig):
                continue
            for key in node.keys() if part == "*" else [part] if part in node else []:
                step.append((f"{prefix}.{key}" if prefix else str(key), node[key]))
        found = step
    return found


def paths_exist(cfg: DictConfig) -> None:
    """What the data source needs is given and its files are there (its declared needs),
    before any run folder exists; teacher_ckpt is read by its TeacherSource (parse_all)."""
    data = cfg.get("data")
    if isinstance(data, DictConfig) and data.get("name") is not None:
        from distillctl.data import check_given

        check_given(data)


def _terms(specs: Specs) -> dict[str, Any]:
    """The selected loss terms' facts (losses.TermFacts), by name."""
    if specs.recipe is None:
        return {}
    from distillctl.losses import TERMS

    return {t.name: TERMS.facts(t.name, "loss") for t in specs.recipe.terms}


def state_per_process(specs: Specs) -> None:
    """A term that keeps state in each process (CRD's memory banks) cannot run on several: the
    states are not synchronised, so each process would train against a partial, diverging
    one."""
    trainer = specs.trainer.args if specs.trainer is not None else {}
    devices = trainer.get("devices", 1)
    nodes = int(trainer.get("num_nodes", 1) or 1)
    many = (
        (isinstance(devices, int) and devices > 1)
        or (isinstance(devices, (list, tuple)) and len(devices) > 1)
        or str(devices) == "-1"
        or nodes > 1
    )
    for name, facts in _terms(specs).items():
        if many and facts.process_state:
            raise ConfigError(
                f"loss={name} keeps its {facts.process_state} in each process, and with "
                f"trainer.devices={devices} (num_nodes={nodes}) they would not be synchronised",
                f"distil with {name} on one device (trainer.devices=1), or drop {name} from the "
                "loss",
            )


def transfer_fits(specs: Specs) -> None:
    """distill.* settings that only make sense together (distillctl/data/transfer.py)."""
    from distillctl.data.transfer import TRANSFERS

    transfer, mix = specs.distill.transfer, specs.distill.mix
    facts = TRANSFERS.facts(transfer)
    if mix != "none" and not facts.mixes:
        mixing = ", ".join(f"distill.transfer={n}" for n in TRANSFERS if TRANSFERS.facts(n).mixes)
        raise ConfigError(
            f"distill.mix={mix} mixes consistent views, but distill.transfer={transfer}",
            f"add {mixing}, or drop distill.mix",
        )
    for name, term in _terms(specs).items():
        if facts.unlabelled and term.needs_every_class:
            raise ConfigError(
                f"loss={name} reads the class of every sample (negatives from other classes), "
                f"and distill.transfer={transfer} adds inputs without a class",
                f"distil with {name} on the labelled split (distill.transfer=none), or drop {name}",
            )


def alignment_fits(cfg: DictConfig, specs: Specs) -> None:
    """distill.align=words (data/aligned.py): texts, a trained teacher, terms that compare the
    networks text by text (on logits), no transfer set; checked where a stage distils."""
    if specs.distill is None or specs.distill.align != "words":
        return
    key = "distill.align=words"
    if str(cfg.get("stage")) == "run":
        raise ConfigError(
            f"{key} distils from a teacher trained with another tokenizer, and `run` trains its "
            "teacher on this data's tokenizer",
            "train the teacher with its own (`distillctl train teacher data.tokenizer=model "
            "...`), then `distillctl distill student distill.align=words teacher_ckpt=<its run>`",
        )
    if str(cfg.get("stage")) != "distill_student":
        return
    from distillctl.configuration.kinds import data_kind
    from distillctl.losses import TERMS
    from distillctl.losses.base import Term

    if data_kind(cfg) != "text":
        raise ConfigError(
            f"{key} aligns two tokenizations of texts, but data={cfg.data.name} gives "
            f"{data_kind(cfg)} inputs",
            "drop distill.align (tokens is the default)",
        )
    if specs.teacher_source is not None and specs.teacher_source.kind == "none":
        raise ConfigError(
            f"{key} reads the texts with the tokenizer the teacher was trained with, and "
            "teacher_ckpt=none has none recorded",
            "train the teacher first (`distillctl train teacher ...`) and give its run: "
            "teacher_ckpt=<run folder>",
        )
    for term in specs.recipe.terms if specs.recipe is not None else ():
        cls = TERMS[term.name] if term.name in TERMS else None
        if cls is not None and (cls.tapped is not Term.tapped or cls.needs_graph):
            raise ConfigError(
                f"loss={term.name} compares the networks' layers or input gradients position by "
                f"position, and with {key} the positions are tokens of two different tokenizers",
                "distil with terms on logits (kd, dkd, dist, lskd, ...), or use one tokenizer "
                "(distill.align=tokens)",
            )
    if specs.distill.transfer != "none":
        raise ConfigError(
            f"distill.transfer={specs.distill.transfer} gives the student inputs that are not "
            f"the data's texts, which the teacher cannot read with its own tokenizer ({key})",
            "drop distill.transfer, or use one tokenizer (distill.align=tokens)",
        )


def owned_options(cfg: DictConfig) -> None:
    """The selected loss terms', explainer's and optimisers' options, against the bounds each
    declares on its registration."""
    for group in ("optim", "teacher_optim"):  # every stage's, and the teacher's own if chosen
        node = cfg.get(group)
        if isinstance(node, DictConfig) and node.get("name"):
            from distillctl.train.optim import OPTIMIZERS, SCHEDULE_BOUNDS

            bounds = {**OPTIMIZERS.facts(str(node.name), f"{group}").bounds, **SCHEDULE_BOUNDS}
            check_options(group, dict(node), bounds)
    if isinstance(cfg.get("loss"), DictConfig):
        from distillctl.losses import term_bounds
        from distillctl.losses.schedules import parse

        for name, options in cfg.loss.items():
            if isinstance(options, DictConfig):
                for key, value in options.items():  # the schedule's own message first
                    if str(key).endswith("schedule"):
                        parse(value, f"loss.{name}.{key}")
                check_options(f"loss.{name}", dict(options), term_bounds(str(name)))
    if isinstance(cfg.get("explainer"), DictConfig) and cfg.explainer.get("name"):
        from distillctl.explain import explainer_bounds

        bounds = explainer_bounds(str(cfg.explainer.name))
        check_options("explainer", dict(cfg.explainer), bounds)


def _lookup(cfg: DictConfig, key: str) -> tuple[bool, Any]:
    node: Any = cfg
    for part in key.split("."):
        if not isinstance(node, DictConfig) or part not in node:
            return False, None
        node = node[part]
    return True, node


def architectures(cfg: DictConfig) -> None:
    """Each role's architecture: its options against the rules it declares (ArchFacts.options),
    and what it checks from the config alone (ArchFacts.early: a user's class imports, a timm
    name exists)."""
    from distillctl.models import MODELS, NON_BUILD_KEYS, check_options
    from distillctl.models.init_from_teacher import check_choice
    from distillctl.registry import checked_options

    for role in ("teacher", "student"):
        spec = cfg.get(role)
        arch = spec.get("arch") if isinstance(spec, DictConfig) else None
        if arch is None:
            continue
        node = plain(spec)
        check_options(str(arch), node, role)
        check_choice(node, role)
        if arch in MODELS:  # an option the builder does not take, before any run folder
            builder = MODELS.get(str(arch))
            given = {k: v for k, v in node.items() if k not in NON_BUILD_KEYS}
            checked_options(builder, given, role, f"the '{arch}' architecture")
        early = MODELS.facts(str(arch), f"{role} architecture").early
        if early is not None:
            early(node, role)


# specs already parsed in this process, by the config they came from: the pre-check's are the
# run's (Hydra composes the same config again to start it), so a config is validated once
_PARSED: dict[str, Specs] = {}


def _key(resolved: DictConfig) -> str:
    without = {k: v for k, v in resolved.items() if k != "hydra"}
    return OmegaConf.to_yaml(OmegaConf.create(without))


def validate(cfg: DictConfig) -> Specs:
    """The config's specs; a ConfigError for the first value that breaks its rule. A config
    already validated in this process is not validated again."""
    resolved = OmegaConf.create(plain(cfg))
    key = _key(resolved)
    if key not in _PARSED:
        _PARSED[key] = _checked(resolved)
    return _PARSED[key]


def _checked(resolved: DictConfig) -> Specs:
    for rules in (RULES, registered):  # the registries' names only after the plain rules
        for pattern, bound, example in rules() if callable(rules) else rules:
            for key, value in _matches(resolved, pattern):
                check(key, value, bound.eg(example))
    architectures(resolved)
    paths_exist(resolved)
    owned_options(resolved)
    specs = parse_all(resolved)
    state_per_process(specs)
    transfer_fits(specs)
    alignment_fits(resolved, specs)
    from distillctl.configuration import kinds
    from distillctl.train import loggers

    kinds.check(resolved, specs)

    loggers.check(resolved)
    classes = _lookup(resolved, "data.num_classes")[1]
    for role in ("teacher", "student"):
        present, value = _lookup(resolved, f"{role}.num_classes")
        if present and value != classes:
            raise ConfigError(
                f"{role}.num_classes={value} but data '{resolved.data.name}' has {classes} classes",
                f"drop the {role}.num_classes override (it follows data.num_classes)",
            )
    if specs.distill is not None and (
        specs.distill.control.term is not None
        or specs.distill.control.agreement_target is not None
        or resolved.get("objective") is not None
    ):  # the controller's checks (train/control.py) import torch: only when asked for
        from distillctl.train import control

        control.check_config(resolved, specs)
    return specs
