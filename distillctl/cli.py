"""The `distillctl` command: routes stage words to a `@hydra.main` task function.

`distillctl distill student loss.kd.temperature=8` becomes the task of the `distill_student`
primary config with `sys.argv = ["distillctl", "loss.kd.temperature=8"]`, so Hydra's own grammar,
run folders, `-m` sweeps, `--cfg job` and `--help` all work unchanged. Nothing heavy is imported
here: `distillctl --help` answers without loading torch.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys

from distillctl import stages
from distillctl.configuration.groups import USER_GROUPS, config_dir, defaults, describe, groups
from distillctl.configuration.overrides import check_command_line, register_resolvers
from distillctl.errors import ConfigError, DistillctlError, exit_with
from distillctl.runfolder.naming import RESUMABLE
from distillctl.train.signals import Stopped

# Lightning's DDP launcher re-runs `sys.argv` for ranks > 0, which by then holds only Hydra's
# overrides (the stage words were taken off for Hydra). The stage travels to those ranks in
# this variable, which Lightning's child processes inherit.
STAGE_ENV = "DISTILLCTL_STAGE"


def usage() -> str:
    width = max(len(" ".join(s.words)) for s in stages.STAGES) + 2
    lines = [
        "usage: distillctl COMMAND [HYDRA OVERRIDES ...]",
        "",
        "Knowledge distillation runs, with explanations of teacher and student built in.",
        "",
        "commands:",
    ]
    for stage in stages.STAGES:
        lines.append(f"  {' '.join(stage.words):<{width}}{stage.help}")
    lines.append(f"  {'list [GROUP]':<{width}}config groups and their choices")
    lines.append(f"  {'list layers':<{width}}layer names of a model, for feature taps")
    lines.append(f"  {'data info':<{width}}sizes, classes, shapes and identity of a data config")
    lines.append(f"  {'compare [RUN...]':<{width}}distilled students across runs: table, CSV, plot")
    lines.append(f"  {'validate STAGE':<{width}}the config check alone: exit 0, or the one message")
    lines += [
        "",
        "overrides use Hydra's grammar:",
        "  distillctl distill student data=mnist1d teacher=cnn1d student=mlp loss.kd.temperature=4",
        "  distillctl distill student loss=[ce,kd,at] loss.at.layers=all (loss terms composed)",
        "  distillctl list layers teacher=cnn1d data=mnist1d        (names for loss.*.layers)",
        "  distillctl run experiment=mnist1d seed=1",
        "  distillctl distill student -m loss.kd.temperature=2,4,8  (a sweep: one run each)",
        "  distillctl train teacher --cfg job                       (print the composed config)",
        "  distillctl train teacher --help                          (Hydra's help for a stage)",
        "  distillctl train teacher resume=latest                   (continue a stopped run)",
        "",
        "runs land in outputs/<stage>/<date>/<time>/ (paths.output_root=... to move them).",
    ]
    return "\n".join(lines)


def list_groups(args: list[str]) -> None:
    from rich.console import Console
    from rich.table import Table

    available = groups()
    chosen = defaults()
    if args and args[0] not in available:
        raise ConfigError(
            f"unknown config group '{args[0]}'",
            f"choose one of: {', '.join(g for g in USER_GROUPS if g in available)}",
        )
    wanted = args[:1] or [g for g in USER_GROUPS if g in available]
    table = Table(title="distillctl config groups (choose with GROUP=CHOICE)")
    table.add_column("group", style="bold cyan")
    table.add_column("choice", style="green")
    table.add_column("default")
    table.add_column("what it is")
    for group in wanted:
        for choice in available[group]:
            default = chosen.get(group)
            mark = "*" if choice == default or choice in (default or []) else ""
            table.add_row(group, choice, mark, describe(group, choice))
    Console(width=160).print(table)


def launch(stage: stages.Stage, args: list[str]) -> None:
    """Run a stage's task function through @hydra.main with `args` as Hydra's argv."""
    import hydra

    from distillctl.train.signals import install_sigterm_handler

    install_sigterm_handler()
    register_resolvers()
    os.environ[STAGE_ENV] = stage.name
    sys.argv = [sys.argv[0], *args]

    def task(cfg):  # called by Hydra once per job (several times in a -m sweep)
        from distillctl.stages.common import run_task

        return run_task(stage, cfg)

    main_fn = hydra.main(version_base="1.3", config_path=str(config_dir()), config_name=stage.name)(
        task
    )
    search = any(a.startswith("hparams_search=") for a in args)
    if search:  # Hydra prints a sweeper's error as a traceback unless it may raise it to us
        os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        main_fn()
    except ValueError as exc:
        if not (search and "No trials are completed yet" in str(exc)):
            raise
        no_trial_finished(args)
    # a sweep went on past its failed jobs (in this process or a launcher's); its exit code
    # still says they failed. Only where a sweep ran: --cfg and --help must stay light.
    sweep = sys.modules.get("distillctl.report.sweep")
    if getattr(sweep, "EXIT_CODE", 0):
        sys.exit(sweep.EXIT_CODE)


def no_trial_finished(args: list[str]) -> None:
    """Optuna's sweeper ends a search where every trial failed in `ValueError: No trials are
    completed yet`: the trials' table instead, and one message."""
    from distillctl.errors import RunError
    from distillctl.report import sweep

    folder = sweep.SWEEP_DIR
    reasons = []
    if folder is not None and folder.is_dir():
        rows = sweep.jobs(folder)
        sweep.jobs_table(folder, rows)
        reasons = [r["reason"] for r in rows if r["reason"]]
    raise RunError(
        "every trial of the search failed, so there is no best trial"
        + (f" (the first: {reasons[0]})" if reasons else ""),
        "fix what the trials report (the table above; each trial's run.json says why), then "
        "search again",
    )


# Commands that start no run: their words -> "module:function" taking the remaining arguments.
# Longer word sequences first, so `list layers` is not read as `list` with an argument.
TOOLS = {
    ("list", "layers"): "distillctl.commands.layers:list_layers",
    ("data", "info"): "distillctl.commands.data_info:data_info",
    ("list",): "distillctl.cli:list_groups",
    ("validate",): "distillctl.commands.validate:validate_command",
    ("compare",): "distillctl.report.compare:compare_command",
}


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return
    try:
        tool = next((w for w in TOOLS if tuple(argv[: len(w)]) == w), None)
        if tool is not None:
            module, _, function = TOOLS[tool].partition(":")
            getattr(importlib.import_module(module), function)(argv[len(tool) :])
            return
        stage, rest = stages.match(argv)
        if stage is None and os.environ.get("LOCAL_RANK") and os.environ.get(STAGE_ENV):
            stage = stages.BY_NAME.get(os.environ[STAGE_ENV])  # a DDP rank re-running argv
        if stage is None:
            words = ", ".join(" ".join(s.words) for s in stages.STAGES)
            raise ConfigError(
                f"unknown command '{' '.join(argv[:2])}'",
                f"use one of: {words}, {', '.join(' '.join(w) for w in TOOLS)}   "
                "(distillctl --help)",
            )
        launch(stage, check_command_line(stage, rest))
    except DistillctlError as exc:
        exit_with(exc)
    except (KeyboardInterrupt, Stopped) as exc:
        stopped = exc if isinstance(exc, Stopped) else Stopped(signal.SIGINT)
        print(stop_message(stopped), file=sys.stderr)
        sys.exit(stopped.exit_code)


def stop_message(stopped: Stopped) -> str:
    """What a stopped run tells the user: where it is and the command that continues it."""
    if stopped.run_dir is None:
        return f"{stopped.reason}: no run had started"
    words = " ".join(stages.BY_NAME[stopped.stage].words)
    if stopped.stage not in RESUMABLE:
        return f"{stopped.reason}: {stopped.run_dir} is marked interrupted in its run.json"
    return (
        f"{stopped.reason}: {stopped.run_dir} is marked interrupted in its run.json, and "
        "checkpoints/last.ckpt holds its last finished epoch (if one finished); continue with\n"
        f"  distillctl {words} resume={stopped.run_dir}"
    )
