"""How explanations are read: agreement measures, chance and ceiling, intervals over inputs,
and the report's choices (which inputs to draw, one colour scale, the plain summary)."""

import pytest
import torch

from distillctl.explain import get_explainer
from tests.test_explainers import explainer_cfg, nonlinear_problem


def test_top_k_overlap_of_disjoint_supports_is_zero_and_ties_are_not_scored():
    import math

    import numpy as np

    from distillctl.explain.agreement import agreement, summarise

    a, b = np.zeros((3, 30)), np.zeros((3, 30))
    a[0, :3], b[0, 3:6] = [3.0, 2.0, 1.0], [3.0, 2.0, 1.0]  # disjoint supports, k = 3
    a[1, :2], b[1, :2] = [2.0, 1.0], [1.0, 2.0]  # 2 non-zero: the 3rd place is a tie of zeros
    # input 2: all zero in both maps
    rows = agreement(a, b, top_k_fraction=0.1)
    assert rows["topk"][0] == 0.0
    assert math.isnan(rows["topk"][1]) and math.isnan(rows["topk"][2])
    assert math.isnan(rows["spearman"][2]) and math.isnan(rows["sign"][2])
    summary = summarise(rows)["topk"]
    assert (summary["n"], summary["undefined"], summary["mean"]) == (1, 2, 0.0)


def test_sign_agreement_is_reported_for_signed_explainers_only():
    import numpy as np

    from distillctl.explain import signed_maps
    from distillctl.explain.agreement import agreement

    assert signed_maps(explainer_cfg("captum_ig"))
    assert signed_maps(explainer_cfg("captum_saliency", abs=False))
    assert not signed_maps(explainer_cfg("captum_saliency", abs=True))
    assert not signed_maps(explainer_cfg("captum_gradcam"))
    maps = np.random.default_rng(0).random((2, 10))
    assert "sign" in agreement(maps, maps, signed=True)
    assert set(agreement(maps, maps, signed=False)) == {"spearman", "topk", "cosine"}


def test_chance_and_ceiling_levels():
    import math

    import numpy as np

    from distillctl.explain.agreement import agreement, summarise
    from distillctl.explain.levels import levels, model_free_map, normalised

    model, x, targets, background = nonlinear_problem()
    x = torch.randn(8, 6)
    targets = torch.tensor([0, 1, 2, 1, 0, 2, 1, 0])

    def run(name, **changes):
        cfg = explainer_cfg(name, **changes)
        explain = get_explainer(name)
        maps = explain(model, x, targets, background, cfg).numpy()
        return maps, levels(
            model,
            maps,
            lambda m, c: explain(m, x, targets, background, c),
            cfg,
            name == "captum_gradientshap",
            x,
            background,
            0.34,
            True,
        )

    maps, fixed = run("captum_ig")
    assert (
        fixed["spearman"]["ceiling"] == 1.0 and "construction" in fixed["spearman"]["ceiling_kind"]
    )
    free = model_free_map(x, background)
    assert torch.allclose(free, (x - background.mean(0)).abs())
    expected = summarise(agreement(maps, np.roll(maps, 1, axis=0), 0.34))["spearman"]["mean"]
    assert fixed["spearman"]["chance"]["mismatched_inputs"] == expected
    chance = fixed["spearman"]["chance"]
    assert fixed["spearman"]["chance_max"] == max(chance.values())

    _, drawn = run("captum_gradientshap", nsamples=4)
    assert "independent draws" in drawn["spearman"]["ceiling_kind"]
    assert 0.0 < drawn["spearman"]["ceiling"] < 1.0  # 4 samples: a second draw differs

    level = {"chance_max": 0.2, "ceiling": 0.9}
    assert normalised(0.55, level) == pytest.approx(0.5)
    assert normalised(0.9, level) == pytest.approx(1.0)
    assert math.isnan(normalised(0.5, {"chance_max": 0.9, "ceiling": 0.9}))


def test_bootstrap_interval_matches_the_normal_theory_interval_and_is_seeded():
    import numpy as np

    from distillctl.explain.uncertainty import bootstrap_interval

    values = np.random.default_rng(0).normal(0.5, 1.0, size=400)
    low, high = bootstrap_interval(values, seed=3)
    half = 1.96 * values.std(ddof=1) / np.sqrt(len(values))
    assert low < values.mean() < high
    assert (high - low) / 2 == pytest.approx(half, rel=0.15)
    assert bootstrap_interval(values, seed=3) == (low, high)
    assert bootstrap_interval(np.array([0.7]), seed=0) is None


def test_paired_difference_counts_undefined_inputs_and_gives_a_verdict():
    from distillctl.explain.uncertainty import paired_difference

    nan = float("nan")
    better = paired_difference([0.9, 0.8, 0.85, nan, 0.9], [0.1, 0.2, 0.15, 0.3, nan], seed=0)
    assert (better["n"], better["undefined"]) == (3, 2)
    assert better["mean"] == pytest.approx(0.7)
    assert better["ci_low"] > 0 and better["verdict"].startswith("distinguishable")
    even = paired_difference([0.5, 0.1, 0.4, 0.2], [0.1, 0.5, 0.2, 0.4], seed=0)
    assert even["ci_low"] < 0 < even["ci_high"] and even["verdict"].startswith("not")


def test_plain_summary_names_the_closer_student_and_flags_what_means_little():
    from distillctl.report.verdict import plain_summary

    def stats(mean):
        return {"spearman": {"mean": mean}}

    metrics = {
        "reference": "teacher",
        "explainer": {"name": "captum_ig"},
        "agreement": {"distilled student": stats(0.74), "scratch student": stats(0.12)},
        "levels": {
            "spearman": {"ceiling": 0.96, "chance_max": 0.10, "ceiling_kind": "second draw"}
        },
        "normalised": {
            "distilled student": {"spearman": (0.74 - 0.10) / 0.86},
            "scratch student": {"spearman": (0.12 - 0.10) / 0.86},
        },
        "paired": {
            "distilled student - scratch student": {
                "spearman": {"mean": 0.62, "ci_low": 0.55, "ci_high": 0.69, "n": 64}
            }
        },
    }
    text = " ".join(plain_summary(metrics))
    assert "chance 0.100, ceiling 0.960" in text
    assert "0.74 of the way from chance to ceiling" in text
    assert "Barely above" in text.split("scratch student: ")[1]
    assert "The distilled student's explanations are closer" in text and "[+0.550, +0.690]" in text
    metrics["levels"]["spearman"]["chance_max"] = 0.9
    assert "cannot tell the models apart" in " ".join(plain_summary(metrics))
    metrics["paired"]["distilled student - scratch student"]["spearman"]["ci_low"] = -0.1
    assert "no difference the inputs can show" in " ".join(plain_summary(metrics))


def test_every_models_map_of_an_input_shares_one_colour_scale():
    import numpy as np

    from distillctl.report.figures import prediction_text, row_scale

    teacher = np.zeros((2, 1, 3, 3))
    student = np.zeros((2, 1, 3, 3))
    teacher[0, 0, 1, 1], student[0, 0, 0, 0] = 4.0, -0.5
    teacher[1, 0, 0, 0], student[1, 0, 2, 2] = 0.1, 0.3
    maps = {"teacher": teacher, "student": student}
    assert row_scale(maps, 0) == 4.0 and row_scale(maps, 1) == pytest.approx(0.3)
    predictions = {"teacher": (np.array([3, 1]), np.array([0.97, 0.5]))}
    assert prediction_text(predictions, "teacher", 0) == "predicts 3 (p=0.97)"
    assert prediction_text(predictions, "student", 0) == ""


def test_the_report_draws_mistakes_and_disagreements_and_says_why():
    import numpy as np

    from distillctl.explain.agreement import agreement_per_class
    from distillctl.report.selection import choose_inputs

    labels = np.array([0, 1, 2, 3, 4, 5, 6, 7])
    per_input = {
        "distilled": {"spearman": [0.9, 0.8, 0.1, 0.7, 0.6, float("nan"), 0.9, 0.9]},
        "scratch": {"spearman": [0.9, 0.9, 0.9, 0.9, 0.9, 0.9, -0.2, 0.9]},
    }
    predictions = {
        "distilled": (np.array([0, 1, 2, 3, 4, 5, 6, 7]), np.ones(8)),
        "scratch": (np.array([0, 1, 2, 3, 9, 5, 6, 7]), np.ones(8)),
    }
    chosen = dict(choose_inputs(per_input, predictions, labels, count=4))
    assert chosen[4] == "scratch predicts 9, the label is 4"
    assert "distilled's map disagrees most" in chosen[2] and "0.10" in chosen[2]
    assert "scratch's map disagrees most" in chosen[6]
    assert len(chosen) == 4 and 5 not in chosen  # an undefined figure is never "lowest"
    few = choose_inputs(per_input, predictions, labels, count=8)
    assert len(few) == 8  # filled up with the first inputs
    per_class = agreement_per_class(per_input, labels)
    assert per_class["distilled"][2] == {"mean": 0.1, "n": 1}
    assert per_class["distilled"][5]["n"] == 0


def test_report_images_undo_the_normalisation_for_display():
    import numpy as np

    from distillctl.report.figures import viewable

    pixels = np.random.default_rng(0).random((3, 4, 4))
    mean, std = [0.5, 0.4, 0.3], [0.2, 0.25, 0.3]
    normalised = (pixels - np.reshape(mean, (3, 1, 1))) / np.reshape(std, (3, 1, 1))
    shown = viewable(normalised, (mean, std))
    assert shown.shape == (4, 4, 3) and np.allclose(shown, pixels.transpose(1, 2, 0))
    assert viewable(pixels[:1]).shape == (4, 4)  # grey stays one plane, untouched
