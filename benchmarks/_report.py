"""What every benchmark script does with its table: print it, and write it to --out if given."""

from __future__ import annotations

from pathlib import Path


def emit(lines: list[str], out: Path | None) -> str:
    text = "\n".join(lines) + "\n"
    print(text)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
    return text


def emit_with_rows(lines: list[str], out: Path | None, seeds: list[int], rows: list) -> str:
    """`emit`, and each seed's raw figures beside the table (the same name, .json)."""
    if out:
        import json

        raw = out.with_suffix(".json")
        raw.parent.mkdir(parents=True, exist_ok=True)
        raw.write_text(json.dumps({"seeds": seeds, "rows": rows}, indent=1))
    return emit(lines, out)


def compose_config(stage: str, overrides: list[str]):
    """The composed config of `stage` with `overrides`, as the CLI composes it."""
    from hydra import compose, initialize_config_dir

    from distillctl.configuration.groups import config_dir
    from distillctl.configuration.overrides import register_resolvers

    register_resolvers()
    with initialize_config_dir(str(config_dir()), version_base="1.3"):
        return compose(stage, overrides=list(overrides))
