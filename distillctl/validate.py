"""Config validation in one place: every bad value is reported by name, with an example of a
good one, before any training starts (and before a run folder is made)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig, OmegaConf

from distillctl.errors import ConfigError

Check = Callable[[Any], bool]


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


POSITIVE_INT = ("a whole number > 0", lambda v: _whole(v) and v > 0)
CLASSES = ("a whole number >= 2, or null", lambda v: v is None or (_whole(v) and v >= 2))
OPTIONAL_POSITIVE_INT = (
    "a whole number > 0, or null",
    lambda v: v is None or (_whole(v) and v > 0),
)
NON_NEGATIVE_INT = ("a whole number >= 0", lambda v: _whole(v) and v >= 0)
ANY_INT = ("a whole number", _whole)
POSITIVE = ("a number > 0", lambda v: _number(v) and v > 0)
NON_NEGATIVE = ("a number >= 0", lambda v: _number(v) and v >= 0)
UNIT = ("a number in [0, 1]", lambda v: _number(v) and 0 <= v <= 1)
OPEN_UNIT = ("a number strictly between 0 and 1", lambda v: _number(v) and 0 < v < 1)
UNIT_POSITIVE = ("a number in (0, 1]", lambda v: _number(v) and 0 < v <= 1)


def one_of(*choices: str) -> tuple[str, Check]:
    return f"one of: {', '.join(choices)}", lambda v: v in choices


# key (dotted), rule, an example of a good value. Keys absent from a config are skipped.
RULES: tuple[tuple[str, tuple[str, Check], str], ...] = (
    ("seed", ANY_INT, "0"),
    ("trainer.max_epochs", POSITIVE_INT, "30"),
    ("data.batch_size", POSITIVE_INT, "64"),
    ("data.val_fraction", OPEN_UNIT, "0.1"),
    ("data.test_fraction", OPEN_UNIT, "0.2"),
    ("data.num_samples", POSITIVE_INT, "5000"),
    ("data.train_split", OPEN_UNIT, "0.8"),
    ("data.subset", OPTIONAL_POSITIVE_INT, "1000"),
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
            (f"{group}.nesterov", ("true or false", lambda v: isinstance(v, bool)), "false"),
            (f"{group}.scheduler", one_of("cosine", "multistep", "none"), "cosine"),
            (f"{group}.gamma", POSITIVE, "0.1"),
            (f"{group}.warmup_epochs", NON_NEGATIVE_INT, "5"),
        )
    ),
    ("eval_checkpoint", one_of("best", "last"), "best"),
    ("teacher_checkpoint", one_of("best", "last"), "best"),
    # loss terms: `*` matches every selected term (loss=[ce,kd] -> loss.ce, loss.kd)
    ("loss.*.weight", NON_NEGATIVE, "1"),
    ("loss.*.temperature", POSITIVE, "4"),
    ("loss.*.label_smoothing", ("a number in [0, 1)", lambda v: _number(v) and 0 <= v < 1), "0.1"),
    ("loss.*.alpha", NON_NEGATIVE, "1"),
    ("loss.*.beta", NON_NEGATIVE, "1"),
    ("loss.*.gamma", NON_NEGATIVE, "1"),
    ("loss.*.p", POSITIVE, "2"),
    ("loss.*.warmup", NON_NEGATIVE_INT, "5"),
    ("loss.*.distance_weight", NON_NEGATIVE, "25"),
    ("loss.*.angle_weight", NON_NEGATIVE, "50"),
    ("loss.*.feat_dim", POSITIVE_INT, "128"),
    ("loss.*.negatives", POSITIVE_INT, "1024"),
    ("loss.*.momentum", UNIT, "0.5"),
    ("loss.*.eps", POSITIVE, "1e-5"),
    ("explain.num_inputs", POSITIVE_INT, "64"),
    ("explain.background", POSITIVE_INT, "100"),
    ("explain.num_figures", NON_NEGATIVE_INT, "6"),
    ("explain.top_k_fraction", UNIT_POSITIVE, "0.1"),
    ("explain.target", one_of("label", "teacher_pred"), "label"),
    ("explain.quality.baseline", one_of("zero", "mean"), "zero"),
    ("explain.quality.steps", POSITIVE_INT, "32"),
    ("explain.quality.subsets", ("a whole number >= 2", lambda v: _whole(v) and v >= 2), "64"),
    ("explain.quality.subset_fraction", UNIT_POSITIVE, "0.1"),
    ("explain.quality.sanity", ("true or false", lambda v: isinstance(v, bool)), "true"),
    ("explain.levels", ("true or false", lambda v: isinstance(v, bool)), "true"),
    ("explain.quality.cascading", ("true or false", lambda v: isinstance(v, bool)), "false"),
    ("explainer.seed", ANY_INT, "0"),
    ("explainer.nsamples", POSITIVE_INT, "200"),
    ("explainer.batch_size", POSITIVE_INT, "100"),
    ("explainer.n_steps", POSITIVE_INT, "32"),
    ("explainer.internal_batch_size", POSITIVE_INT, "1024"),
    ("explainer.baseline", one_of("zero", "mean"), "zero"),
    ("explainer.window", POSITIVE_INT, "2"),
    ("explainer.stride", POSITIVE_INT, "1"),
    ("explainer.perturbations_per_eval", POSITIVE_INT, "64"),
    ("explainer.kmeans", POSITIVE_INT, "10"),
    ("explainer.max_evals", POSITIVE_INT, "500"),
)


# architectures from outside (a user's class, timm, torchvision): their names are checked here,
# before any run folder exists
EXTERNAL = ("custom", "timm", "torchvision")


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
    for pattern, (what, check), example in RULES:
        for key, value in _matches(resolved, pattern):
            if not check(value):
                raise ConfigError(
                    f"{key}={value!r} is not valid: it must be {what}", f"set {key}={example}"
                )
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
