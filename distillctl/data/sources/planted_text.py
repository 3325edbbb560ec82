"""`data=planted_text`: sentences whose class is decided by planted cue words, with the cue
positions kept as the gold rationale: the one text set where the right explanation is known.

Generated from `generator_seed`, offline. Each class owns `cue_words` pseudo-words; a sentence
is `min_words`..`max_words` distractor words (`distractors` of them, shared by every class)
with `min_cues`..`max_cues` of its class's cues planted at random positions. With probability
`decoy`, a sentence holding at least two cues also gets one cue of another class, so the class
is the majority of cues, not the presence of one. The rationale is the true class's cue
positions (ERASER's "evidence"; DeYoung et al. 2020).
"""

from __future__ import annotations

import numpy as np

from distillctl.data import register
from distillctl.data.splits import Splits
from distillctl.data.texts import TOKENIZER_KEYS, Texts, text_splits
from distillctl.data.tokens import check_options
from distillctl.errors import ConfigError

SYLLABLES = (
    "ka lo mi ne su ta ri po ve da lu fe gi ho ba ze mo ni ru sa pe ti vo ga ke di fu la me so"
).split()


def pseudo_words(count: int, rng: np.random.Generator, taken: set[str]) -> list[str]:
    """`count` distinct pronounceable words of 2-3 syllables."""
    words: list[str] = []
    while len(words) < count:
        word = "".join(rng.choice(SYLLABLES, size=int(rng.integers(2, 4))))
        if word not in taken:
            taken.add(word)
            words.append(word)
    return words


def generate(cfg) -> Texts:
    classes, n = int(cfg.num_classes), int(cfg.num_samples)
    low, high = int(cfg.min_words), int(cfg.max_words)
    cues_low, cues_high = int(cfg.min_cues), int(cfg.max_cues)
    if classes < 2 or n < 1 or not 1 <= cues_low <= cues_high < low <= high:
        raise ConfigError(
            f"data=planted_text cannot plant {cues_low}-{cues_high} cues (+1 decoy) in "
            f"{low}-{high} words of {classes} classes",
            "keep num_classes >= 2, 1 <= min_cues <= max_cues < min_words <= max_words",
        )
    rng = np.random.default_rng(int(cfg.generator_seed))
    taken: set[str] = set()
    cues = [pseudo_words(int(cfg.cue_words), rng, taken) for _ in range(classes)]
    filler = pseudo_words(int(cfg.distractors), rng, taken)
    found = Texts(texts=[], labels=[], rationale=[])
    for i in range(n):
        label = i % classes
        length = int(rng.integers(low, high + 1))
        words = list(rng.choice(filler, size=length))
        planted = int(rng.integers(cues_low, cues_high + 1))
        positions = sorted(rng.choice(length, size=planted + 1, replace=False).tolist())
        decoy = planted >= 2 and rng.random() < float(cfg.decoy)
        gold = positions[:planted]
        for p in gold:
            words[p] = str(rng.choice(cues[label]))
        if decoy:
            other = (label + int(rng.integers(1, classes))) % classes
            words[positions[planted]] = str(rng.choice(cues[other]))
        found.texts.append(" ".join(words))
        found.labels.append(f"class_{label}")
        found.rationale.append(gold)
    return found


@register(
    "planted_text",
    identity=(
        "num_classes",
        "num_samples",
        "cue_words",
        "distractors",
        "min_words",
        "max_words",
        "min_cues",
        "max_cues",
        "decoy",
        "generator_seed",
        "test_fraction",
        "val_fraction",
        "split_seed",
        *TOKENIZER_KEYS,
    ),
    kind="text",
    early=check_options,
)
def planted_text(cfg, data_dir: str) -> Splits:
    return text_splits(generate(cfg), cfg, data_dir, "data=planted_text")
