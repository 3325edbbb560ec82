"""Explain several models on the same inputs and compare each one's maps with the teacher's."""

from __future__ import annotations

import dataclasses
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from distillctl.configuration.specs import ExplainSpec
from distillctl.data.splits import Splits
from distillctl.explain import (
    completeness_reference,
    explainer_details,
    get_explainer,
    is_stochastic,
    signed_maps,
)
from distillctl.explain.agreement import (
    DEFINITIONS,
    agreement,
    agreement_per_class,
    measures,
    summarise,
)
from distillctl.explain.eraser import plausibility_rows
from distillctl.explain.faithfulness import cascading_randomisation, explanation_quality
from distillctl.explain.levels import levels, normalised
from distillctl.explain.randomness import draw_seed
from distillctl.explain.uncertainty import paired_difference
from distillctl.inputs import kind_of
from distillctl.io import atomic_write_bytes, atomic_write_json


@dataclass
class Explained:
    """A model to explain; the first one given to `explain_models` is the reference (teacher)."""

    name: str
    model: nn.Module
    run_dir: Path | None = None
    # texts: the tokenizer it reads with where that is not the data's (distill.align=words);
    # then every model is compared word by word (explain/words.py)
    tokenizer: Any = None


def explained_form(model: nn.Module) -> nn.Module:
    """The module the explainers see: the model itself, or the smooth form a model names (a
    soft tree's mixture: its max-leaf answer has no input gradient)."""
    form = getattr(model, "explained_form", None)
    return form() if callable(form) else model


def _device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def background_rows(splits: Splits, spec: ExplainSpec, seed: int) -> np.ndarray:
    """The seeded training samples every explainer's background is drawn from."""
    rng = np.random.default_rng(seed)
    size = min(spec.background, len(splits.y_train))
    return np.sort(rng.choice(len(splits.y_train), size=size, replace=False))


def choose_inputs(splits: Splits, spec: ExplainSpec, seed: int):
    """The first num_inputs test inputs (fixed across runs) and a seeded training background."""
    n = min(spec.num_inputs, len(splits.y_test))
    bg = background_rows(splits, spec, seed)
    return (
        torch.from_numpy(splits.inputs("test", slice(0, n))),
        torch.from_numpy(splits.y_test[:n]),
        torch.from_numpy(splits.inputs("train", bg)),
    )


def rationale(splits: Splits, inputs: torch.Tensor) -> torch.Tensor | None:
    """The gold rationale of the chosen test inputs (cut to their length), if the data has
    one (data=planted_text)."""
    found = splits.rationale.get("test")
    if found is None:
        return None
    return torch.from_numpy(found[: len(inputs), : inputs.shape[1]])


# a mean completeness gap above this is reported when the explain stage runs
COMPLETENESS_WARNING = 0.05


def warn_incomplete(name: str, explainer: str, rows: dict[str, list[float]]) -> None:
    from distillctl.console import say

    gaps = np.asarray(rows.get("completeness_gap", []), dtype=np.float64)
    if gaps.size and np.nanmean(gaps) > COMPLETENESS_WARNING:
        say(
            f"warning: {name}'s {explainer} maps miss completeness by {np.nanmean(gaps):.0%} "
            "on average (their sum vs f(x) - f(reference) on the target logit; the report's "
            "completeness gap): more steps or samples help integrating explainers, and DeepLift "
            "rules are not exact on max-pooling or batch-norm stacks"
        )


def word_space(models: list[Explained], splits: Splits, spec: ExplainSpec, seed: int):
    """Each model's reading of the chosen texts (its own tokenizer, or the data's), or None when
    every model reads the data's ids."""
    if all(e.tokenizer is None for e in models):
        return None
    from distillctl.data.tokens import of_splits
    from distillctl.explain.words import WordSpace, read

    n = min(spec.num_inputs, len(splits.y_test))
    texts = list(splits.texts["test"][:n])
    background = [splits.texts["train"][i] for i in background_rows(splits, spec, seed)]
    data_tokenizer = of_splits(splits)
    return WordSpace(
        texts, {e.name: read(e.tokenizer or data_tokenizer, texts, background) for e in models}
    )


def explain_models(
    models: list[Explained], splits: Splits, cfg: Any, spec: ExplainSpec, out_dir: Path
) -> dict:
    """Attributions of every model and the agreement of each with models[0] (the teacher):
    the explainer `cfg.explainer` with the explain stage's settings `spec`.

    Everything lands in out_dir/attributions: the maps (npz) and metrics.json.
    """
    from rich.progress import Progress

    from distillctl.console import console

    target_kind = spec.target
    explainer = get_explainer(cfg.explainer.name)
    device = _device()
    inputs, labels, background = choose_inputs(splits, spec, int(cfg.seed))
    inputs, labels, background = inputs.to(device), labels.to(device), background.to(device)
    gold = rationale(splits, inputs)
    # distill.align=words: each model reads the texts with its own tokenizer; maps become words
    space = word_space(models, splits, spec, int(cfg.seed))
    gold_words = None
    reader = next((e.name for e in models if e.tokenizer is None), None)  # the data's tokens
    if space is not None and reader is not None and gold is not None:
        gold_words = space.gold(reader, gold.cpu().numpy())

    def own(entry: Explained) -> tuple[torch.Tensor, torch.Tensor]:
        """The chosen inputs and the background as this model reads them."""
        if space is None:
            return inputs, background
        reading = space.readings[entry.name]
        return reading.inputs.to(device), reading.background.to(device)

    reference = explained_form(models[0].model).to(device).eval()
    with torch.no_grad():
        teacher_pred = reference(own(models[0])[0]).argmax(-1)
    targets = labels if target_kind == "label" else teacher_pred
    maps: dict[str, np.ndarray] = {}
    randomised_maps: dict[str, torch.Tensor] = {}  # each model's randomised copy, explained

    def explain_on(x, bg):
        def explain(m: nn.Module, explainer_cfg: Any = cfg.explainer) -> torch.Tensor:
            return explainer(m, x, targets, bg, explainer_cfg).detach()

        return explain

    explain = explain_on(inputs, background)

    quality_rows: dict[str, dict[str, list[float]]] = {}
    cascading: dict[str, list[dict]] = {}
    predictions: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(f"explaining with {cfg.explainer.name}", total=len(models))
        for entry in models:
            model = explained_form(entry.model).to(device).eval()
            x, bg = own(entry)
            explain_own = explain_on(x, bg)
            attributions = explain_own(model)
            maps[entry.name] = attributions.cpu().numpy()
            with torch.no_grad():
                probability, predicted = model(x).softmax(-1).max(-1)
            predictions[entry.name] = (predicted.cpu().numpy(), probability.cpu().numpy())
            quality_rows[entry.name] = explanation_quality(
                model,
                x,
                attributions,
                targets,
                bg,
                spec.quality,
                lambda m, name=entry.name, f=explain_own: randomised_maps.setdefault(name, f(m)),
                completeness_reference(cfg.explainer, x, bg),
                seed=draw_seed(int(cfg.seed)),
            )
            gold_own = gold if space is None else space.tokens_of(entry.name, gold_words)
            if gold_own is not None:  # a known rationale: does the map point at it?
                gold_own = gold_own.to(device)
                quality_rows[entry.name].update(plausibility_rows(x, attributions, gold_own))
            warn_incomplete(entry.name, cfg.explainer.name, quality_rows[entry.name])
            if spec.quality.cascading:
                cascading[entry.name] = cascading_randomisation(attributions, model, explain_own)
            progress.advance(task)
    vocabulary = None
    if space is not None:  # compared, drawn and saved as words from here on
        maps = {name: space.maps(name, found) for name, found in maps.items()}
        drawn, vocabulary = space.drawn()
        inputs = torch.from_numpy(drawn).to(device)
        gold = None if gold_words is None else torch.from_numpy(gold_words)
    frac = float(spec.top_k_fraction)
    signed = signed_maps(cfg.explainer)
    shape = tuple(inputs.shape[1:])
    details = {
        e.name: explainer_details(cfg.explainer, explained_form(e.model), shape) for e in models
    }
    found_mask = kind_of(inputs).mask(inputs)  # texts: only real tokens (shared words) count
    real = None if found_mask is None else found_mask.cpu().numpy()
    per_input = {
        e.name: agreement(maps[models[0].name], maps[e.name], frac, signed, real)
        for e in models[1:]
    }
    boot = draw_seed(int(cfg.seed))  # the bootstrap's draws, from the explain stream
    summary = {name: summarise(rows, boot) for name, rows in per_input.items()}
    students = [e.name for e in models[1:]]
    paired = {
        f"{a} - {b}": {m: paired_difference(per_input[a][m], per_input[b][m], boot) for m in rows}
        for i, a in enumerate(students)
        for b in students[i + 1 :]
        for rows in [per_input[a]]
    }
    chance_and_ceiling = {}
    # the sanity check already explained the teacher's randomised copy (same seed): reuse it
    found = randomised_maps.get(models[0].name)
    teacher_randomised = None if found is None else found.cpu().numpy()
    if spec.levels and space is None:  # words: the levels' maps would be tokens of one model
        chance_and_ceiling = levels(
            reference,
            maps[models[0].name],
            explain,
            cfg.explainer,
            is_stochastic(cfg.explainer.name),
            inputs,
            background,
            frac,
            signed,
            teacher_randomised,
            real,
        )
    attr_dir = out_dir / "attributions"
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer,
        inputs=inputs.cpu().numpy(),
        labels=labels.cpu().numpy(),
        targets=targets.cpu().numpy(),
        **{f"attr_{k}": v for k, v in maps.items()},
    )
    atomic_write_bytes(attr_dir / "attributions.npz", buffer.getvalue())
    result = {
        "explainer": dict(cfg.explainer),
        "target": target_kind,
        "reference": models[0].name,
        "num_inputs": int(len(inputs)),
        "top_k_fraction": frac,
        "signed_maps": signed,
        "explainer_details": {name: found for name, found in details.items() if found},
        "definitions": {name: DEFINITIONS[name] for name in measures(signed)},
        "agreement": summary,
        "levels": chance_and_ceiling,
        "normalised": {
            name: {m: normalised(s[m]["mean"], chance_and_ceiling[m]) for m in chance_and_ceiling}
            for name, s in summary.items()
        },
        "per_input": per_input,
        "quality_settings": dataclasses.asdict(spec.quality),
        "paired": paired,
        "per_class": agreement_per_class(per_input, labels.cpu().numpy()),
        "quality": {name: summarise(rows, boot) for name, rows in quality_rows.items()},
        "per_input_quality": quality_rows,
        "cascading_randomisation": cascading,
        # distill.align=words: maps, agreement and pictures are over whitespace words
        "compared_on": "words" if space is not None else "inputs",
    }
    atomic_write_json(attr_dir / "metrics.json", result)
    return {
        "maps": maps,
        "inputs": inputs.cpu().numpy(),
        "labels": labels.cpu().numpy(),
        "targets": targets.cpu().numpy(),
        "predictions": predictions,
        "metrics": result,
        # the gold rationale of the explained inputs, where the data has one
        "rationale": None if gold is None else gold.cpu().numpy(),
        # compared on words: the words' vocabulary of `inputs` (None: the data's)
        "vocabulary": vocabulary,
    }
