"""`distill.align=words`: a teacher and a student that tokenize texts differently (another
vocabulary, another tokenizer: a Hugging Face teacher and a distillctl student with a small
WordPiece of its own, the usual setting of text KD).

Each network reads the texts with the tokenizer it was trained with: the student the data's
ids, the teacher the same texts encoded with its own tokenizer (`OwnTokens`, a wrapper that
maps every row of student ids of the data to that text's teacher ids). Logit terms compare the
two networks text by text, so they need nothing more. Token-level comparisons (attribution
agreement, the report) go through whitespace words: each token belongs to the whitespace-
separated word of the text its character offsets start in (`whitespace_words`), and a word's
score is the sum of its tokens' (`to_words`).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from distillctl.inputs.text import PAD

WORD = re.compile(r"\S+")


def whitespace_words(tokenizer, texts: Sequence[str]) -> np.ndarray:
    """(N, max_length) int32: the whitespace word (0, 1, ... in the text) each token of
    `tokenizer.encode(texts)` starts in; -1 for special tokens and padding."""
    out = np.full((len(texts), tokenizer.max_length), -1, np.int32)
    for row, (text, enc) in enumerate(zip(texts, tokenizer.tok.encode_batch(list(texts)))):
        starts = [m.start() for m in WORD.finditer(text)]
        for j, ((begin, end), special) in enumerate(zip(enc.offsets, enc.special_tokens_mask)):
            if j >= out.shape[1]:
                break
            if not special and end > begin:
                out[row, j] = max(bisect.bisect_right(starts, begin) - 1, 0)
    return out


def to_words(maps: np.ndarray, words: np.ndarray, count: int) -> np.ndarray:
    """Token scores (N, L) summed into word scores (N, count); a word no token reached is 0."""
    out = np.zeros((len(maps), count), np.float64)
    for row in range(len(maps)):
        cut = words[row, : maps.shape[1]]
        kept = cut >= 0
        np.add.at(out[row], cut[kept], np.asarray(maps[row, : len(cut)], np.float64)[kept])
    return out


def _key(ids: np.ndarray) -> bytes:
    return np.asarray(ids[ids != PAD], np.int64).tobytes()


class OwnTokens(nn.Module):
    """The teacher, fed each text as its own tokenizer encodes it.

    Called with student ids (any batch of the data's rows: training, validation, test, padded or
    cut), it looks each row up among the data's texts and gives the teacher that text's ids, at
    the teacher's full length (so a row's outputs never depend on its batch). A row that is not
    one of the data's texts (a dry run's) is decoded with the student's tokenizer and encoded
    with the teacher's; `fallbacks` counts them."""

    def __init__(self, teacher: nn.Module, student_tok, teacher_tok, texts, student_ids):
        super().__init__()
        self.teacher = teacher
        self.student_tok, self.teacher_tok = student_tok, teacher_tok
        teacher_ids, _, _ = teacher_tok.encode(list(texts))
        self.rows: dict[bytes, int] = {}
        self.collisions = 0  # texts whose student ids equal another's: one teacher view wins
        for i, row in enumerate(np.asarray(student_ids)):
            key = _key(row)
            self.collisions += key in self.rows
            self.rows.setdefault(key, i)
        self.register_buffer("teacher_ids", torch.from_numpy(teacher_ids), persistent=False)
        self.fallbacks = 0
        self.input_kind = "text"

    def teacher_inputs(self, ids: torch.Tensor) -> torch.Tensor:
        found = [self.rows.get(_key(row)) for row in ids.detach().cpu().numpy()]
        if all(i is not None for i in found):
            return self.teacher_ids[torch.as_tensor(found, device=self.teacher_ids.device)]
        rows = []
        for i, row in zip(found, ids.detach().cpu().numpy()):
            if i is None:
                self.fallbacks += 1
                text = self.student_tok.decode(row)
                rows.append(torch.from_numpy(self.teacher_tok.encode([text])[0][0]))
            else:
                rows.append(self.teacher_ids[i].cpu())
        return torch.stack(rows).to(self.teacher_ids.device)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.teacher(self.teacher_inputs(ids))


def teacher_tokenizer(meta: dict, where: str):
    """The tokenizer a teacher checkpoint was trained with (its file, recorded in its meta, and
    checked against the recorded sha256)."""
    import hashlib
    from pathlib import Path

    from distillctl.data.tokens import load
    from distillctl.errors import RunError

    path = Path(str(meta.get("tokenizer_file") or ""))
    if not meta.get("tokenizer_file") or not path.is_file():
        raise RunError(
            f"distill.align=words reads the texts with the teacher's own tokenizer, but {where} "
            + ("records none" if not meta.get("tokenizer_file") else f"names {path}, now gone"),
            "train the teacher again with this distillctl (its checkpoint then records its "
            "tokenizer file), or distil with distill.align=tokens and the teacher's tokenizer",
        )
    if hashlib.sha256(path.read_bytes()).hexdigest() != meta.get("tokenizer_sha256"):
        raise RunError(
            f"the teacher's tokenizer {path} changed after the teacher was trained on its ids",
            "restore that file (paths.data_dir/tokenizers of the teacher's run), or train the "
            "teacher again",
        )
    return load(path, int(meta["input_shape"][0]))


def aligned_teacher(teacher: nn.Module, meta: dict, splits, where: str) -> OwnTokens:
    """The teacher reading every text of `splits` with its own tokenizer."""
    from distillctl.data.tokens import of_splits
    from distillctl.errors import RunError

    if splits.pairs:
        raise RunError(
            "distill.align=words maps whitespace words of one text, and this data holds "
            "sentence pairs",
            "distil pairs with one tokenizer (distill.align=tokens)",
        )
    own = teacher_tokenizer(meta, where)
    texts = [t for s in ("train", "val", "test") for t in splits.texts[s]]
    ids = np.concatenate([splits.x_train, splits.x_val, splits.x_test])
    return OwnTokens(teacher, of_splits(splits), own, texts, ids).eval()
