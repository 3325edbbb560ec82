"""Hugging Face models (`teacher=hf`, `student=hf`) and data sets (`data=hf`), offline: a tiny
BERT and its tokenizer save_pretrained to a folder, a data set save_to_disk; the model reads
distillctl's ids through the tokenizer's renumbering and gives the logits transformers gives."""

import json

import numpy as np
import pytest
import torch

from distillctl.configuration.validate import validate
from distillctl.errors import ConfigError, DistillctlError
from tests.conftest import TINY, compose_cfg, forked_cli, run_stage
from tests.hf_models import VOCAB, save_bert, save_reviews


@pytest.fixture(scope="module")
def bert(tmp_path_factory):
    return save_bert(tmp_path_factory.mktemp("bert"))


@pytest.fixture(scope="module")
def reviews(tmp_path_factory):
    return save_reviews(tmp_path_factory.mktemp("reviews"))


def hf_data(bert, reviews):
    return [
        "data=hf", f"data.path={reviews}", "data.text=sentence", "data.max_length=16",
        "data.batch_size=16", "teacher=hf", f"teacher.name={bert}",
    ]  # fmt: skip


def test_the_model_tokenizer_is_renumbered_to_the_text_kinds_special_ids(bert, tmp_path):
    from transformers import AutoTokenizer

    from distillctl.data.model_tokenizer import permutation, renumbered_file, special_ids
    from distillctl.data.tokens import load

    theirs = AutoTokenizer.from_pretrained(str(bert))
    assert special_ids(theirs, "bert") == [0, 5, 6, 7, 8]  # [PAD] [UNK] [CLS] [SEP] [MASK]
    ours = load(renumbered_file(str(bert), tmp_path / "tok.json"), 16)
    ids, _, _ = ours.encode(["the film was superb", "zzz"])
    assert ids[0, 0] == 2 and ids[0, 5] == 3 and ids[0, 6] == 0  # [CLS] ... [SEP] [PAD]
    assert ids[1, 1] == 1  # [UNK]
    order = permutation(len(VOCAB), special_ids(theirs, "bert"))
    expected = theirs(["the film was superb"])["input_ids"][0]
    assert order[ids[0, : len(expected)]].tolist() == expected  # back to the model's ids
    assert ours.tokens(ids[0, :3]) == ["[CLS]", "the", "film"]
    assert ours.vocabulary[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def test_an_hf_network_gives_the_logits_transformers_gives_and_declares_its_stages(bert):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from distillctl.models import create_model
    from distillctl.models.taps import output_shapes

    net = create_model(
        {"arch": "hf", "name": str(bert), "num_classes": 2, "vocab_size": len(VOCAB)}, (16,)
    )
    theirs = AutoModelForSequenceClassification.from_pretrained(str(bert)).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(bert))
    batch = tokenizer(
        ["the film was superb", "dull plot"],
        padding="max_length",
        max_length=16,
        return_tensors="pt",
    )
    from distillctl.data.model_tokenizer import permutation, special_ids

    to_ours = torch.from_numpy(np.argsort(permutation(len(VOCAB), special_ids(tokenizer, "b"))))
    with torch.no_grad():
        mine = net.eval()(to_ours[batch["input_ids"]])
        expected = theirs(**batch).logits
    assert torch.allclose(mine, expected, atol=1e-5)
    assert [e["module"] for e in net.feature_info] == ["states.0", "states.1"]
    shapes = output_shapes(net, (16,), ["states.1", "probs.0", "cls", "embedded"])
    assert shapes["states.1"] == (16, 16) and shapes["probs.0"] == (2, 16, 16)
    assert shapes["cls"] == (16,) and net.token_embedding.endswith("word_embeddings")
    assert net.transformer_taps["heads"] == 2


def test_the_splits_map_and_validation_is_carved_from_train_never_from_test(
    bert, reviews, tmp_path
):
    from distillctl.data import build_splits

    cfg = compose_cfg("train_teacher", hf_data(bert, reviews), tmp_path)
    splits = build_splits(cfg.data, cfg.paths.data_dir)
    assert (len(splits.y_train), len(splits.y_val), len(splits.y_test)) == (108, 12, 40)
    assert splits.class_names == ["neg", "pos"] and splits.kind == "text"
    assert splits.report["vocab_size"] == len(VOCAB)


@pytest.mark.parametrize(
    "overrides,saved,message",
    [
        (
            ["data.splits.test=holdout"],
            {},
            r"has no split 'holdout' \(for test\); its splits: test, train",
        ),
        ([], {"unlabelled_test": True}, "samples without a label"),
        (
            ["data.target=stars"],
            {},
            "data.target=stars is not a column of the split 'train'; its columns: sentence, label",
        ),
    ],
)
def test_what_the_data_set_does_not_have_is_one_message(bert, tmp_path, overrides, saved, message):
    from distillctl.data import build_splits

    folder = save_reviews(tmp_path / "set", **saved)
    cfg = compose_cfg("train_teacher", [*hf_data(bert, folder), *overrides], tmp_path)
    with pytest.raises(DistillctlError, match=message):
        build_splits(cfg.data, cfg.paths.data_dir)


@pytest.mark.parametrize(
    "name,message",
    [
        (
            "nobody-here/no-such-model",
            "neither a local folder nor a model in the Hugging Face cache",
        ),
        ("EMPTY", "is a folder without config.json"),
    ],
)
def test_a_model_name_that_is_nowhere_is_refused_before_any_run_folder(
    bert, reviews, tmp_path, name, message
):
    if name == "EMPTY":
        (tmp_path / "empty").mkdir()
        name = str(tmp_path / "empty")
    overrides = [*hf_data(bert, reviews), f"teacher.name={name}"]
    with pytest.raises(ConfigError, match=message):
        validate(compose_cfg("train_teacher", overrides, tmp_path))
    assert not (tmp_path / "outputs").exists()


@pytest.mark.slow
def test_an_hf_teacher_trains_through_the_cli_and_distils_a_transformer_with_its_terms(
    bert, reviews, tmp_path
):
    """train teacher (the real command line, offline) -> distill a distillctl transformer on the
    model's tokenizer with TinyBERT's and MiniLM's terms reading the hf teacher's taps."""
    common = [*hf_data(bert, reviews), *TINY]
    out = forked_cli("train", "teacher", *common, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    (teacher,) = (tmp_path / "outputs/train_teacher").rglob("run.json")
    record = json.loads(teacher.read_text())
    assert record["status"] == "done" and record["data_report"]["vocab_size"] == len(VOCAB)
    student = [
        "student=transformer", "student.layers=1", "student.d_model=16", "student.heads=2",
        "student.ffn=32", "loss=[ce,kd,hidden_mse,attention_kl]",
    ]  # fmt: skip
    _, result = run_stage(
        "distill_student", tmp_path, *common, *student, f"teacher_ckpt={teacher.parent}",
        f"paths.data_dir={tmp_path / 'data'}",
    )  # fmt: skip
    assert 0 <= result["test_acc"] <= 1 and result["teacher_ckpt"].endswith("best.ckpt")


def test_an_hf_student_starts_from_an_hf_teachers_layers(bert, tmp_path):
    from distillctl.models import create_model
    from distillctl.models.init_from_teacher import initialise_from

    small = save_bert(tmp_path / "small", layers=1)
    spec = {"arch": "hf", "num_classes": 2, "vocab_size": len(VOCAB)}
    teacher = create_model({**spec, "name": str(bert)}, (16,))
    student = create_model({**spec, "name": str(small), "pretrained": False}, (16,))
    assert initialise_from(student, teacher, [1]) == [1]
    mine, theirs = student.model.bert, teacher.model.bert
    for (name, value), other in zip(
        mine.encoder.layer[0].state_dict().items(), theirs.encoder.layer[1].state_dict().values()
    ):
        assert torch.equal(value, other), name
    assert torch.equal(
        mine.embeddings.word_embeddings.weight, theirs.embeddings.word_embeddings.weight
    )
    wide = create_model(
        {
            **spec,
            "name": str(save_bert(tmp_path / "wide", layers=1, hidden=32)),
            "pretrained": False,
        },
        (16,),
    )
    with pytest.raises(
        ConfigError, match=rf"word_embeddings.weight is \({len(VOCAB)}, 32\) but the teacher's"
    ):
        initialise_from(wide, teacher, [1])


@pytest.mark.parametrize(
    "overrides,message",
    [
        (
            ["data.tokenizer=wordpiece", "data.vocab_size=100"],
            "teacher=hf reads the ids of its own tokenizer, but data.tokenizer=wordpiece trains",
        ),
        (
            ["student=hf", "student.name=OTHER"],
            "student=hf .* has another vocabulary than the data's tokenizer",
        ),
    ],
)
def test_ids_of_another_tokenizer_are_refused_before_any_run_folder(
    bert, reviews, tmp_path, overrides, message
):
    from tests.hf_models import save_bert

    other = save_bert(tmp_path / "other", extra_words=("cinema",))
    overrides = [o.replace("OTHER", str(other)) for o in overrides]
    with pytest.raises(ConfigError, match=message):
        validate(compose_cfg("distill_student", [*hf_data(bert, reviews), *overrides], tmp_path))
    assert not (tmp_path / "outputs").exists()


def test_a_data_set_that_is_nowhere_is_one_message(bert, tmp_path):
    from distillctl.data import build_splits

    cfg = compose_cfg("train_teacher", hf_data(bert, "nobody-here/no-such-set"), tmp_path)
    with pytest.raises(ConfigError, match="neither a local folder nor a data set in the Hugging"):
        build_splits(cfg.data, cfg.paths.data_dir)
