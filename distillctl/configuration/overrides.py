"""The command line's overrides, read and checked before Hydra starts anything.

Hydra reports a bad override only after it has made the run folder; here every mistake (an
unknown group choice, a key that is not in the config, a bad value) becomes one ConfigError
(exit 2) and nothing is written. Then the run folder is reserved and named to Hydra.
"""

from __future__ import annotations

import os
from pathlib import Path

from distillctl import stages
from distillctl.configuration.groups import groups
from distillctl.errors import ConfigError
from distillctl.runfolder.naming import find_resumable, requeued_run, slurm_tasks_folder

# Hydra's flags that take a value (the next token, or --flag=value); --info takes one optionally
VALUE_FLAGS = {
    "--cfg",
    "-c",
    "--package",
    "-p",
    "--config-path",
    "-cp",
    "--config-name",
    "-cn",
    "--config-dir",
    "-cd",
    "--experimental-rerun",
}
INFO_CHOICES = {"all", "config", "defaults", "defaults-tree", "plugins", "searchpath"}


def flags_first(args: list[str]) -> list[str]:
    """Hydra's parser wants all overrides in one run; users mix them with flags
    (`a=1 -m b=1,2`). Put the flags (with their values) first, then every override."""
    flags, overrides, i = [], [], 0
    while i < len(args):
        token = args[i]
        if token.startswith("-"):
            flags.append(token)
            takes = token in VALUE_FLAGS or (
                token in ("--info", "-i") and i + 1 < len(args) and args[i + 1] in INFO_CHOICES
            )
            if takes and i + 1 < len(args):
                flags.append(args[i + 1])
                i += 1
        else:
            overrides.append(token)
        i += 1
    return [*flags, *overrides]


def check_choices(overrides, available: dict[str, list[str]]) -> None:
    """An unknown group choice gets the valid ones, before anything is composed."""
    for override in overrides:
        group = override.key_or_group
        if group not in available or override.is_delete():
            continue
        values = (
            list(override.sweep_iterator()) if override.is_sweep_override() else [override.value()]
        )
        # a group takes one choice (data=mnist1d) or, for loss, several (loss=[ce,kd,at])
        chosen = [v for value in values for v in (value if isinstance(value, list) else [value])]
        for value in chosen:
            if isinstance(value, str) and value not in available[group]:
                raise ConfigError(
                    f"unknown {group} '{value}'",
                    f"choose one of: {', '.join(available[group])}   (distillctl list {group})",
                )


def parse_overrides(overrides: list[str]) -> list:
    """Hydra's override objects, or one ConfigError for a line its grammar cannot read."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    try:
        return OverridesParser.create().parse_overrides(overrides)
    except OverrideParseException as exc:
        raise ConfigError(
            f"cannot parse the override: {exc}", "write overrides as KEY=VALUE (Hydra grammar)"
        ) from None


def compose_checked(words: str, overrides: list[str]):
    """The composed, validated config for a command that starts no run (`list layers`,
    `compare`): the same checks as a stage's command line, before anything is done."""
    from distillctl.configuration.precheck import precheck

    # a command, not a stage: nothing of a stage's networks or explainer is checked against
    # the data's kind (configuration/kinds.py reads `stage`)
    parsed = parse_overrides([*overrides, f"stage={words.replace(' ', '_')}"])
    check_choices(parsed, groups())
    register_resolvers()
    return precheck("train_teacher", words, parsed, None)


def check_command_line(stage: stages.Stage, args: list[str]) -> list[str]:
    """Every config mistake on the command line becomes one ConfigError (exit 2) before Hydra
    makes a run folder: an unknown group choice (with the valid ones), then anything that does
    not compose or validate (see precheck.py). Returns the arguments for Hydra, with the run
    folder reserved (or the run to resume) named in them."""
    from hydra._internal.utils import get_args_parser

    from distillctl.configuration.precheck import check_folder, precheck
    from distillctl.runfolder.naming import reserve

    args = flags_first(args)
    parsed, _ = get_args_parser().parse_known_args(args)
    if os.environ.get("LOCAL_RANK", "0") != "0":
        return args  # a DDP rank re-running argv: rank 0 checked it and named the folder
    extra = (Path(parsed.config_dir),) if parsed.config_dir else ()
    overrides = parse_overrides(parsed.overrides)
    check_choices(overrides, groups(extra))
    if parsed.multirun and (parsed.cfg or parsed.info):
        raise ConfigError(
            "--cfg and --info print one config; they do not combine with -m",
            "drop -m to print the config (sweep values show as they are written)",
        )
    if parsed.help or parsed.hydra_help or parsed.info or parsed.cfg or parsed.shell_completion:
        return args  # Hydra's own help, info and --cfg print; nothing runs
    register_resolvers()
    resume = next((o for o in overrides if o.key_or_group == "resume" and o.value()), None)
    if resume is not None:
        return resume_args(stage, args, overrides, resume, parsed)
    cfg = precheck(stage.name, " ".join(stage.words), overrides, parsed.config_dir)
    # a search config (hparams_search=...) sets hydra.mode=MULTIRUN itself: a sweep, even without -m
    sweeping = parsed.multirun or any(o.key_or_group == "hparams_search" for o in overrides)
    requeued = None if sweeping else requeued_run(str(cfg.paths.output_root), stage.name)
    if requeued is not None:  # the same command, started again by Slurm: continue its run
        return resume_in(stage, requeued)
    named = [o for o in overrides if o.key_or_group in ("hydra.run.dir", "hydra.sweep.dir")]
    for override in named:  # the user named the folder: it must be one that can be made
        check_folder(str(override.value()), override.key_or_group)
    if named:
        return args
    tasks = None if sweeping else slurm_tasks_folder(cfg.paths.output_root, stage.name, cfg.tag)
    run_dir = tasks or reserve(str(cfg.paths.output_root), stage.name, cfg.tag, bool(sweeping))
    key = "hydra.sweep.dir" if sweeping else "hydra.run.dir"
    return [*args, f'{key}="{run_dir}"']


def resume_args(stage: stages.Stage, args: list[str], overrides, resume, parsed) -> list[str]:
    """Continue a run in its own folder with its own saved config."""
    from distillctl.configuration.precheck import precheck

    others = [o.input_line for o in overrides if o.key_or_group != "resume"]
    if others or parsed.multirun:
        raise ConfigError(
            f"resume continues a run with its own config, so it takes no other overrides "
            f"(got: {' '.join(others) or '-m'})",
            f"run `distillctl {' '.join(stage.words)} resume={resume.value()}` alone",
        )
    cfg = precheck(stage.name, " ".join(stage.words), [], parsed.config_dir)
    return resume_in(
        stage, find_resumable(str(resume.value()), str(cfg.paths.output_root), stage.name)
    )


def resume_in(stage: stages.Stage, run_dir: Path) -> list[str]:
    """Hydra's arguments that continue the run in `run_dir` with its own saved config (which
    must still read: Hydra would end in a parser's traceback)."""
    import yaml
    from omegaconf import OmegaConf

    saved = run_dir / ".hydra" / "config.yaml"
    try:
        OmegaConf.load(saved)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(
            f"the run's saved config {saved} is damaged and cannot be read ({first})",
            "restore that file (it is the config the run started with), or start a new run "
            "with the same overrides",
        ) from None
    return [
        "-cp",
        str(run_dir / ".hydra"),
        "-cn",
        "config",
        f'hydra.run.dir="{run_dir}"',
        "hydra.output_subdir=null",
        f"hydra.job.name={stage.name}",
        f'resume="{run_dir}"',
    ]


def register_resolvers() -> None:
    from omegaconf import OmegaConf

    if not OmegaConf.has_resolver("dc_suffix"):
        OmegaConf.register_new_resolver("dc_suffix", lambda tag: f"-{tag}" if tag else "")
