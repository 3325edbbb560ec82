"""The texts' tokenizer: Hugging Face `tokenizers`, trained on the training split, cached.

WordPiece (BERT's: `data.tokenizer=wordpiece`) or BPE (`bpe`), with BERT's normaliser (lower-
casing when `data.lowercase`) and pre-tokeniser (whitespace and punctuation), the special
tokens of inputs/text.py first ([PAD] is id 0), and [CLS] text [SEP] (pairs: [CLS] a [SEP] b
[SEP]) around every text. Training is not deterministic in `tokenizers` (ties between equally
frequent merges fall either way), so the trained tokenizer is kept: under
`paths.data_dir/tokenizers/<key>.json`, the key hashing the data's identity, and its sha256 goes
with every checkpoint (a teacher is only distilled with the tokenizer it was trained with).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import numpy as np

from distillctl.errors import ConfigError, RunError
from distillctl.inputs.text import CLS, PAD, SEP, SPECIALS
from distillctl.io import atomic_write_bytes

# trained on the training split, or `model`: the one that came with a Hugging Face model
# (data.tokenizer_from, data/model_tokenizer.py)
KINDS = ("wordpiece", "bpe", "model")


def check_options(cfg: Any) -> None:
    """data.vocab_size, data.max_length and data.tokenizer, before anything is read."""
    kind = str(cfg.get("tokenizer", "wordpiece"))
    if kind not in KINDS:
        raise ConfigError(
            f"data.tokenizer={kind} is not a tokenizer", f"choose one of: {', '.join(KINDS)}"
        )
    length = int(cfg.get("max_length", 0))
    if length < 3:
        raise ConfigError(
            f"data.max_length={length} cannot hold a token between [CLS] and [SEP]",
            "set data.max_length to at least 3 (e.g. 64)",
        )
    if kind == "model":
        if not cfg.get("tokenizer_from"):
            raise ConfigError(
                "data.tokenizer=model takes the tokenizer of a Hugging Face model, but "
                "data.tokenizer_from names none",
                "use teacher=hf teacher.name=<model> (data.tokenizer_from follows it), or give "
                "data.tokenizer_from=<hub id or folder>",
            )
        return  # its vocabulary is the model's
    vocab = int(cfg.get("vocab_size") or 0)
    if vocab <= len(SPECIALS) + 1:
        raise ConfigError(
            f"data.vocab_size={vocab} leaves no room for words beside the {len(SPECIALS)} special "
            f"tokens ({', '.join(SPECIALS)})",
            "set data.vocab_size to e.g. 8000 (at least a few hundred for real text)",
        )


def _train(texts: Iterable[str], kind: str, vocab_size: int, lowercase: bool):
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    if kind == "bpe":
        tok = Tokenizer(models.BPE(unk_token="[UNK]", continuing_subword_prefix="##"))
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=list(SPECIALS),
            continuing_subword_prefix="##",
            show_progress=False,
        )
    else:
        tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        trainer = trainers.WordPieceTrainer(
            vocab_size=vocab_size, special_tokens=list(SPECIALS), show_progress=False
        )
    tok.normalizer = normalizers.BertNormalizer(lowercase=bool(lowercase))
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    tok.train_from_iterator(list(texts), trainer)
    return tok


def _with_template(tok: Any, max_length: int) -> Any:
    """[CLS] text [SEP] around a trained tokenizer's texts (a model's keeps its own)."""
    from tokenizers import processors

    if tok.post_processor is None:
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]",
            pair="[CLS] $A [SEP] $B:1 [SEP]:1",
            special_tokens=[("[CLS]", CLS), ("[SEP]", SEP)],
        )
    tok.enable_truncation(int(max_length))
    tok.no_padding()
    return tok


def cache_key(identity: dict[str, Any]) -> str:
    text = json.dumps(identity, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class TextTokenizer:
    """A trained tokenizer and where it is kept: encode texts to padded id arrays, decode ids,
    and the (token, offsets) view SHAP's Text masker reads."""

    def __init__(self, tok: Any, path: Path, max_length: int):
        self.tok = _with_template(tok, max_length)
        self.path = Path(path)
        self.max_length = int(max_length)
        self.sha256 = hashlib.sha256(self.path.read_bytes()).hexdigest()

    @classmethod
    def trained(cls, texts: Sequence[str], cfg: Any, identity: dict[str, Any], data_dir: str):
        """The tokenizer of this data: read from the cache, or trained on `texts` (the training
        split) and written there first. Its options were checked with the data's
        (check_options, the text sources' early check)."""
        from tokenizers import Tokenizer

        path = Path(data_dir).expanduser() / "tokenizers" / f"{cache_key(identity)}.json"
        if str(cfg.tokenizer) == "model":  # renumbered again each time: it is deterministic
            from distillctl.data.model_tokenizer import renumbered_file

            renumbered_file(str(cfg.tokenizer_from), path)
            return cls(Tokenizer.from_file(str(path)), path, int(cfg.max_length))
        if path.is_file():
            try:
                return cls(Tokenizer.from_file(str(path)), path, int(cfg.max_length))
            except Exception as exc:  # tokenizers raises its own kinds on a damaged file
                from distillctl.console import say

                say(f"the cached tokenizer {path} is damaged ({exc}): it is trained again")
        tok = _train(texts, str(cfg.tokenizer), int(cfg.vocab_size), bool(cfg.lowercase))
        atomic_write_bytes(path, tok.to_str().encode("utf-8"))
        return cls(tok, path, int(cfg.max_length))

    @property
    def vocabulary(self) -> list[str]:
        """id -> token string."""
        return [self.tok.id_to_token(i) or "" for i in range(self.tok.get_vocab_size())]

    def encode(self, texts: Sequence[str], pairs: Sequence[str] | None = None):
        """(ids (N, max_length) int64 padded with [PAD], word of each token (N, max_length)
        int32, -1 for special tokens and padding, how many texts were truncated)."""
        n, length = len(texts), self.max_length
        ids = np.full((n, length), PAD, np.int64)
        words = np.full((n, length), -1, np.int32)
        encoded = (
            self.tok.encode_batch(list(zip(texts, pairs)))
            if pairs is not None
            else self.tok.encode_batch(list(texts))
        )
        truncated = 0
        for row, enc in enumerate(encoded):
            ids[row, : len(enc.ids)] = enc.ids
            words[row, : len(enc.ids)] = [-1 if w is None else w for w in enc.word_ids]
            truncated += bool(enc.overflowing)
        return ids, words, truncated

    def decode(self, ids: Sequence[int]) -> str:
        return self.tok.decode([int(i) for i in ids if int(i) != PAD])

    def tokens(self, ids: Sequence[int]) -> list[str]:
        return [self.tok.id_to_token(int(i)) or "" for i in ids]

    def __call__(self, text: str, return_offsets_mapping: bool = True, **_: Any) -> dict:
        """The Hugging Face call SHAP's Text masker uses: input_ids and offset_mapping."""
        enc = self.tok.encode(text)
        return {"input_ids": list(enc.ids), "offset_mapping": [tuple(o) for o in enc.offsets]}


_ACTIVE: ContextVar[TextTokenizer | None] = ContextVar("tokenizer", default=None)


@contextmanager
def active(tokenizer: TextTokenizer | None):
    """The tokenizer explainers that work on strings (SHAP's Text masker) read: the data's."""
    token = _ACTIVE.set(tokenizer)
    try:
        yield tokenizer
    finally:
        _ACTIVE.reset(token)


def current() -> TextTokenizer:
    found = _ACTIVE.get()
    if found is None:
        raise RunError(
            "this explainer reads texts as strings but no tokenizer is active",
            "explain text data through `distillctl explain` (it activates the data's tokenizer)",
        )
    return found


def of_splits(splits: Any) -> TextTokenizer | None:
    """The tokenizer of text Splits (None for other kinds)."""
    if not getattr(splits, "tokenizer", None):
        return None
    return load(splits.tokenizer, splits.input_shape[0])


def load(path: str | Path, max_length: int) -> TextTokenizer:
    from tokenizers import Tokenizer

    return TextTokenizer(Tokenizer.from_file(str(path)), Path(path), max_length)
