"""Seeding: every random source from the run's seed, and the named streams each model draws from."""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_all(value: int) -> None:
    """Seed Python's, NumPy's and torch's random sources."""
    random.seed(value)
    np.random.seed(value)
    torch.manual_seed(value)


# Named random streams derived from the run's seed. Each model a stage builds draws its initial
# weights from its own stream, reseeded just before it is built, so what else a stage builds
# first (distill loads the teacher; a recipe adds regressors or embedders) never moves them.
# Stochastic explainers draw from the `explain` stream (distillctl/explain/randomness.py).
STREAMS = ("teacher", "student", "recipe", "explain")


def stream_seed(seed: int, stream: str) -> int:
    """The seed of `stream` for run seed `seed`: the model streams use the seed itself (so a
    model's initial weights are those of `torch.manual_seed(seed)`), others a fixed offset."""
    if stream not in STREAMS:
        raise ValueError(f"unknown random stream {stream!r}; known: {STREAMS}")
    if stream in ("teacher", "student"):
        return int(seed)
    return (int(seed) * 1_000_003 + 7_919 * (STREAMS.index(stream) + 1)) % (2**31)


def seed_stream(seed: int, stream: str) -> None:
    """Reseed every random source for `stream` (call right before building what draws from it)."""
    seed_all(stream_seed(seed, stream))
