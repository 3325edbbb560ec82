"""`distillctl validate <stage> [overrides]`: the pre-check alone (as torchtune's `tune
validate`): compose every variant of the command line and validate it, exit 0 with one line,
or the one message and its exit code; nothing is written, nothing trains."""

from __future__ import annotations

from pathlib import Path

from distillctl import stages
from distillctl.errors import ConfigError


def validate_command(argv: list[str]) -> None:
    from hydra._internal.utils import get_args_parser

    from distillctl.configuration.groups import groups
    from distillctl.configuration.overrides import (
        check_choices,
        flags_first,
        parse_overrides,
        register_resolvers,
    )
    from distillctl.configuration.precheck import precheck, variants
    from distillctl.console import say

    stage, rest = stages.match(argv)
    if stage is None:
        words = ", ".join(" ".join(s.words) for s in stages.STAGES)
        raise ConfigError(
            f"validate needs a stage, got '{' '.join(argv[:2])}'",
            f"use one of: {words} (e.g. distillctl validate distill student loss=[ce,kd])",
        )
    parsed, _ = get_args_parser().parse_known_args(flags_first(rest))
    overrides = parse_overrides(parsed.overrides)
    check_choices(overrides, groups((Path(parsed.config_dir),) if parsed.config_dir else ()))
    register_resolvers()
    words = " ".join(stage.words)
    precheck(stage.name, words, overrides, parsed.config_dir)
    count = len(variants(overrides))
    say(f"ok: `distillctl {words}` composes and validates ({count} config(s) checked)")
