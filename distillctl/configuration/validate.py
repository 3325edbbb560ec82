"""Config validation in one place: every bad value is reported by name, with an example of a
good one, before any training starts (and before a run folder is made)."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf

from distillctl.bounds import (
    ANY_INT,
    BOOLEAN,
    CLASSES,
    NON_NEGATIVE,
    NON_NEGATIVE_INT,
    OPEN_UNIT,
    OPTIONAL_POSITIVE_INT,
    POSITIVE,
    POSITIVE_INT,
    UNIT_POSITIVE,
    Bound,
    check,
    check_options,
    one_of,
    whole_between,
    whole_one_of,
)
from distillctl.errors import ConfigError
from distillctl.train.objective import OBJECTIVES

AT_LEAST_TWO = Bound("a whole number >= 2", lambda v: POSITIVE_INT.check(v) and v >= 2)

# An architecture's own options, checked where a role (teacher, student) chooses it: option,
# rule, example. Only there: a user's network (teacher=custom) may take a `depth` of its own.
# The builder checks the same table (models/soft_tree.py), for models built outside a run.
ARCH_OPTIONS: dict[str, tuple[tuple[str, Bound, str], ...]] = {
    "soft_tree": (
        # 12: 4095 inner nodes; beyond it the leaf-wise objective's memory grows too fast
        ("depth", whole_between(1, 12), "6"),
        ("beta", POSITIVE, "1.0"),
        ("penalty", NON_NEGATIVE, "0.1"),
        ("learn_beta", BOOLEAN, "false"),
        ("penalty_root_depth", whole_one_of(0, 1), "1"),
        ("penalty_last_level", BOOLEAN, "false"),
        ("prediction", one_of("max", "mixture"), "max"),
        ("objective", one_of("expected", "mixture"), "expected"),
    ),
}


# key (dotted), rule, an example of a good value. Keys absent from a config are skipped.
# Values no loss term or explainer owns; those declare their own bounds (losses.register,
# explain.register) and are checked for the selected ones below.
RULES: tuple[tuple[str, Bound, str], ...] = (
    ("seed", ANY_INT, "0"),
    ("trainer.max_epochs", POSITIVE_INT, "30"),
    ("trainer.channels_last", BOOLEAN, "true"),
    ("trainer.nan_check_every", POSITIVE_INT, "50"),
    ("trainer.compile", BOOLEAN, "true"),
    (
        "trainer.compile_mode",
        one_of("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"),
        "default",
    ),
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
    # the optimiser of every stage, and the teacher's own when teacher_optim is chosen
    *(
        rule
        for group in ("optim", "teacher_optim")
        for rule in (
            (f"{group}.name", one_of("adamw", "sgd"), "sgd"),
            (f"{group}.lr", POSITIVE, "0.05"),
            (f"{group}.weight_decay", NON_NEGATIVE, "5e-4"),
            (f"{group}.momentum", NON_NEGATIVE, "0.9"),
            (f"{group}.nesterov", BOOLEAN, "false"),
            (f"{group}.scheduler", one_of("cosine", "multistep", "none"), "cosine"),
            (f"{group}.gamma", POSITIVE, "0.1"),
            (f"{group}.warmup_epochs", NON_NEGATIVE_INT, "5"),
        )
    ),
    ("eval_checkpoint", one_of("best", "last"), "best"),
    ("teacher_checkpoint", one_of("best", "last"), "best"),
    (
        "teacher_cache",
        Bound("auto, true or false", lambda v: str(v).lower() in ("auto", "true", "false")),
        "auto",
    ),
    ("teacher_cache_store", one_of("auto", "memory", "disk"), "auto"),
    ("distill.transfer", one_of("none", "generated", "augment", "unlabeled"), "none"),
    ("distill.transfer_samples", NON_NEGATIVE_INT, "100000"),
    ("distill.mix", one_of("none", "mixup", "cutmix"), "none"),
    ("distill.mix_alpha", POSITIVE, "1.0"),
    ("distill.max_epochs", OPTIONAL_POSITIVE_INT, "10"),
    (
        "objective",
        Bound(f"null or one of: {', '.join(OBJECTIVES)}", lambda v: v is None or v in OBJECTIVES),
        "val_acc",
    ),
    ("explain.num_inputs", POSITIVE_INT, "64"),
    ("explain.background", POSITIVE_INT, "100"),
    ("explain.num_figures", NON_NEGATIVE_INT, "6"),
    ("explain.top_k_fraction", UNIT_POSITIVE, "0.1"),
    ("explain.target", one_of("label", "teacher_pred"), "label"),
    ("explain.quality.baseline", one_of("zero", "mean"), "zero"),
    ("explain.quality.steps", POSITIVE_INT, "32"),
    ("explain.quality.subsets", AT_LEAST_TWO, "64"),
    ("explain.quality.subset_fraction", UNIT_POSITIVE, "0.1"),
    ("explain.quality.sanity", BOOLEAN, "true"),
    ("explain.levels", BOOLEAN, "true"),
    ("explain.quality.cascading", BOOLEAN, "false"),
)


# architectures from outside (a user's class, timm, torchvision): their names are checked here,
# before any run folder exists
EXTERNAL = ("custom", "timm", "torchvision")
# data sources that read the user's files: the key naming them, and what it should be
PATH_KEYS = {
    "image_folder": ("root", "a folder of class folders, or a .tar/.tar.gz of one"),
    "csv": ("path", "a .csv file"),
}


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


def _missing(key: str, value: Any, what: str, how: str) -> ConfigError:
    return ConfigError(f"{key}={value} does not exist", f"point {key} at {what}; {how}")


def paths_exist(cfg: DictConfig) -> None:
    """Files the config names must be there: checked here, before any run folder exists."""
    from pathlib import Path

    data = cfg.get("data")
    if isinstance(data, DictConfig) and data.get("name") in PATH_KEYS:
        key, what = PATH_KEYS[data.name]
        value = data.get(key)
        if not value:
            raise ConfigError(f"data={data.name} needs data.{key}", f"pass data.{key}=<{what}>")
        if not Path(str(value)).expanduser().exists():
            how = data.get("source") or "relative paths start at the current folder"
            raise _missing(f"data.{key}", value, what, how)
        if data.name == "csv" and not data.get("target"):
            raise ConfigError("data=csv needs data.target", "pass data.target=<label column>")
    spec = cfg.get("teacher_ckpt")
    if spec not in (None, "latest", "none") and not Path(str(spec)).expanduser().exists():
        raise _missing(
            "teacher_ckpt",
            spec,
            "a teacher run folder, a .ckpt or a state_dict file",
            "or use teacher_ckpt=latest (train one with `distillctl train teacher`)",
        )


def banks_under_ddp(cfg: DictConfig) -> None:
    """CRD keeps per-sample memory banks in each process; they are not synchronised across
    processes, so a multi-process run would train against partial, diverging banks."""
    loss, trainer = cfg.get("loss"), cfg.get("trainer")
    if not isinstance(loss, DictConfig) or "crd" not in loss or not isinstance(trainer, DictConfig):
        return
    devices = trainer.get("devices", 1)
    many = (
        (isinstance(devices, int) and devices > 1)
        or (isinstance(devices, (list, tuple)) and len(devices) > 1)
        or str(devices) == "-1"
        or int(trainer.get("num_nodes", 1) or 1) > 1
    )
    if many:
        raise ConfigError(
            f"loss=crd keeps its memory banks in each process, and with trainer.devices={devices}"
            f" (num_nodes={trainer.get('num_nodes', 1)}) they would not be synchronised",
            "distil with crd on one device (trainer.devices=1), or drop crd from the loss",
        )


def transfer_fits(cfg: DictConfig) -> None:
    """distill.* settings that only make sense together (distillctl/data/transfer.py)."""
    distill = cfg.get("distill")
    if not isinstance(distill, DictConfig):
        return
    transfer = distill.get("transfer", "none")
    if distill.get("mix", "none") != "none" and transfer != "augment":
        raise ConfigError(
            f"distill.mix={distill.mix} mixes consistent views, but distill.transfer={transfer}",
            "add distill.transfer=augment, or drop distill.mix",
        )
    loss = cfg.get("loss")
    if transfer in ("generated", "unlabeled") and isinstance(loss, DictConfig) and "crd" in loss:
        raise ConfigError(
            f"loss=crd draws its negatives from other classes, and distill.transfer={transfer} "
            "adds inputs without a class",
            "distil with crd on the labelled split (distill.transfer=none), or drop crd",
        )


def owned_options(cfg: DictConfig) -> None:
    """The selected loss terms' and the explainer's options, against the bounds each declares."""
    if isinstance(cfg.get("loss"), DictConfig):
        from distillctl.losses import term_bounds

        for name, options in cfg.loss.items():
            if isinstance(options, DictConfig):
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


def validate(cfg: DictConfig) -> None:
    """Raise ConfigError for the first value that breaks its rule."""
    resolved = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    for pattern, bound, example in RULES:
        for key, value in _matches(resolved, pattern):
            check(key, value, bound.eg(example))
    for role in ("teacher", "student"):
        spec = resolved.get(role)
        arch = spec.get("arch") if isinstance(spec, DictConfig) else None
        for option, bound, example in ARCH_OPTIONS.get(arch, ()):
            if option in spec:
                check(f"{role}.{option}", spec[option], bound.eg(example))
    paths_exist(resolved)
    owned_options(resolved)
    banks_under_ddp(resolved)
    transfer_fits(resolved)
    from distillctl.train import loggers

    loggers.check(resolved)
    for role in ("teacher", "student"):
        present, spec = _lookup(resolved, role)
        if present and isinstance(spec, DictConfig) and spec.get("arch") in EXTERNAL:
            from distillctl.models.external import check_early

            check_early(OmegaConf.to_container(spec), role)
    classes = _lookup(resolved, "data.num_classes")[1]
    for role in ("teacher", "student"):
        present, value = _lookup(resolved, f"{role}.num_classes")
        if present and value != classes:
            raise ConfigError(
                f"{role}.num_classes={value} but data '{resolved.data.name}' has {classes} classes",
                f"drop the {role}.num_classes override (it follows data.num_classes)",
            )
