"""`data.tokenizer=model`: the tokenizer that came with a Hugging Face model, its ids renumbered
so that the text kind's conventions hold (inputs/text.py: [PAD] 0, [UNK] 1, [CLS] 2, [SEP] 3,
[MASK] 4).

The model's own special tokens (BERT's [PAD] [UNK] [CLS] [SEP] [MASK]; RoBERTa's <pad> <unk>
<s> </s> <mask>) swap places with the tokens at 0..4; every other id keeps its number. The same
swap, computed from the same special ids (`permutation`), is what an `hf` network applies
before its embedding (models/hf.py), so the data's ids and the model's rows agree. The renumbered
tokenizer (vocabulary, added tokens, post-processor) is written under
`paths.data_dir/tokenizers/` like a trained one, and its sha256 goes with every checkpoint.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from distillctl.errors import ConfigError
from distillctl.inputs.text import SPECIALS

# the model tokenizer's attribute of each special of inputs/text.py, with a fallback
ROLES = (
    ("pad_token_id", None),
    ("unk_token_id", None),
    ("cls_token_id", "bos_token_id"),
    ("sep_token_id", "eos_token_id"),
    ("mask_token_id", None),
)


def special_ids(tokenizer: Any, name: str) -> list[int]:
    """The model tokenizer's ids of [PAD], [UNK], [CLS], [SEP], [MASK] (in that order)."""
    found = []
    for (attr, fallback), special in zip(ROLES, SPECIALS):
        value = getattr(tokenizer, attr, None)
        if value is None and fallback:
            value = getattr(tokenizer, fallback, None)
        if value is None:
            raise ConfigError(
                f"the tokenizer of {name} has no {special} token ({attr} is None); distillctl's "
                "texts need padding, unknown, start, end and mask tokens",
                "use a model whose tokenizer defines them (BERT, DistilBERT, RoBERTa, ...), "
                "or data.tokenizer=wordpiece",
            )
        found.append(int(value))
    if len(set(found)) != len(found):
        raise ConfigError(
            f"the tokenizer of {name} uses one id for two of {', '.join(SPECIALS)}: {found}",
            "use a model whose tokenizer gives each its own token, or data.tokenizer=wordpiece",
        )
    return found


def permutation(size: int, specials: list[int]) -> np.ndarray:
    """order[our id] = the model's id: the specials swapped onto 0..4, the rest in place."""
    order = np.arange(max(size, max(specials) + 1), dtype=np.int64)
    for target, model_id in enumerate(specials):
        at = int(np.flatnonzero(order == model_id)[0])
        order[target], order[at] = order[at], order[target]
    return order


def _renumbered(spec: dict[str, Any], ours: np.ndarray) -> dict[str, Any]:
    """The tokenizer's JSON with every id mapped through `ours` (model id -> our id)."""
    model = spec["model"]
    if isinstance(model.get("vocab"), dict):  # WordPiece, BPE, WordLevel: token -> id
        model["vocab"] = {token: int(ours[i]) for token, i in model["vocab"].items()}
    elif isinstance(model.get("vocab"), list):  # Unigram: ids are positions
        entries = model["vocab"]
        placed = [None] * len(entries)
        for i, entry in enumerate(entries):
            placed[int(ours[i])] = entry
        model["vocab"] = placed
        if model.get("unk_id") is not None:
            model["unk_id"] = int(ours[model["unk_id"]])
    for token in spec.get("added_tokens") or []:
        token["id"] = int(ours[token["id"]])

    def processor(node: dict | None) -> None:
        if not node:
            return
        for child in node.get("processors") or []:
            processor(child)
        for special in (node.get("special_tokens") or {}).values():
            special["ids"] = [int(ours[i]) for i in special["ids"]]
        for key in ("sep", "cls"):  # BertProcessing / RobertaProcessing: [token, id]
            if isinstance(node.get(key), list):
                node[key] = [node[key][0], int(ours[node[key][1]])]

    processor(spec.get("post_processor"))
    spec["padding"] = None
    spec["truncation"] = None
    return spec


def renumbered_file(name: str, path: Path) -> Path:
    """Write the model `name`'s tokenizer, renumbered, to `path` (JSON of `tokenizers`)."""
    from transformers import AutoTokenizer

    from distillctl.hub import loads_locally, model_config
    from distillctl.io import atomic_write_bytes

    model_config(name, "data.tokenizer_from")  # a message naming it if it is nowhere
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(name), **loads_locally(name))
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"data.tokenizer=model: {name} has no tokenizer that loads "
            f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})",
            "save the model's tokenizer beside it (tokenizer.save_pretrained(<folder>)), or "
            "use data.tokenizer=wordpiece",
        ) from None
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise ConfigError(
            f"data.tokenizer=model: the tokenizer of {name} is a slow (Python) tokenizer with no "
            "tokenizer.json",
            "save it as a fast tokenizer (AutoTokenizer.from_pretrained(..., use_fast=True)."
            "save_pretrained(<folder>))",
        )
    specials = special_ids(tokenizer, name)
    size = backend.get_vocab_size(with_added_tokens=True)
    order = permutation(size, specials)
    ours = np.argsort(order)
    spec = _renumbered(json.loads(backend.to_str()), ours)
    atomic_write_bytes(path, json.dumps(spec, ensure_ascii=False).encode("utf-8"))
    return path
