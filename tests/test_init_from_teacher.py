"""A student initialised from its teacher, the DistilBERT way: embeddings and the chosen
blocks copied exactly; a depth or width that does not fit is one message naming it."""

import json

import pytest
import torch

from distillctl.errors import ConfigError
from distillctl.models import create_model
from distillctl.models.init_from_teacher import chosen_layers, initialise_from
from distillctl.runfolder.checkpoints import load_model
from tests.conftest import compose_cfg, run_stage


def transformer(layers, d_model=32, heads=4, ffn=64):
    spec = {"arch": "transformer", "num_classes": 3, "vocab_size": 50, "layers": layers}
    return create_model({**spec, "d_model": d_model, "heads": heads, "ffn": ffn}, (10,))


def test_the_chosen_teacher_blocks_and_the_embeddings_are_copied_exactly():
    torch.manual_seed(0)
    teacher, student = transformer(6), transformer(3)
    assert initialise_from(student, teacher, [0, 2, 4]) == [0, 2, 4]
    for j, i in enumerate([0, 2, 4]):
        for (name, mine), theirs in zip(
            student.blocks[j].state_dict().items(), teacher.blocks[i].state_dict().values()
        ):
            assert torch.equal(mine, theirs), (j, name)
    for part in ("embed", "position", "norm", "head"):
        assert torch.equal(getattr(student, part).weight, getattr(teacher, part).weight)
    x = torch.randint(5, 50, (2, 10))
    x[:, 0] = 2
    with torch.no_grad():  # the copied student is a working classifier, not the teacher
        assert student(x).shape == (2, 3) and not torch.allclose(student(x), teacher(x))


def test_every_other_takes_blocks_0_2_4():
    assert chosen_layers("every_other", 3, 6) == [0, 2, 4]


@pytest.mark.parametrize(
    "spec,student,message",
    [
        ([0, 2, 9], dict(layers=3), r"block\(s\) \[9\] are beyond the teacher's 6"),
        ([0, 2], dict(layers=3), "names 2 teacher blocks for a student of 3"),
        (
            [0, 2, 4],
            dict(layers=3, d_model=16, heads=4, ffn=64),
            r"embed.weight is \(50, 16\) but the teacher's embed.weight is \(50, 32\)",
        ),
    ],
)
def test_what_does_not_fit_is_one_message_naming_it(spec, student, message):
    with pytest.raises(ConfigError, match=message):
        initialise_from(transformer(**student), transformer(6), spec)


def test_a_student_that_is_not_a_transformer_is_refused():
    bow = create_model({"arch": "bow", "num_classes": 3, "vocab_size": 50}, (10,))
    with pytest.raises(ConfigError, match="the student is BagOfWords"):
        initialise_from(bow, transformer(2), [0])


# --- through the stages ------------------------------------------------------------------------

INIT = [
    "experiment=text_planted",
    "data.num_samples=300",
    "data.distractors=60",
    "data.vocab_size=300",
    "student=transformer",
    "~student.embed_dim",
    "teacher.layers=2",
    "teacher.d_model=32",
    "teacher.ffn=64",
    "student.layers=1",
    "student.d_model=32",
    "student.ffn=64",
    "student.init_from_teacher=[1]",
    "loss=[ce,kd]",
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=2",
    "trainer.enable_progress_bar=false",
    "explain.num_inputs=4",
    "explain.background=8",
    "explain.num_figures=1",
]


@pytest.mark.slow
def test_run_trains_the_two_matched_baselines_of_an_initialised_student(tmp_path):
    """scratch starts from random weights, `initialised` from the teacher's block 1 with hard
    labels only, `distilled` from the same block with the recipe: the initialisation's and the
    distillation's gains are reported apart."""
    run_dir, result = run_stage("run", tmp_path, *INIT)
    stages = result["stages"]
    assert set(stages) == {"teacher", "scratch", "initialised", "distilled"}
    acc = {role: stages[role]["test_acc"] for role in ("scratch", "initialised", "distilled")}
    assert result["gains"] == pytest.approx(
        {
            "initialisation": acc["initialised"] - acc["scratch"],
            "distillation": acc["distilled"] - acc["initialised"],
        }
    )
    started = {}
    for role in ("scratch", "initialised", "distilled"):
        model, meta = load_model(run_dir / role / "checkpoints/best.ckpt", "student")
        started[role] = meta.get("init_from_teacher")
        assert "init_from_teacher" not in meta["model"]  # not a builder argument
        assert len(model.blocks) == 1
    assert started == {"scratch": None, "initialised": [1], "distilled": [1]}
    metrics = json.loads((run_dir / "attributions/metrics.json").read_text())
    assert "initialised student" in metrics["agreement"]


@pytest.mark.parametrize(
    "stage,overrides,message",
    [
        ("train_teacher", ["teacher.init_from_teacher=[0]"], "only a student starts from"),
        (
            "train_student",
            ["student=bow", "+student.init_from_teacher=[0]"],
            "student=bow has none",
        ),
        ("distill_student", ["student.init_from_teacher=first"], "neither every_other nor a list"),
    ],
)
def test_a_misplaced_init_from_teacher_is_refused_before_any_run_folder(
    tmp_path, stage, overrides, message
):
    from distillctl.configuration.validate import validate

    base = ["experiment=text_planted", "student=transformer", "~student.embed_dim"]
    if "student=bow" in overrides:
        base = ["experiment=text_planted"]
    with pytest.raises(ConfigError, match=message):
        validate(compose_cfg(stage, [*base, *overrides], tmp_path))
    assert not (tmp_path / "outputs").exists()
