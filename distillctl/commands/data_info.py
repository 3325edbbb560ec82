"""`distillctl data info [data=...] [data.KEY=...]`: what a data config gives, before training.

Sizes of each split, classes, input shape and kind, the normalisation, what reading it skipped or
filled in, and the identity keys a teacher is matched by.
"""

from __future__ import annotations


def data_info(overrides: list[str]) -> None:
    from rich.console import Console
    from rich.table import Table

    from distillctl.configuration.overrides import compose_checked
    from distillctl.data import build_splits, info

    cfg = compose_checked("data info", overrides)
    about = info(cfg.data, build_splits(cfg.data, cfg.paths.data_dir))
    table = Table(title=f"data={about.name}", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    classes = ", ".join(about.class_names[:12]) + (" ..." if len(about.class_names) > 12 else "")
    rows = [
        ("samples", ", ".join(f"{k} {v:,}" for k, v in about.sizes.items())),
        ("classes", f"{about.num_classes}: {classes}"),
        ("input shape", f"{list(about.input_shape)} ({about.kind})"),
        ("identity", ", ".join(f"{k}={v}" for k, v in about.identity.items())),
    ]
    if about.normalise is not None:
        mean, std = about.normalise
        rows.append(("normalisation", f"mean {mean}, std {std} (training split)"))
    if about.feature_names:
        shown = ", ".join(about.feature_names[:8])
        rows.append(("features", shown + (" ..." if len(about.feature_names) > 8 else "")))
    rows += [(key, str(value)) for key, value in about.report.items() if value]
    for row in rows:
        table.add_row(*row)
    Console(width=120).print(table)
