"""Text as an input kind: the tokenizer, the three text sources, padded batches with their
attention mask, the text networks, augmentation, the padding-aware teacher cache, and the
checks that refuse a part of a run built for another kind."""

import json

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from distillctl.data import build_splits
from distillctl.errors import ConfigError, RunError
from distillctl.inputs import kind, kind_of
from distillctl.inputs.text import CLS, MASK, PAD, SEP, SPECIALS
from tests.conftest import compose_cfg
from tests.texts import CORPUS, ids, tokenizer


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


# --- batches, networks, augmentation --------------------------------------------------------


def test_a_batch_is_cut_to_its_longest_text_with_the_attention_mask(tmp_path):
    from distillctl.data.module import LoaderDataModule, TensorDataModule

    splits = build_splits(planted(), str(tmp_path))
    for module in (TensorDataModule(splits, 16, 0), LoaderDataModule(splits, 16, 0)):
        for batch in module.batches("test", torch.device("cpu")):
            longest = int((batch.inputs != PAD).sum(1).max())
            assert batch.inputs.shape[1] == longest and batch.inputs.dtype == torch.long
            assert torch.equal(batch.mask, batch.inputs != PAD)
    x = torch.from_numpy(splits.inputs("test", slice(0, 4)))
    assert x.dtype == torch.long and x.shape[1] == int((x != PAD).sum(1).max())


@pytest.mark.parametrize("arch", ["transformer", "textcnn", "bilstm", "bow"])
def test_text_networks_ignore_padding_and_name_their_embedding_layer(arch, text_tokenizer):
    from distillctl.models import create_model

    model = create_model({"arch": arch, "num_classes": 3, "vocab_size": 80}, (12,)).eval()
    x = ids(text_tokenizer, 4)
    cut = x[:, : int((x != PAD).sum(1).max())]
    with torch.no_grad():
        assert torch.allclose(model(x), model(cut), atol=1e-5)  # the padding changes nothing
        longer = torch.cat([cut, torch.zeros(4, 20, dtype=torch.long)], 1)[:, :12]
        assert torch.allclose(model(longer), model(cut), atol=1e-5)
    assert isinstance(model.get_submodule(model.token_embedding), torch.nn.Embedding)
    assert model.input_kind == "text"


def test_a_text_network_on_images_is_one_message():
    from distillctl.models import create_model

    with pytest.raises(ConfigError, match="builds for text inputs .* shape \\(3, 8, 8\\)"):
        create_model({"arch": "transformer", "num_classes": 3, "vocab_size": 50}, (3, 8, 8))


def test_text_augmentations_change_only_word_tokens(text_tokenizer):
    from distillctl.data.augment import AUGMENTS, build

    x = ids(text_tokenizer, 64)
    gen = torch.Generator().manual_seed(0)
    words = (x != PAD) & (x != CLS) & (x != SEP)
    masked = AUGMENTS["token_mask"](x, 0.5, gen)
    changed = masked != x
    assert (masked[changed] == MASK).all() and not (changed & ~words).any()
    assert 0.3 < changed.sum() / words.sum() < 0.7
    dropped = AUGMENTS["token_dropout"](x, 1.0, gen)
    assert torch.equal(dropped != PAD, (x == CLS) | (x == SEP))  # every word gone, ends kept
    sampled = AUGMENTS["ngram"](x, 1.0, gen)
    kept = ((sampled != PAD) & words).sum(1)
    assert (kept >= 1).all() and (kept <= 5).all()  # one n-gram, n in 1..5
    with pytest.raises(ConfigError, match="data.augment.noise changes image / signal / tabular"):
        build({"noise": 0.1}, "text")
    with pytest.raises(ConfigError, match="data.augment.token_mask changes text"):
        build({"token_mask": 0.1}, "image")


def test_the_text_kind_baseline_keeps_cls_and_sep_and_refuses_a_mean(text_tokenizer):
    x = ids(text_tokenizer, 3)
    text = kind("text")
    assert kind_of(x) is text
    base = text.baseline("zero", x, x)
    assert torch.equal(base != PAD, (x == CLS) | (x == SEP))
    with pytest.raises(ConfigError, match="ids have no mean"):
        text.baseline("mean", x, x)
    idf = text.model_free(x, ids(text_tokenizer, 8))
    assert idf.shape == x.shape and (idf[x == PAD] == 0).all() and (idf[x != PAD] > 0).all()


# --- the teacher-output cache ---------------------------------------------------------------


def test_per_token_outputs_of_full_length_texts_are_cut_to_a_batch():
    from distillctl.losses.teacher_cache import cut, token_axes

    # measured from two dry runs: a head's width equal to the length is not a token axis
    assert token_axes((5, 10), (5, 9)) == [2]
    assert token_axes((3, 10, 10), (3, 9, 9)) == [2, 3]
    assert token_axes((3, 10, 10), (3, 9, 10)) == [2]  # values (heads, L, d_head = L)
    assert token_axes((10,), (10,)) == []  # logits never
    states, values = torch.randn(2, 5, 10), torch.randn(2, 3, 10, 10)
    back = cut({"s": states, "v": values, "l": torch.randn(2, 10)}, {"s": [2], "v": [2]}, 7)
    assert torch.equal(back["s"], states[..., :7])
    assert torch.equal(back["v"], values[:, :, :7])
    assert back["l"].shape == (2, 10)


# --- kinds checked before any run folder ----------------------------------------------------


@pytest.mark.parametrize(
    "stage,overrides,message",
    [
        ("train_teacher", ["data=planted_text"], "teacher=cnn works on image inputs, but "
         "data=planted_text gives text inputs"),
        ("train_teacher", ["teacher=transformer"], "teacher=transformer works on text inputs, "
         "but data=digits gives image inputs"),
        ("distill_student", ["experiment=text_planted", "loss=at"], "loss=at works on image / "
         "signal inputs"),
        ("explain", ["experiment=text_planted", "explainer=captum_ig"], "explainer=captum_ig "
         "works on image / signal / tabular inputs"),
        ("distill_student", ["experiment=text_planted", "distill.transfer=augment",
                             "distill.mix=mixup"], "token ids cannot be mixed"),
        ("explain", ["experiment=text_planted", "explain.quality.baseline=mean"],
         "explain.quality.baseline=mean has no meaning for text inputs"),
    ],
)  # fmt: skip
def test_a_part_built_for_another_kind_is_refused_naming_both(tmp_path, stage, overrides, message):
    from distillctl.configuration.validate import validate

    with pytest.raises(ConfigError, match=message) as err:
        validate(compose_cfg(stage, overrides, tmp_path))
    assert any(fix in err.value.fix for fix in ("choose one of", "distill.mix=none", "=zero"))


def test_only_the_parts_a_stage_uses_are_checked(tmp_path):
    """`train teacher` of a text network does not care about the default image student."""
    from distillctl.configuration.validate import validate

    validate(compose_cfg("train_teacher", ["data=planted_text", "teacher=bow"], tmp_path))
    validate(compose_cfg("train_student", ["data=planted_text", "student=textcnn"], tmp_path))


def test_a_teacher_of_another_tokenizer_is_refused(tmp_path):
    from distillctl.stages.distill import check_teacher_fits

    meta = {"data": {"name": "x"}, "num_classes": 2, "tokenizer_sha256": "a" * 64}
    check_teacher_fits(meta, {"name": "x"}, 2, tmp_path / "t.ckpt", "a" * 64)
    with pytest.raises(RunError, match="another tokenizer"):
        check_teacher_fits(meta, {"name": "x"}, 2, tmp_path / "t.ckpt", "b" * 64)


TEXT_NETS = ["transformer", "textcnn", "bilstm", "bow"]


@pytest.mark.parametrize("student_arch", TEXT_NETS)
@pytest.mark.parametrize("teacher_arch", TEXT_NETS)
def test_fitnet_regresses_per_token_states_between_any_two_text_networks(
    teacher_arch, student_arch, text_tokenizer
):
    """FitNets' regressor on per-token states (B, d, L): a 1x1 convolution, and the MSE over
    the real tokens only: padding positions never enter the term."""
    from distillctl.losses import build_recipe
    from distillctl.models import create_model

    def net(arch):
        options = {"vocab_size": 80, "num_classes": 3}
        if arch == "bilstm":
            options.update(embed_dim=16, hidden=8, fc=8)
        return create_model({"arch": arch, **options}, (12,))

    torch.manual_seed(0)
    teacher, student = net(teacher_arch).eval().requires_grad_(False), net(student_arch)
    labels = torch.arange(16) % 3
    recipe = build_recipe({"fitnet": {}}).bind(student, teacher, (12,), labels)
    x = ids(text_tokenizer, 8)
    x = x[:, : int((x != PAD).sum(1).max())]
    index = torch.arange(8)
    total, values = recipe(student, teacher, x, labels[index], index, 0, x != PAD)
    assert torch.isfinite(total) and total > 0
    total.backward()
    assert student.get_submodule(student.token_embedding).weight.grad.abs().sum() > 0
    # what the mask hides does not count: garbage in the padded positions changes nothing
    fitnet = recipe.terms[0]
    s, t = torch.randn(2, 5, 6), torch.randn(2, 5, 6)
    mask = torch.tensor([[1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 0, 0]], dtype=torch.bool)
    fitnet.regressors = torch.nn.ModuleList([torch.nn.Identity()])
    noisy = t.clone()
    noisy[~mask[:, None, :].expand_as(t)] = 100.0
    assert fitnet.pair_loss(0, s, t, mask) == pytest.approx(
        float(fitnet.pair_loss(0, s, noisy, mask))
    )


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


def test_a_transformers_attention_probabilities_are_a_named_choice(text_tokenizer):
    from distillctl.losses import build_recipe
    from distillctl.models import create_model
    from distillctl.models.stages import resolve_layers

    def net(layers):
        spec = {"arch": "transformer", "num_classes": 3, "vocab_size": 80, "layers": layers}
        return create_model({**spec, "d_model": 32, "heads": 4, "ffn": 32}, (12,))

    teacher, student = net(2).eval(), net(1)
    assert resolve_layers(teacher, "attention", "teacher", "k") == [
        "blocks.0.attn.probs",
        "blocks.1.attn.probs",
    ]
    assert resolve_layers(student, "last", "student", "k") == ["blocks.0.states"]
    recipe = build_recipe({"fitnet": {"layers": "attention"}}).bind(
        student, teacher, (12,), torch.arange(8) % 3
    )
    x = ids(text_tokenizer, 4)
    x = x[:, : int((x != PAD).sum(1).max())]
    total, _ = recipe(student, teacher, x, torch.arange(4) % 3, torch.arange(4), 0, x != PAD)
    assert torch.isfinite(total)
    with pytest.raises(ConfigError, match="declares no attention"):
        resolve_layers(create_model({"arch": "bow", "num_classes": 3, "vocab_size": 80}, (12,)),
                       "attention", "student", "k")  # fmt: skip


def test_fitnet_on_attention_maps_counts_pairs_of_real_tokens_only():
    from distillctl.losses.fitnet import FitNet

    term = FitNet(regressor=False)
    term.regressors = torch.nn.ModuleList([torch.nn.Identity()])
    s, t = torch.rand(2, 4, 5, 5), torch.rand(2, 4, 5, 5)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    noisy = t.clone()
    noisy[0, :, 3:, :] = 9.0  # a padded query row
    noisy[0, :, :, 4] = 9.0  # a padded key column
    assert term.pair_loss(0, s, noisy, mask) == pytest.approx(float(term.pair_loss(0, s, t, mask)))
    pairs = 9 + 25
    expected = ((s - t).pow(2)[0, :, :3, :3].sum() + (s - t).pow(2)[1].sum()) / (pairs * 4)
    assert float(term.pair_loss(0, s, t, mask)) == pytest.approx(float(expected))


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


def test_a_transformer_term_between_other_networks_is_refused_before_any_run_folder(tmp_path):
    from distillctl.configuration.validate import validate

    cfg = compose_cfg(
        "distill_student", ["experiment=text_planted", "loss=[ce,hidden_mse]"], tmp_path
    )
    with pytest.raises(ConfigError, match="loss=hidden_mse reads the hidden states .* student=bow"):
        validate(cfg)
