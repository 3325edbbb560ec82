"""Compose and validate a stage's config before Hydra starts the run.

Hydra reports a bad override only after it has made the run folder, and exits 1 with its own
wording. Composing first (with the Compose API, once per value of each swept key) turns every
config mistake into one ConfigError (exit 2) that names the key and the fix, and nothing is
written. The stage validates again when it runs, for callers that skip the CLI.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from distillctl.configuration.groups import config_dir
from distillctl.errors import ConfigError


def variants(overrides) -> list[list[str]]:
    """Override lists to compose: all first values, then each other value of each sweep."""
    base, sweeps = [], []
    for o in overrides:
        if o.is_sweep_override():
            try:
                values = [f"{o.get_key_element()}={v}" for v in o.sweep_string_iterator()]
            except Exception:  # interval sweeps for optimisers: nothing to enumerate
                continue
            base.append(values[0])
            sweeps.append((len(base) - 1, values[1:]))
        else:
            base.append(o.input_line)
    out = [base]
    for index, others in sweeps:
        for value in others:
            out.append([*base[:index], value, *base[index + 1 :]])
    return out


def check_folder(value: str, key: str = "paths.output_root") -> None:
    """A run folder must be creatable at `value`: its deepest existing ancestor (up to the
    first `${...}` interpolation) is a folder this process can write. Checked before anything
    runs, so a bad path is one message, not a traceback from a mkdir deep inside Hydra."""
    ancestor = Path(value.split("${", 1)[0] or ".").absolute()
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    also = " (or DISTILLCTL_OUTPUTS)" if key == "paths.output_root" else ""
    if not ancestor.is_dir():
        raise ConfigError(
            f"{key}={value} cannot be created: {ancestor} is a file",
            f"set {key}{also} to a folder path (or remove the file in the way)",
        )
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise ConfigError(
            f"{key}={value} cannot be created: {ancestor} is not writable",
            f"set {key}{also} to a folder you can write",
        )


def _options(compose, stage: str, overrides: list[str], key: str) -> str:
    parent = key.rpartition(".")[0]
    try:
        node = compose(stage, overrides=[o for o in overrides if key not in o])
        for part in parent.split(".") if parent else []:
            node = node[part]
        return ", ".join(str(k) for k in node.keys())
    except Exception:
        return ""


def _unselected_term(compose, stage: str, overrides: list[str], key: str) -> ConfigError | None:
    """`loss.at.p=3` while `at` is not among the selected loss terms."""
    parts = key.split(".")
    if len(parts) < 3 or parts[0] != "loss":
        return None
    try:
        selected = list(compose(stage, overrides=[o for o in overrides if key not in o]).loss)
    except Exception:
        return None
    if parts[1] in selected:
        return None
    value = next((o.partition("=")[2] for o in overrides if o.startswith(f"{key}=")), "...")
    return ConfigError(
        f"'{key}' sets an option of the loss term '{parts[1]}', which is not selected "
        f"(loss={','.join(selected)})",
        f"select it too: loss=[{','.join([*selected, parts[1]])}] {key}={value}",
    )


# keys that moved, so an old command line gets told where: old key -> (new key, why)
MOVED = {
    "teacher.ckpt": (
        "teacher_ckpt",
        "the teacher's weights are not part of its architecture node",
    ),
    **{
        f"trainer.{key}": (
            f"engine.{key}",
            "trainer: holds only pytorch_lightning.Trainer arguments",
        )
        for key in (
            "detect_nan",
            "nan_check_every",
            "channels_last",
            "compile",
            "compile_mode",
            "compile_backend",
        )
    },
}


def composition_error(
    exc: Exception, compose, stage_name: str, words: str, overrides: list[str]
) -> ConfigError:
    text = str(exc).strip()
    cause = exc.__cause__
    missing = re.search(r"Could not override '([^']+)'", text)
    if missing and cause is not None and "not in struct" in str(cause):
        key = missing.group(1)
        if key in MOVED:
            new, why = MOVED[key]
            value = next((o.partition("=")[2] for o in overrides if o.startswith(f"{key}=")), "")
            return ConfigError(f"'{key}' is now '{new}' ({why})", f"pass {new}={value}")
        unselected = _unselected_term(compose, stage_name, overrides, key)
        if unselected is not None:
            return unselected
        parent, _, leaf = key.rpartition(".")
        options = _options(compose, stage_name, overrides, key)
        where = f"{parent} has no option '{leaf}'" if parent else f"there is no key '{leaf}'"
        return ConfigError(
            f"'{key}' is not a config key: {where}",
            (f"use one of its keys ({options}); " if options else "")
            + f"`distillctl {words} --cfg job` prints every key",
        )
    first = text.splitlines()[0] if text else type(exc).__name__
    detail = f" ({str(cause).strip().splitlines()[0]})" if cause is not None and str(cause) else ""
    return ConfigError(
        f"the config cannot be composed: {first}{detail}",
        "check the overrides and the YAML files of any --config-dir",
    )


# Optuna's samplers that search for several objectives at once
MULTI_OBJECTIVE = ("NSGAIISampler", "MOTPESampler")


def check_search(compose, stage_name: str, overrides: list[str], cfg) -> None:
    """A multi-objective `objective=[...]` needs a sampler that searches for several
    objectives and one sweeper direction per objective (read from the Hydra config)."""
    objective = cfg.get("objective")
    if objective is None or isinstance(objective, str) or len(objective) < 2:
        return
    sweeper = compose(stage_name, overrides=overrides, return_hydra_config=True).hydra.sweeper
    sampler = sweeper.get("sampler")
    target = str(sampler.get("_target_", "")) if sampler is not None else ""
    names = ",".join(str(o) for o in objective)
    fix = (
        "use hparams_search=optuna_pareto (NSGA-II, direction [maximize, maximize]), or add "
        "hydra/sweeper/sampler=nsgaii 'hydra.sweeper.direction=[maximize,maximize]'"
    )
    if not target.endswith(MULTI_OBJECTIVE):
        which = target.rsplit(".", 1)[-1] or "no Optuna sampler (hparams_search is not set)"
        raise ConfigError(
            f"objective=[{names}] asks a search for {len(objective)} objectives, but the "
            f"sweeper's sampler is {which}, which searches for one",
            fix,
        )
    direction = sweeper.get("direction")
    count = 1 if isinstance(direction, str) else len(direction)
    if count != len(objective):
        raise ConfigError(
            f"objective=[{names}] has {len(objective)} figures but hydra.sweeper.direction "
            f"has {count}",
            "give one direction per objective: hydra.sweeper.direction=[maximize,maximize]",
        )


def precheck(stage_name: str, words: str, overrides, config_dir_arg: str | None):
    """Compose every variant of the command line and validate it; returns the first config."""
    from hydra import compose, initialize_config_dir

    from distillctl.configuration.validate import validate

    extra = (
        [f"hydra.searchpath=[file://{Path(config_dir_arg).absolute()}]"] if config_dir_arg else []
    )
    first = None
    with initialize_config_dir(str(config_dir()), version_base="1.3"):
        for variant in variants(overrides):
            try:
                cfg = compose(stage_name, overrides=[*variant, *extra])
            except Exception as exc:  # Hydra, OmegaConf and YAML errors alike
                raise composition_error(exc, compose, stage_name, words, variant) from None
            validate(cfg)
            check_search(compose, stage_name, [*variant, *extra], cfg)
            check_folder(str(cfg.paths.output_root))
            first = cfg if first is None else first
    return first
