"""Text data: the tokenizer (trained, kept, its options refused before any run folder) and the
three text sources (planted_text, text_csv, wordnet_glosses) with their bad input."""

import json

import numpy as np
import pytest
from omegaconf import OmegaConf

from distillctl.data import build_splits
from distillctl.errors import ConfigError, RunError
from distillctl.inputs.text import CLS, PAD, SEP, SPECIALS
from tests.conftest import compose_cfg
from tests.texts import CORPUS, tokenizer


def planted(**over):
    node = OmegaConf.load("configs/data/planted_text.yaml")
    small = {"num_samples": 240, "distractors": 40, "vocab_size": 200, "max_length": 26}
    return OmegaConf.merge(node, {**small, **over})


# --- the tokenizer ----------------------------------------------------------------------


def test_the_tokenizer_puts_the_special_tokens_first_and_wraps_each_text(tmp_path):
    tok = tokenizer(tmp_path)
    assert tok.vocabulary[: len(SPECIALS)] == list(SPECIALS)
    x, words, truncated = tok.encode(["the cat on", "a dog ran in the park " * 5])
    assert x.dtype == np.int64 and x.shape == (2, 12)
    assert x[0, 0] == CLS and x[0, 4] == SEP and (x[0, 5:] == PAD).all()
    assert tok.tokens(x[0, 1:4]) == ["the", "cat", "on"]
    assert list(words[0, :5]) == [-1, 0, 1, 2, -1]  # word of each token; -1 special / padding
    assert truncated == 1 and x[1, -1] == SEP  # cut to max_length, [SEP] kept
    assert tok.decode(x[0]) == "the cat on"
    unseen = tok.encode(["zzqx"])[0][0]  # letters never seen: the unknown token
    assert tok.tokens(unseen[:3]) == ["[CLS]", "[UNK]", "[SEP]"]


def test_a_trained_tokenizer_is_kept_and_read_back_not_trained_again(tmp_path, monkeypatch):
    """tokenizers' training breaks ties either way from run to run: the first one is kept (by
    the data's identity) and every later run reads that file, byte for byte the same."""
    first = tokenizer(tmp_path)
    import distillctl.data.tokens as tokens

    monkeypatch.setattr(tokens, "_train", lambda *a: pytest.fail("trained again"))
    again = tokenizer(tmp_path)
    assert again.path == first.path and again.sha256 == first.sha256
    assert again.vocabulary == first.vocabulary


def test_a_damaged_cached_tokenizer_is_trained_again(tmp_path):
    first = tokenizer(tmp_path)
    first.path.write_text("{not json")
    again = tokenizer(tmp_path)
    assert again.vocabulary[: len(SPECIALS)] == list(SPECIALS)
    json.loads(again.path.read_text())  # replaced by a whole file


@pytest.mark.parametrize(
    "option,value,message",
    [
        ("max_length", 0, "data.max_length=0 cannot hold a token"),
        ("vocab_size", 5, "data.vocab_size=5 leaves no room for words"),
        ("tokenizer", "sentencepiece", "data.tokenizer=sentencepiece is not a tokenizer"),
    ],
)
def test_tokenizer_options_are_refused_before_any_run_folder(tmp_path, option, value, message):
    from distillctl.configuration.validate import validate

    cfg = compose_cfg(
        "train_teacher",
        ["data=planted_text", "teacher=bow", f"data.{option}={value}"],
        tmp_path,
    )
    with pytest.raises(ConfigError, match=message):
        validate(cfg)
    assert not (tmp_path / "train_teacher").exists()


def test_bpe_is_the_other_tokenizer(tmp_path):
    splits = build_splits(planted(tokenizer="bpe"), str(tmp_path))
    assert splits.report["vocab_size"] <= 200 and splits.x_train[:, 0].tolist() == [CLS] * len(
        splits.x_train
    )


# --- planted_text -------------------------------------------------------------------------


def test_planted_text_is_made_from_its_seed_with_the_cue_positions_as_rationale(tmp_path):
    from distillctl.data.sources.planted_text import generate
    from distillctl.data.tokens import load

    splits = build_splits(planted(), str(tmp_path))
    again = build_splits(planted(), str(tmp_path / "other"))
    assert np.array_equal(splits.y_test, again.y_test)
    assert splits.kind == "text" and splits.class_names == [f"class_{c}" for c in range(4)]
    assert splits.input_shape == (26,) and splits.x_train.dtype == np.int64
    tok = load(splits.tokenizer, 26)
    found = generate(planted())
    texts = {t: (label, gold) for t, label, gold in zip(found.texts, found.labels, found.rationale)}
    for row in range(len(splits.y_test)):
        text = tok.decode(splits.x_test[row])
        label, gold = texts[text]
        assert splits.class_names[splits.y_test[row]] == label
        marked = tok.tokens(splits.x_test[row][splits.rationale["test"][row]])
        assert marked == [text.split()[p] for p in gold]  # the gold tokens are the planted cues
    # cues decide the class: a text holds more cues of its class than of any other
    assert all(1 <= len(gold) <= 3 for gold in found.rationale)


def test_planted_text_refuses_cues_that_cannot_fit(tmp_path):
    with pytest.raises(ConfigError, match="cannot plant"):
        build_splits(planted(max_cues=9, min_words=8), str(tmp_path))


# --- text_csv -------------------------------------------------------------------------------


def _csv(path, rows, header="text,label"):
    path.write_text(header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def _text_cfg(path, **over):
    node = OmegaConf.load("configs/data/text_csv.yaml")
    return OmegaConf.merge(node, {"path": str(path), "vocab_size": 100, "max_length": 16, **over})


ROWS = [f'"{text}",{"animal" if i % 2 else "place"}' for i, text in enumerate(CORPUS * 2)]


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl"])
def test_text_csv_reads_csv_tsv_and_json_lines_with_class_names(tmp_path, suffix):
    path = tmp_path / f"texts{suffix}"
    labels = ["animal" if i % 2 else "place" for i in range(len(CORPUS) * 2)]
    if suffix == ".jsonl":
        path.write_text(
            "\n".join(json.dumps({"text": t, "label": y}) for t, y in zip(CORPUS * 2, labels))
        )
    elif suffix == ".tsv":
        _csv(path, [f"{t}\t{y}" for t, y in zip(CORPUS * 2, labels)], "text\tlabel")
    else:
        _csv(path, ROWS)
    splits = build_splits(_text_cfg(path), str(tmp_path))
    assert splits.class_names == ["animal", "place"] and splits.num_classes == 2
    assert sum(splits.sizes().values()) == len(labels)
    assert splits.report["texts"] == len(labels) and "tokens_per_text" in splits.report


def test_a_split_column_and_sentence_pairs_are_kept(tmp_path):
    split = ["train"] * 40 + ["test"] * 16 + ["validation"] * 8
    rows = [f'"{t}","{t[::-1]}",{i % 2},{s}' for i, (t, s) in enumerate(zip(CORPUS * 2, split))]
    path = _csv(tmp_path / "pairs.csv", rows, "text,other,label,split")
    cfg = _text_cfg(path, text_pair="other", split_column="split", max_length=40)
    splits = build_splits(cfg, str(tmp_path))
    assert splits.sizes() == {"train": 40, "val": 8, "test": 16}
    assert (splits.x_train == SEP).sum(1).tolist() == [2] * 40  # [CLS] a [SEP] b [SEP]


@pytest.mark.parametrize(
    "rows,over,message",
    [
        (ROWS, {"text": "body"}, "has no column 'body'"),
        (ROWS, {"target": "class"}, "has no column 'class'"),
        (ROWS[:10] + ['"",place'] + ROWS[10:], {}, "the text at line 12 is empty"),
        ([f'"{t}",same' for t in CORPUS], {}, "a classifier needs at least two classes"),
    ],
)
def test_bad_text_tables_are_one_message(tmp_path, rows, over, message):
    path = _csv(tmp_path / "bad.csv", rows)
    with pytest.raises(RunError, match=message):
        build_splits(_text_cfg(path, **over), str(tmp_path))


def test_bytes_that_are_not_utf8_are_named_by_line(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes(("text,label\n" + "\n".join(ROWS[:3]) + "\n").encode() + b'"caf\xe9",x\n')
    with pytest.raises(RunError, match=r"line 5 holds bytes that are not UTF-8") as err:
        build_splits(_text_cfg(path), str(tmp_path))
    assert "iconv" in err.value.fix


# --- wordnet_glosses ----------------------------------------------------------------------

LICENCE = "  1 This software and database is being provided to you, the LICENSEE, by  \n"


def _wordnet(folder, lines):
    folder.mkdir()
    (folder / "data.noun").write_text(LICENCE + "".join(lines), encoding="utf-8")
    return folder


def _synset(offset, lexfile, lemma, gloss):
    return f"{offset:08d} {lexfile:02d} n 01 {lemma} 0 000 | {gloss}  \n"


def test_wordnet_glosses_are_texts_labelled_by_lexicographer_file(tmp_path):
    lines = [
        _synset(i, 5 if i % 2 else 18, f"lemma{i}", f'a kind of thing number {i}; "an example"')
        for i in range(40)
    ]
    root = _wordnet(tmp_path / "dict", lines)
    cfg = OmegaConf.merge(
        OmegaConf.load("configs/data/wordnet_glosses.yaml"),
        {"root": str(root), "vocab_size": 100, "max_length": 16},
    )
    splits = build_splits(cfg, str(tmp_path))
    assert splits.class_names == ["noun.animal", "noun.person"]
    assert sum(splits.sizes().values()) == 40
    from distillctl.data.tokens import load

    tok = load(splits.tokenizer, 16)
    texts = [tok.decode(row) for row in splits.x_train]
    assert all(t.startswith("a kind of thing number") for t in texts)
    assert not any("lemma" in t for t in texts)  # the gloss only, never the synset's lemmas


def test_a_wordnet_root_without_data_files_says_how_to_get_them(tmp_path):
    (tmp_path / "empty").mkdir()
    cfg = OmegaConf.merge(
        OmegaConf.load("configs/data/wordnet_glosses.yaml"), {"root": str(tmp_path / "empty")}
    )
    with pytest.raises(RunError, match="has no WordNet data file data.noun") as err:
        build_splits(cfg, str(tmp_path))
    assert "apt-get install wordnet-base" in err.value.fix


def test_a_missing_text_column_or_wordnet_file_is_refused_before_any_run_folder(tmp_path):
    from distillctl.configuration.validate import validate

    path = _csv(tmp_path / "texts.csv", ROWS)
    empty = tmp_path / "empty"
    empty.mkdir()
    for overrides, message in (
        (["data=text_csv", f"data.path={path}", "data.text=body"], "has no column 'body'"),
        (["data=wordnet_glosses", f"data.root={empty}"], "has no WordNet data file"),
    ):
        cfg = compose_cfg("train_teacher", [*overrides, "teacher=bow"], tmp_path)
        with pytest.raises(RunError, match=message):
            validate(cfg)
    assert not (tmp_path / "train_teacher").exists()


def test_both_text_experiments_validate_for_every_stage(tmp_path):
    """experiment=text_planted and experiment=wordnet_glosses (on WordNet files written here)
    pass every check of every stage, the bilstm variant of the README too."""
    from distillctl.configuration.validate import validate

    root = _wordnet(tmp_path / "dict", [_synset(i, 5 + i % 2, "x", f"gloss {i}") for i in range(8)])
    bilstm = ["student=bilstm", *[f"~student.{k}" for k in ("layers", "d_model", "heads", "ffn")]]
    for overrides in (
        ["experiment=text_planted"],
        ["experiment=wordnet_glosses", f"data.root={root}"],
        ["experiment=wordnet_glosses", f"data.root={root}", *bilstm],
    ):
        for stage in ("train_teacher", "train_student", "distill_student", "explain", "run"):
            validate(compose_cfg(stage, overrides, tmp_path))
