"""`distillctl list layers [teacher=...] [student=...] [data=...]`: the names feature taps take.

Composes the config as `train teacher` would (so any override works), loads the data's input
shape, builds the model(s) and prints every layer's name, type, output shape and parameter
count, marking the layers the named choices pick (`all`, `last`, `middle`, `embedding`; each
method's `auto` is one of them, stated in its configs/loss/<name>.yaml).
"""

from __future__ import annotations

from distillctl.errors import ConfigError

ROLES = ("teacher", "student")


def roles_named(overrides: list[str]) -> list[str]:
    """The models the overrides talk about (teacher=..., student.hidden=...), else both."""
    named = [r for r in ROLES if any(o.split("=")[0].split(".")[0] == r for o in overrides)]
    return named or list(ROLES)


def list_layers(overrides: list[str]) -> None:
    from rich.console import Console
    from rich.table import Table

    from distillctl.configuration.overrides import compose_checked
    from distillctl.configuration.parts import parse_model
    from distillctl.data import build_splits
    from distillctl.models import create_model
    from distillctl.models.taps import output_shapes

    cfg = compose_checked("list layers", overrides)
    splits = build_splits(cfg.data, cfg.paths.data_dir)
    shape = splits.input_shape
    console = Console(width=140)
    for role in roles_named(overrides):
        # the class count from the data (a user's table has it counted, not typed)
        model = create_model(
            parse_model(cfg[role]).node(
                splits.num_classes, (splits.report or {}).get("vocab_size")
            ),
            shape,
            role=role,
        )
        shapes = output_shapes(model, shape)
        from distillctl.models.stages import NAMED

        marks: dict[str, list[str]] = {}
        for choice, pick in NAMED.items():
            try:
                for name in pick(model, role):
                    marks.setdefault(name, []).append(choice)
            except ConfigError:  # a model without stages or an embedding: nothing to mark
                pass
        table = Table(
            title=f"{role}={cfg[role].arch} on {cfg.data.name} inputs {tuple(shape)}: layer "
            f"names for loss.<method>.{role}_layers (or .layers)"
        )
        for column in ("layer", "type", "output shape", "parameters", "named choice"):
            table.add_column(column)
        for name, module in model.named_modules():
            if not name:
                continue
            mark = ", ".join(marks.get(name, []))
            params = sum(p.numel() for p in module.parameters())
            out = shapes.get(name)
            table.add_row(
                name, type(module).__name__, str(out) if out else "-", f"{params:,}", mark
            )
        console.print(table)
