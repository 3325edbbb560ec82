"""Texts drawn with their attributions: per chosen input, the text once per model, each
token's background coloured on one symmetric scale shared by every model's map of that input
(red: for the explained class, blue: against; white: nothing), with the model's prediction and
probability. Written as HTML fragments (crisp text, selectable, readable in any browser) that
the report embeds where other kinds embed pictures."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np

from distillctl.io import atomic_write_text
from distillctl.report.figures import prediction_text


def colour(value: float, scale: float) -> str:
    """rgb() of `value` on the symmetric scale [-scale, scale]: white at 0, red up, blue down."""
    t = max(-1.0, min(1.0, value / scale)) if scale > 0 else 0.0
    fade = int(round(255 * (1 - abs(t))))
    return f"rgb(255,{fade},{fade})" if t >= 0 else f"rgb({fade},{fade},255)"


def token_html(tokens: list[str], values: np.ndarray, scale: float, gold=None) -> str:
    """The tokens as spans coloured by value; `gold` (bool per token) underlines the tokens
    of a known rationale."""
    spans = []
    gold = np.zeros(len(tokens), bool) if gold is None else np.asarray(gold, bool)
    for token, value, marked in zip(tokens, values, gold):
        glued = token.startswith("##")  # a word piece continues the word before it
        text = html.escape(token[2:] if glued else token)
        classes = "tok" + (" glued" if glued else "") + (" gold" if marked else "")
        spans.append(
            f'<span class="{classes}" title="{value:+.4f}" '
            f'style="background:{colour(float(value), scale)}">{text}</span>'
        )
    return "".join(spans)


def token_maps(
    inputs,
    maps,
    labels,
    targets,
    out_dir: Path,
    chosen: list[int],
    predictions=None,
    vocabulary=None,
    rationale=None,
    **_,
) -> list[Path]:
    """One HTML fragment per chosen input (input_<i>.html): the text per model, the gold
    rationale's tokens underlined where the data has one."""
    from distillctl.inputs.text import PAD

    vocabulary = list(vocabulary or [])
    predictions = predictions or {}
    paths = []
    for i in chosen:
        ids = np.asarray(inputs[i])
        real = ids != PAD
        tokens = [vocabulary[t] if t < len(vocabulary) else f"<{t}>" for t in ids[real]]
        scale = max(float(np.abs(maps[name][i][real]).max(initial=0.0)) for name in maps)
        gold = None if rationale is None else np.asarray(rationale[i])[real]
        rows = [
            f"<p class='tokhead'>label {html.escape(str(labels[i]))}; explained: class "
            f"{html.escape(str(targets[i]))}; colour scale ±{scale:.3g}"
            + ("; underlined: the gold rationale" if gold is not None else "")
            + "</p>"
        ]
        for name in maps:
            said = prediction_text(predictions, name, i)
            rows.append(
                f"<div class='tokrow'><b>{html.escape(name)}</b> "
                f"<i>{html.escape(said)}</i><br>"
                f"{token_html(tokens, np.asarray(maps[name][i])[real], scale, gold)}</div>"
            )
        path = out_dir / f"input_{i:03d}.html"
        atomic_write_text(path, "<div class='tokens'>" + "".join(rows) + "</div>")
        paths.append(path)
    return paths
