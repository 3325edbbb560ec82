"""The one report builder: explain models on the same inputs, draw, write report.html, print.

Used by `explain` (a distill run's teacher and student) and by `run` (teacher, distilled and
scratch students), so no stage imports another.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from distillctl.configuration.specs import ExplainSpec
from distillctl.console import say
from distillctl.runfolder.record import is_rank_zero


def explained_configs(models: list, cfg: DictConfig, spec: ExplainSpec) -> list[tuple[str, str]]:
    """(label, YAML) of what the report is about: the explain settings, then the composed
    config of each explained model's own run (its `.hydra/config.yaml`), where it has one."""
    settings = OmegaConf.create(
        {"seed": cfg.seed, "explainer": cfg.explainer, "explain": dataclasses.asdict(spec)}
    )
    out = [("explain settings", OmegaConf.to_yaml(settings))]
    for model in models:
        path = model.run_dir / ".hydra" / "config.yaml" if model.run_dir else None
        if path is not None and path.exists():
            out.append((f"{model.name}: {model.run_dir}", path.read_text()))
        else:
            out.append((model.name, "(no run folder: its config is not known)\n"))
    return out


def explain_and_report(
    models: list, splits, cfg: DictConfig, spec: ExplainSpec, out_dir: Path, title: str
) -> dict:
    """Explain `models` (teacher first), draw the pictures, write report.html, print the table.

    Runs on rank 0 only: the other processes of a multi-process run have nothing to add.
    """
    if not is_rank_zero():
        return {}
    from distillctl.explain.pipeline import explain_models
    from distillctl.report.figures import draw
    from distillctl.report.html import write_report
    from distillctl.report.tables import model_rows, print_summary
    from distillctl.report.verdict import plain_summary

    say(
        f"explaining {', '.join(m.name for m in models)} with {cfg.explainer.name} "
        f"on {min(spec.num_inputs, len(splits.y_test))} test inputs"
    )
    from distillctl.data.tokens import active, of_splits

    tokenizer = of_splits(splits)
    with active(tokenizer):
        explained = explain_models(models, splits, cfg, spec, out_dir)
    metrics = explained["metrics"]
    figures = draw(
        splits.kind,
        explained,
        out_dir / "attributions",
        spec.num_figures,
        feature_names=splits.feature_names,
        normalise=splits.normalise,
        class_names=splits.class_names,
        # words (distill.align=words) come with their own vocabulary, tokens with the data's
        vocabulary=explained.get("vocabulary")
        or (tokenizer.vocabulary if tokenizer is not None else ()),
    )
    import torch

    from distillctl.report.curves import draw_curves
    from distillctl.report.tree import draw_trees

    # the inputs the explain pass chose, not chosen again
    inputs = torch.from_numpy(explained["inputs"])
    trees = draw_trees(models, splits, inputs, out_dir / "attributions")
    rows = model_rows(
        [(m.name, m.run_dir) for m in models], metrics["agreement"], metrics["normalised"]
    )
    facts = {
        "data": str(cfg.data.name),
        "explainer": cfg.explainer.name,
        **{
            f"{cfg.explainer.name} for {name}": ", ".join(f"{k} {v}" for k, v in chosen.items())
            for name, chosen in metrics.get("explainer_details", {}).items()
        },
        "run folder": str(out_dir.resolve()),
    }
    report = write_report(
        out_dir / "report.html",
        title=title,
        summary=facts,
        rows=rows,
        explain=metrics,
        figures=figures,
        trees=trees,
        curves=draw_curves(models, out_dir / "curves"),
        configs=explained_configs(models, cfg, spec),
    )
    print_summary(rows, report, title)
    for line in plain_summary(metrics):
        say(line)
    return {
        "report": str(report.resolve()),
        "explainer": str(cfg.explainer.name),
        "agreement": {
            name: {m: s["mean"] for m, s in stats.items()}
            for name, stats in metrics["agreement"].items()
        },
        "models": rows,
    }
