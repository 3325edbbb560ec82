"""report.html: one self-contained page (images embedded), readable offline."""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

from distillctl.explain.faithfulness import QUALITY
from distillctl.explain.levels import CHANCE
from distillctl.io import atomic_write_text
from distillctl.report.tables import COLUMNS, fmt
from distillctl.report.verdict import plain_summary

STYLE = """
.tokens { text-align: left; margin: 0.5rem 0; }
.tokrow { margin: 0.3rem 0; line-height: 1.9; }
.tok { padding: 0.1rem 0.15rem; margin-right: 0.25rem; border-radius: 3px; }
.tok.glued { margin-left: -0.25rem; }
.tok.gold { text-decoration: underline 2px; text-underline-offset: 3px; }
.tokhead { font-size: 0.85rem; color: #555; margin: 0; }
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.3rem 0.6rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
img { max-width: 100%; margin: 0.3rem 0; }
pre { background: #f6f6f6; padding: 1rem; overflow-x: auto; font-size: 0.8rem; }
.note { color: #555; font-size: 0.9rem; }
"""


QUALITY_HEADERS = (
    "deletion AUC ↓",
    "insertion AUC ↑",
    "p(target | x)",
    "deletion vs random ↑",
    "insertion vs random ↑",
    "faithfulness corr. ↑",
    "sparseness (Gini)",
    "randomisation Spearman |maps| ↓",
    "randomisation Spearman signed ↓",
    "model-free Spearman |maps|",
    "completeness gap ↓",
)


# texts: ERASER's faithfulness and, where the data has a gold rationale, plausibility
TEXT_FIGURES = (
    ("comprehensiveness_aopc", "comprehensiveness AOPC ↑"),
    ("comprehensiveness_aopc_random", "… random token order"),
    ("sufficiency_aopc", "sufficiency AOPC ↓"),
    ("sufficiency_aopc_random", "… random token order"),
    *[(f"comprehensiveness@{b}%", f"comprehensiveness at {b} %") for b in (1, 5, 10, 20, 50)],
    *[(f"sufficiency@{b}%", f"sufficiency at {b} %") for b in (1, 5, 10, 20, 50)],
    ("plausibility_auprc", "plausibility: token AUPRC vs the gold rationale ↑"),
    ("plausibility_precision_at_k", "plausibility: precision at k = |rationale| ↑"),
)


def _text_table(explain: dict[str, Any]) -> str:
    """ERASER's figures per model (texts only), with their intervals."""
    by_model = explain.get("quality", {})
    rows = [
        [header] + [_mean_std(stats.get(key)) for stats in by_model.values()]
        for key, header in TEXT_FIGURES
        if any(key in stats for stats in by_model.values())
    ]
    if not rows:
        return ""
    return (
        "<h3>Which words: ERASER's faithfulness and plausibility</h3>"
        '<p class="note">ERASER (DeYoung et al. 2020), per input over its word tokens: '
        "comprehensiveness = p(y|x) - p(y|x without the top k % tokens), sufficiency = p(y|x) - "
        "p(y|only them), AOPC their mean over k = 1, 5, 10, 20, 50 %; a removed token is "
        "[PAD]. The random-order rows are the same figures for a random ranking: an "
        "explanation should beat them. Plausibility (where the data has a gold rationale): "
        "token AUPRC of the attribution against the rationale tokens, and the share of the "
        "top-k tokens that are rationale tokens (k = their count). Mean ± std [95 % "
        "bootstrap interval], n.</p>" + _table(["figure", *by_model], rows)
    )


def _mean_std(stats: dict | None) -> str:
    if not stats or stats.get("n", 0) == 0:
        return "-"
    return _agreement_cell(stats)


def _agreement_cell(stats: dict) -> str:
    """mean ± std over the inputs where the measure is defined, and how many it was not."""
    if stats.get("n", 0) == 0:
        return f"undefined ({stats.get('undefined', 0)} inputs)"
    cell = f"{stats['mean']:.3f} ± {stats['std']:.3f}"
    if stats.get("ci_low") is not None:
        cell += f" [{stats['ci_low']:.3f}, {stats['ci_high']:.3f}]"
    cell += f", n={stats['n']}"
    return cell + (f" ({stats['undefined']} undefined)" if stats.get("undefined") else "")


def _paired_table(explain: dict[str, Any]) -> str:
    """Each pair of students compared per input: mean difference, interval, verdict."""
    pairs = explain.get("paired") or {}
    if not pairs:
        return ""
    rows = [
        [pair, measure, f"{d['mean']:+.3f}"]
        + ([f"[{d['ci_low']:+.3f}, {d['ci_high']:+.3f}]"] if d["ci_low"] is not None else ["-"])
        + [str(d["n"]), d["verdict"]]
        for pair, by_measure in pairs.items()
        for measure, d in by_measure.items()
    ]
    return (
        '<p class="note">Students compared on the same inputs: the per-input difference of '
        "each agreement figure, its mean and 95 % bootstrap interval (seeded, 2,000 resamples), "
        "over the inputs where both are defined.</p>"
        + _table(["pair", "measure", "mean difference", "95% interval", "n", "verdict"], rows)
    )


def _levels_table(explain: dict[str, Any]) -> str:
    """Per measure: the chance levels, the ceiling, and each model's raw and normalised figure."""
    levels = explain.get("levels") or {}
    if not levels:
        return '<p class="note">Chance and ceiling were not computed (explain.levels=false).</p>'
    names = list(explain["agreement"])
    rows = []
    for measure, level in levels.items():
        chance = level["chance"]
        rows.append(
            [measure]
            + [f"{chance[k]:.3f}" for k in CHANCE]
            + [f"{level['ceiling']:.3f}"]
            + [
                f"{explain['agreement'][n][measure]['mean']:.3f} → "
                f"{explain['normalised'][n][measure]:.2f}"
                for n in names
            ]
        )
    headers = ["measure", "chance: randomised teacher", "chance: model-free map"]
    headers += ["chance: mismatched inputs", "ceiling", *(f"{n}: raw → normalised" for n in names)]
    kind = next(iter(levels.values()))["ceiling_kind"]
    return (
        f'<p class="note">Each agreement figure between chance and ceiling. Ceiling: the '
        f"teacher's maps against themselves, {html.escape(kind)}. Chance: the teacher's maps "
        "against those of its re-initialised copy, against |input - mean background| (no "
        "model), and against its own maps of other inputs. Normalised: (raw - highest chance) / "
        "(ceiling - highest chance): 0 is no better than a map that knows nothing of the "
        "teacher's reasoning, 1 is as close as the teacher is to itself.</p>"
        + _table(headers, rows)
    )


def _cascading_table(explain: dict[str, Any]) -> str:
    steps = explain.get("cascading_randomisation") or {}
    if not steps:
        return ""
    rows = [
        [name, step["layer"], f"{step['spearman_abs']:.3f}", f"{step['spearman_signed']:.3f}"]
        for name, by_depth in steps.items()
        for step in by_depth
    ]
    return (
        '<p class="note">Cascading randomisation (Adebayo et al. 2018): the model\'s layers '
        "re-initialised cumulatively from the output down to the named layer; mean Spearman of "
        "the maps with the trained model's. A sane explanation falls as layers go.</p>"
        + _table(["model", "randomised down to", "Spearman |maps|", "Spearman signed"], rows)
    )


def _per_class_table(explain: dict[str, Any]) -> str:
    per_class = explain.get("per_class") or {}
    if not per_class:
        return ""
    names = list(per_class)
    classes = sorted({c for rows in per_class.values() for c in rows}, key=int)
    rows = [
        [str(c)] + [f"{per_class[n][c]['mean']:.3f} (n={per_class[n][c]['n']})" for n in names]
        for c in classes
    ]
    return "<h3>Agreement per class (Spearman with the teacher, by true class)</h3>" + _table(
        ["class", *names], rows
    )


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _image(path: Path, caption: str = "") -> str:
    """A picture (PNG, embedded) or an HTML fragment (a text's coloured tokens), captioned."""
    if Path(path).suffix == ".html":
        image = Path(path).read_text(encoding="utf-8")
    else:
        data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
        image = f'<img alt="{html.escape(Path(path).stem)}" src="data:image/png;base64,{data}">'
    if not caption:
        return image
    return f"<figure>{image}<figcaption>{html.escape(caption)}</figcaption></figure>"


def _trees_section(trees) -> str:
    """A soft tree student drawn as the tree (report/tree.py); nothing for other models."""
    if not trees:
        return ""
    return f"""<h2>What the soft tree learned</h2>
<p class="note">A soft decision tree is read directly: each inner node is one linear filter
that routes an input left or right, each leaf a distribution over the classes. Its maps above
explain the tree's mixture of leaves (sum over leaves of path probability x leaf distribution):
its max-leaf answer, which gives its accuracy, is piecewise constant in the input and has no
gradient to explain.</p>
{"".join(_image(path, caption) for path, caption in trees)}"""


def _curves_section(curves) -> str:
    """Each trained model's curves (report/curves.py); nothing where no run folder has them."""
    if not curves:
        return ""
    return f"""<h2>Training curves</h2>
<p class="note">Per trained model, from its metrics.csv: the training loss and the validation
accuracy per epoch, the weights and temperatures its schedules moved
(<code>loss.&lt;term&gt;.schedule</code>, <code>loss.kd.temperature_schedule</code>) or learned
(<code>distill.weighting</code>), and an agreement controller's checks against its target
(<code>distill.control</code>).</p>
{"".join(_image(path, caption) for path, caption in curves)}"""


def render(
    title: str,
    summary: dict[str, Any],
    rows: list[dict],
    explain: dict[str, Any],
    figures: list[tuple[Path, str]],
    configs: list[tuple[str, str]],
    trees: list[tuple[Path, str]] = (),
    curves: list[tuple[Path, str]] = (),
) -> str:
    models = _table(
        [h for h, _, _ in COLUMNS], [[fmt(r.get(k), kind) for _, k, kind in COLUMNS] for r in rows]
    )
    agreement_rows = [
        [name] + [_agreement_cell(stats[m]) for m in stats]
        for name, stats in explain["agreement"].items()
    ]
    definitions = "".join(
        f"<li><b>{html.escape(name)}</b>: {html.escape(text)}</li>"
        for name, text in explain.get("definitions", {}).items()
    )
    metric_names = list(next(iter(explain["agreement"].values()), {}).keys())
    agreement = _table(["model vs " + explain["reference"]] + metric_names, agreement_rows)
    by_model = explain.get("quality", {})
    quality = _table(  # one row per figure, one column per model: 11 figures do not fit across
        ["figure", *by_model],
        [
            [header] + [_mean_std(stats.get(m)) for stats in by_model.values()]
            for m, header in zip(QUALITY, QUALITY_HEADERS)
            if any(m in stats for stats in by_model.values())
        ],
    )
    settings = explain.get("quality_settings", {})
    facts = "".join(
        f"<li><b>{html.escape(k)}</b>: {html.escape(str(v))}</li>" for k, v in summary.items()
    )
    pictures = "\n".join(_image(path, caption) for path, caption in figures)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{STYLE}</style></head><body>
<h1>{html.escape(title)}</h1>
<ul>{facts}</ul>
<h2>In short</h2>
{"".join(f"<p>{html.escape(line)}</p>" for line in plain_summary(explain))}
<h2>Accuracy, size and speed</h2>
<p class="note">Test metrics are computed once, on the checkpoint chosen on validation accuracy.
Compression is the teacher's parameter count over each model's.</p>
{models}
<h2>Do the students reason like the teacher?</h2>
<p class="note">Agreement of each model's attributions with the teacher's on the same
{explain["num_inputs"]} test inputs ({html.escape(explain["explainer"]["name"])}, explaining the
{html.escape(explain["target"])} class), each computed per input on the maps as the explainer
gives them (signed values), then mean ± standard deviation over the inputs where it is defined,
[95 % bootstrap interval of the mean], n inputs (top-k overlap at
k = {explain["top_k_fraction"]:.0%} of the features):</p>
<ul class="note">{definitions}</ul>
{agreement}
{_paired_table(explain)}
{_levels_table(explain)}
<h2>Are the explanations faithful, sane and sparse?</h2>
<p class="note">Per model, mean ± standard deviation over the same inputs. Deletion / insertion
AUC (Petsiuk et al. 2018): the target-class probability as features are replaced by the
{html.escape(str(settings.get("baseline", "zero")))} baseline (or inserted into it), most relevant
first, in {settings.get("steps", "-")} steps; lower deletion and higher insertion is more
faithful. Raw AUCs favour a less confident model (its curve starts lower), so compare models
on the columns "vs random": the gain over removing (inserting) features in a random order, in
units of the model's own p(target | x); above 0 beats random.
Faithfulness correlation (Bhatt et al. 2020): Pearson correlation of the attribution
sum over {settings.get("subsets", "-")} random subsets of {settings.get("subset_fraction", 0):.0%}
of the features with the logit drop when they are removed. Sparseness: Gini index of
|attributions|. Randomisation (Adebayo et al. 2018): Spearman correlation of the maps
(|maps| and signed) with those of the same model after re-initialising its weights; a sane
explanation falls well below 1. On |maps| it is read beside the model-free Spearman: |maps|
against |input - mean background|, a map with no model at all; a randomisation figure near it
mostly measures the input's imprint. Completeness gap (IG, DeepLift, GradientShap, SHAP's
gradient and deep explainers): |sum of attributions - (f(x) - f(reference))| relative to
|f(x) - f(reference)| on the target logit; large gaps are warned about.</p>
{quality}
{_text_table(explain)}
{_cascading_table(explain)}
<h2>Attributions</h2>
<p class="note">Per input, the models' maps share one symmetric colour scale (red: evidence
for the explained class, blue: against; colour bar on the right), so a weaker map looks
weaker; each panel names the model's own prediction and its probability. Of the
{explain["num_inputs"]} explained inputs (the first test inputs, in order),
`explain.num_figures` are drawn: up to half where a student's prediction is wrong, the rest
where a student's map disagrees most with the teacher's (lowest Spearman, the students taking
turns), then the first inputs; each says why it was chosen. The grid shows the first 12.</p>
{_per_class_table(explain)}
{pictures}
{_trees_section(trees)}
{_curves_section(curves)}
<h2>Configurations: the explain settings and each explained run</h2>
{"".join(f"<h3>{html.escape(label)}</h3><pre>{html.escape(text)}</pre>" for label, text in configs)}
</body></html>
"""


def write_report(path: Path, **parts: Any) -> Path:
    atomic_write_text(path, render(**parts))
    return path
