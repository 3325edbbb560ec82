"""Explanations of texts: per-token explainers pinned on models whose answer is known, ERASER's
faithfulness and plausibility, and agreement over the real tokens only."""

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from distillctl.configuration.groups import config_dir
from distillctl.explain import get_explainer
from distillctl.explain.agreement import agreement
from distillctl.explain.eraser import eraser_rows, plausibility_rows, top_tokens, word_tokens
from distillctl.inputs.text import CLS, PAD, SEP
from distillctl.models import create_model
from tests.texts import ids


def explainer(name, **over):
    node = OmegaConf.load(config_dir() / f"explainer/{name}.yaml")
    return OmegaConf.merge(node, {"seed": 0, **over})


def bow(vocab=80, classes=3, seed=0):
    torch.manual_seed(seed)
    return create_model(
        {"arch": "bow", "num_classes": classes, "vocab_size": vocab, "embed_dim": 8}, (12,)
    ).eval()


def test_integrated_gradients_on_embeddings_of_a_bag_of_words_are_exact(text_tokenizer):
    """For bow, f = W mean_i(e_i) + b over the n real tokens, linear in the embeddings: the
    path from the [PAD] embeddings (zeros) read with the input's mask gives token i exactly
    W_t e_i / n; [CLS] and [SEP] are their own baseline (0), padding is nothing."""
    model = bow()
    x = ids(text_tokenizer, 4)
    targets = torch.tensor([0, 1, 2, 0])
    maps = get_explainer("captum_lig")(model, x, targets, x, explainer("captum_lig"))
    e = model.embed(x)
    n = (x != PAD).sum(1, keepdim=True)
    expected = (e @ model.head.weight.T).gather(2, targets.view(-1, 1, 1).expand(-1, 12, 1))
    expected = expected.squeeze(2) / n * ((x != PAD) & (x != CLS) & (x != SEP))
    assert torch.allclose(maps, expected, atol=1e-5)


def test_occlusion_of_single_tokens_is_the_drop_when_that_token_is_removed(text_tokenizer):
    model = bow()
    x = ids(text_tokenizer, 2)
    targets = torch.tensor([1, 2])
    maps = get_explainer("captum_occlusion")(
        model, x, targets, x, explainer("captum_occlusion", window=1)
    )
    for row in range(2):
        for position in range(int((x[row] != PAD).sum())):
            removed = x[row : row + 1].clone()
            removed[0, position] = PAD
            with torch.no_grad():
                drop = model(x[row : row + 1]) - model(removed)
            assert maps[row, position] == pytest.approx(float(drop[0, targets[row]]), abs=1e-5)
    assert (maps[x == PAD] == 0).all()


def test_shap_partition_puts_each_tokens_value_on_its_position(text_tokenizer):
    """A bag of words that reads one word only: SHAP's Text masker, over the data's own
    tokenizer, gives that word's position the value, and the values sum to
    p(x) - p(every word masked) (Owen values are efficient)."""
    from distillctl.data.tokens import active

    vocab = text_tokenizer.tok.get_vocab()
    model = bow()
    with torch.no_grad():
        model.embed.weight.zero_()
        model.embed.weight[vocab["cat"], 0] = 4.0
        model.head.weight.zero_()
        model.head.bias.zero_()
        model.head.weight[1, 0] = 1.0
    x = torch.from_numpy(text_tokenizer.encode(["the cat on the mat"])[0])
    with active(text_tokenizer):
        maps = get_explainer("shap_partition")(
            model, x, torch.tensor([1]), x, explainer("shap_partition")
        )
    cat = int((x[0] == vocab["cat"]).nonzero()[0, 0])
    assert int(maps[0].abs().argmax()) == cat and maps[0, cat] > 0
    masked = torch.from_numpy(text_tokenizer.encode(["[MASK] [MASK] [MASK] [MASK] [MASK]"])[0])
    with torch.no_grad():
        gap = model(x).softmax(-1)[0, 1] - model(masked).softmax(-1)[0, 1]
    assert float(maps.sum()) == pytest.approx(float(gap), abs=1e-3)


def test_shap_partition_without_the_datas_tokenizer_is_one_message(text_tokenizer):
    from distillctl.errors import RunError

    x = ids(text_tokenizer, 1)
    with pytest.raises(RunError, match="no tokenizer is active"):
        get_explainer("shap_partition")(bow(), x, torch.tensor([0]), x, explainer("shap_partition"))


def test_top_tokens_rank_word_tokens_only_and_keep_at_least_one():
    x = torch.tensor([[CLS, 10, 11, 12, 13, SEP, PAD, PAD]])
    words = word_tokens(x)
    assert words.tolist() == [[False, True, True, True, True, False, False, False]]
    scores = torch.tensor([[9.0, 0.1, 0.4, 0.3, 0.2, 9.0, 9.0, 9.0]])
    assert top_tokens(scores, words, 0.01).nonzero()[:, 1].tolist() == [2]  # at least one
    assert top_tokens(scores, words, 0.5).nonzero()[:, 1].tolist() == [2, 3]


def test_eraser_comprehensiveness_beats_a_random_order_when_the_map_is_right():
    """A model that reads one token: the map pointing at it removes the evidence at the first
    bin (comprehensiveness near p), and keeping it alone keeps the answer (sufficiency near
    0); the random order does neither on average."""
    model = bow(vocab=30, classes=2)
    with torch.no_grad():
        model.embed.weight.zero_()
        model.embed.weight[7, 0] = 30.0
        model.head.weight.zero_()
        model.head.bias.zero_()
        model.head.weight[1, 0] = 1.0
    rows = torch.randint(10, 30, (16, 12))
    rows[:, 0], rows[:, -1] = CLS, SEP
    rows[:, 5] = 7
    right = (rows == 7).float()
    found = eraser_rows(model, rows, right, torch.ones(16, dtype=torch.long), seed=0)
    comp, suff = np.mean(found["comprehensiveness@1%"]), np.mean(found["sufficiency@1%"])
    assert comp > 0.3 and suff < 0.01  # alone, the word keeps (here raises) the probability
    assert np.mean(found["comprehensiveness_aopc"]) > np.mean(
        found["comprehensiveness_aopc_random"]
    )
    assert np.mean(found["sufficiency_aopc"]) < np.mean(found["sufficiency_aopc_random"])


def test_plausibility_against_a_gold_rationale():
    x = torch.tensor([[CLS, 10, 11, 12, 13, SEP, PAD]] * 2)
    gold = torch.tensor([[0, 0, 1, 0, 0, 0, 0], [0, 1, 0, 1, 0, 0, 0]], dtype=torch.bool)
    right = gold.float() + 0.01 * torch.arange(7)
    wrong = (~gold).float() * (x != PAD)
    good, bad = plausibility_rows(x, right, gold), plausibility_rows(x, wrong, gold)
    assert good["plausibility_auprc"] == [1.0, 1.0] and good["plausibility_precision_at_k"] == [
        1.0,
        1.0,
    ]
    assert max(bad["plausibility_precision_at_k"]) == 0.0 and max(bad["plausibility_auprc"]) < 0.6
    none = plausibility_rows(x[:1], right[:1], torch.zeros(1, 7, dtype=torch.bool))
    assert np.isnan(none["plausibility_auprc"][0])  # no gold token: undefined, not scored


def test_agreement_counts_only_the_real_tokens():
    a = np.array([[0.1, 0.5, 0.3, 0.0, 0.0, 0.0]])
    b = np.array([[0.1, 0.5, 0.3, 0.9, -0.4, 0.2]])  # equal on the real tokens
    mask = np.array([[True, True, True, False, False, False]])
    assert agreement(a, b, mask=mask)["spearman"] == [pytest.approx(1.0)]
    assert agreement(a, b)["spearman"][0] < 0.9
