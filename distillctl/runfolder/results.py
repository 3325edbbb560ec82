"""What a training run leaves in its folder besides checkpoints: metrics.json, model_card.json,
and the meta every checkpoint carries to rebuild its model and check it against data later."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from distillctl import data as data_registry
from distillctl.io import atomic_write_json
from distillctl.runfolder.record import is_rank_zero


def model_meta(
    cfg: DictConfig,
    model: Any,
    role: str,
    info: Any,
    stage: str,
) -> dict[str, Any]:
    """What a checkpoint records to rebuild its model (`model`: its ModelSpec) and to check it
    against data later."""
    from distillctl.models import NON_BUILD_KEYS

    input_shape, num_classes = info.input_shape, info.num_classes
    node = model.node(num_classes, info.vocab_size)
    spec = {k: v for k, v in node.items() if k not in NON_BUILD_KEYS or k == "arch"}
    return {
        "role": role,
        "stage": stage,
        "model": spec,
        "input_shape": list(input_shape),
        "num_classes": int(num_classes),
        "data": data_registry.identity(cfg.data),
        # where the files were read (absolute): explain rebuilds the data from them
        "data_location": data_registry.location(cfg),
        # texts: the tokenizer the ids came from (a teacher is only distilled with its own),
        # and the length the model card times a text at (the data's median)
        **data_facts(info),
    }


def data_facts(info: Any) -> dict[str, Any]:
    tokenizer = info.report.get("tokenizer") if isinstance(info.report, dict) else None
    if not tokenizer:
        return {}
    median = int(round(info.report["tokens_per_text"]["p50"]))
    return {
        "tokenizer_sha256": tokenizer["sha256"],
        # the file itself: a distillation with distill.align=words reads texts with it
        "tokenizer_file": tokenizer["file"],
        "latency_shape": [max(1, median)],
    }


def write_results(run_dir: Path, model, meta: dict[str, Any], results: dict[str, Any]) -> dict:
    """metrics.json and model_card.json of a training run; returns a short summary."""
    from distillctl.models.card import model_card

    card = model_card(
        model, tuple(meta["input_shape"]), meta["model"]["arch"], meta.get("latency_shape")
    )
    card["test_acc"] = results["test"].get("test/acc")
    if is_rank_zero():
        atomic_write_json(run_dir / "metrics.json", {"role": meta["role"], **results})
        atomic_write_json(run_dir / "model_card.json", card)
    return {
        "test_acc": card["test_acc"],
        "val_acc_best": results["val_acc_best"],
        "parameters": card["parameters"],
        "checkpoint": results["checkpoint"],
        "checkpoint_path": results["checkpoint_path"],
    }
