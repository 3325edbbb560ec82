"""Text as an input kind: padded batches with their attention mask, the text networks,
augmentation, the teacher-output cache's cut, fitnet and the transformer's named layers, and the
checks that refuse a part of a run built for another kind (the data: tests/test_text_data.py)."""

import pytest
import torch

from distillctl.data import build_splits
from distillctl.errors import ConfigError, RunError
from distillctl.inputs import kind, kind_of
from distillctl.inputs.text import CLS, MASK, PAD, SEP
from tests.conftest import compose_cfg
from tests.test_text_data import planted
from tests.texts import ids

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
        ("run", ["experiment=text_planted", "explainer=captum_ig"], "explainer=captum_ig "
         "works on image / signal / tabular inputs"),
        ("distill_student", ["experiment=text_planted", "distill.transfer=augment",
                             "distill.mix=mixup"], "token ids cannot be mixed"),
        ("run", ["experiment=text_planted", "explain.quality.baseline=mean"],
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
    from distillctl.stages.teacher import check_teacher_fits

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


def test_a_transformer_term_between_other_networks_is_refused_before_any_run_folder(tmp_path):
    from distillctl.configuration.validate import validate

    cfg = compose_cfg(
        "distill_student", ["experiment=text_planted", "loss=[ce,hidden_mse]"], tmp_path
    )
    with pytest.raises(ConfigError, match="loss=hidden_mse reads the hidden states .* student=bow"):
        validate(cfg)
