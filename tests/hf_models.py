"""Tiny Hugging Face models, tokenizers and data sets written in their libraries' own formats
(save_pretrained, save_to_disk) to a folder: what `teacher=hf` and `data=hf` load offline."""

from __future__ import annotations

from pathlib import Path

# BERT's layout: [PAD] 0, unused ids, then [UNK] [CLS] [SEP] [MASK] at 100.. in bert-base;
# here at 5..8, so the renumbering to distillctl's 0..4 is exercised
WORDS = (
    "the a an of to and is was it this that film movie story plot actor acting scene good "
    "great fine superb moving bad awful dull boring weak terrible long short very quite not"
).split()
VOCAB = ["[PAD]", "[unused0]", "[unused1]", "[unused2]", "[unused3]"]
VOCAB += ["[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, "##s", "##ing", "##ly"]
POSITIVE = ("good", "great", "fine", "superb", "moving")
NEGATIVE = ("bad", "awful", "dull", "boring", "terrible")


def save_bert(
    folder: Path,
    layers: int = 2,
    hidden: int = 16,
    heads: int = 2,
    num_labels: int = 2,
    extra_words: tuple[str, ...] = (),
) -> Path:
    """A tiny BertForSequenceClassification and its fast tokenizer, save_pretrained."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    folder.mkdir(parents=True, exist_ok=True)
    vocab = [*VOCAB, *extra_words]
    tokenizer = bert_tokenizer(vocab)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=2 * hidden,
        max_position_embeddings=64,
        num_labels=num_labels,
    )
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def bert_tokenizer(vocab: list[str]):
    """BERT's WordPiece tokenizer over `vocab`, built with `tokenizers` (its own JSON format)."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.WordPiece({t: i for i, t in enumerate(vocab)}, unk_token="[UNK]"))
    backend.normalizer = normalizers.BertNormalizer(lowercase=True)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.decoder = decoders.WordPiece()
    ids = {t: vocab.index(t) for t in ("[CLS]", "[SEP]")}
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=list(ids.items()),
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )


def reviews(n: int, seed: int) -> tuple[list[str], list[int]]:
    import random

    rng = random.Random(seed)
    texts, labels = [], []
    for i in range(n):
        label = i % 2
        cue = rng.choice(POSITIVE if label else NEGATIVE)
        filler = rng.sample(WORDS[:17], 5)
        filler.insert(rng.randrange(6), cue)
        texts.append(" ".join(filler))
        labels.append(label)
    return texts, labels


def save_reviews(folder: Path, sizes=(("train", 120), ("test", 40)), unlabelled_test=False):
    """A DatasetDict of review-like texts, labels a ClassLabel (neg, pos), save_to_disk."""
    from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

    features = Features({"sentence": Value("string"), "label": ClassLabel(names=["neg", "pos"])})
    parts = {}
    for seed, (name, n) in enumerate(sizes):
        texts, labels = reviews(n, seed)
        if unlabelled_test and name == "test":
            labels = [-1] * n
        parts[name] = Dataset.from_dict({"sentence": texts, "label": labels}, features=features)
    DatasetDict(parts).save_to_disk(str(folder))
    return folder
