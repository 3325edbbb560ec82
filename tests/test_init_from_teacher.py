"""A student initialised from its teacher, the DistilBERT way: embeddings and the chosen
blocks copied exactly; a depth or width that does not fit is one message naming it."""

import pytest
import torch

from distillctl.errors import ConfigError
from distillctl.models import create_model
from distillctl.models.init_from_teacher import chosen_layers, initialise_from


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
        ([0, 2, 4], dict(layers=3, d_model=16, heads=4, ffn=64), r"embed.weight is \(50, 16\) but"),
    ],
)
def test_what_does_not_fit_is_one_message_naming_it(spec, student, message):
    with pytest.raises(ConfigError, match=message):
        initialise_from(transformer(**student), transformer(6), spec)


def test_a_student_that_is_not_a_transformer_is_refused():
    bow = create_model({"arch": "bow", "num_classes": 3, "vocab_size": 50}, (10,))
    with pytest.raises(ConfigError, match="the student is BagOfWords"):
        initialise_from(bow, transformer(2), [0])
