"""distill.align=words: a teacher and a student with different tokenizers. Each reads the
texts with its own; logit KD compares them text by text; explanations are compared over
whitespace words (token scores summed into the word their offsets start in)."""

import json

import numpy as np
import pytest
import torch

from distillctl.configuration.validate import validate
from distillctl.errors import ConfigError, RunError
from tests.conftest import TINY, compose_cfg, run_stage

PLANTED = [
    "experiment=text_planted",
    "data.num_samples=300",
    "data.distractors=60",
    "teacher.d_model=32",
    "teacher.ffn=64",
    "loss=[ce,kd]",
]


def test_tokens_are_summed_into_the_whitespace_word_their_offsets_start_in(text_tokenizer):
    from distillctl.data.aligned import to_words, whitespace_words

    texts = ["the cats, sat", "dog"]
    words = whitespace_words(text_tokenizer, texts)
    ids = text_tokenizer.encode(texts)[0]
    tokens = text_tokenizer.tokens(ids[0][ids[0] != 0])
    expected = words[0, : len(tokens)].tolist()
    assert expected[0] == expected[-1] == -1  # [CLS], [SEP]
    spelled = ["".join(t.lstrip("#") for t, w in zip(tokens, expected) if w == k) for k in range(3)]
    # each word's pieces spell it; the comma (a token of its own, unknown here) goes with "cats,"
    assert spelled[0] == "the" and spelled[2] == "sat"
    assert spelled[1] in ("cats,", "cats[UNK]")
    assert words[1, :3].tolist() == [-1, 0, -1] and (words[1, 3:] == -1).all()
    maps = np.zeros(words.shape)
    maps[0, : len(tokens)] = np.arange(len(tokens))
    summed = to_words(maps, words, 3)
    per_word = [sum(i for i, w in enumerate(expected) if w == k) for k in range(3)]
    assert summed[0].tolist() == per_word and summed[1].tolist() == [0, 0, 0]


def test_the_teacher_reads_each_text_with_its_own_tokenizer(text_tokenizer, tmp_path):
    from distillctl.data.aligned import OwnTokens

    # single letters: one token each whatever the fixture's (trained, not deterministic)
    # vocabulary, so the texts fill 3 and 4 of the 12 positions and a batch is cut
    texts = ["a", "a b"]
    student_ids = text_tokenizer.encode(texts)[0]

    class Seen(torch.nn.Module):
        def forward(self, ids):
            self.ids = ids
            return torch.zeros(len(ids), 2)

    own = OwnTokens(Seen(), text_tokenizer, text_tokenizer, texts, student_ids)
    from distillctl.inputs.text import trimmed

    batch = trimmed(torch.from_numpy(student_ids[[1, 0]]))  # cut to a batch, reordered: found
    assert batch.shape[1] < student_ids.shape[1]
    own(batch)
    assert torch.equal(own.teacher.ids, torch.from_numpy(student_ids[[1, 0]]))
    assert own.fallbacks == 0
    own(torch.from_numpy(text_tokenizer.encode(["plot good"])[0]))  # not one of the texts
    assert own.fallbacks == 1


@pytest.mark.parametrize(
    "stage,overrides,message",
    [
        ("distill_student", ["loss=[ce,fitnet]"], "loss=fitnet compares the networks' layers"),
        ("distill_student", ["distill.transfer=augment"], "gives the student inputs that are not"),
        ("distill_student", ["teacher_ckpt=none"], "teacher_ckpt=none has none recorded"),
        ("run", [], "`run` trains its teacher on this data's tokenizer"),
    ],
)
def test_what_cannot_be_aligned_is_refused_before_any_run_folder(
    tmp_path, stage, overrides, message
):
    cfg = compose_cfg(stage, [*PLANTED, "distill.align=words", *overrides], tmp_path)
    with pytest.raises(ConfigError, match=message):
        validate(cfg)


@pytest.mark.slow
def test_a_student_with_another_tokenizer_distils_and_is_explained_word_by_word(tmp_path):
    """The teacher's WordPiece of 300 vs the student's BPE of 120: refused with one tokenizer's
    ids, distilled with distill.align=words, explained over whitespace words."""
    teacher, _ = run_stage("train_teacher", tmp_path, *PLANTED, "data.vocab_size=300", *TINY)
    student = [
        *PLANTED,
        "data.tokenizer=bpe",
        "data.vocab_size=120",
        *TINY,
        f"teacher_ckpt={teacher}",
    ]
    with pytest.raises(RunError, match="differs in: tokenizer, vocab_size"):
        run_stage("distill_student", tmp_path, *student, name="refused")
    run_dir, result = run_stage("distill_student", tmp_path, *student, "distill.align=words")
    assert 0 <= result["teacher_agreement"] <= 1
    record = json.loads((run_dir / "run.json").read_text())
    assert record["align"]["words"] is True
    # `explain` reads the run's own data (texts), whatever data group it composed (digits)
    explain = ["explainer=captum_lig", f"explain.run={run_dir}", *TINY]
    with pytest.raises(ConfigError, match="captum_ig works on image / signal / tabular inputs"):
        run_stage("explain", tmp_path, *explain, "explainer=captum_ig", name="refused_explain")
    out, _ = run_stage("explain", tmp_path, *explain)
    metrics = json.loads((out / "attributions/metrics.json").read_text())
    assert metrics["compared_on"] == "words" and metrics["levels"] == {}
    spearman = metrics["agreement"]["student"]["spearman"]["mean"]
    assert -1 <= spearman <= 1
    assert 0 <= metrics["quality"]["teacher"]["plausibility_auprc"]["mean"] <= 1
    saved = np.load(out / "attributions/attributions.npz")
    assert saved["attr_teacher"].shape == saved["attr_student"].shape == saved["inputs"].shape
    page = (out / "report.html").read_text()
    assert page.count('class="tok') > 10 and "##" not in page.split("class='tokens'")[1][:2000]
