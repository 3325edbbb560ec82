"""Seeded draws for stochastic explainers, without touching anyone else's random state.

captum (GradientShap's baselines and interpolation points, NoiseTunnel's noise) and SHAP
(KernelExplainer's coalitions, PermutationExplainer's orders, GradientExplainer's `rseed`)
draw from the *global* NumPy and torch generators, and some of them reseed those globals.
`seeded(seed)` gives such a call a fixed global state and puts the caller's state back
afterwards, so an explainer's maps depend only on its seed, the model and the inputs: not on
what ran before it (another model, a training stage, another explainer), and it leaves the
caller's random sequence exactly where it was.
"""

from __future__ import annotations

import hashlib
import importlib
import random
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch

# a prime stride between the draws of consecutive inputs (or chunks of inputs)
_STRIDE = 1_000_033


def draw_seed(seed: int, index: int = 0) -> int:
    """The `explain` stream of explain seed `seed`, offset by `index` (a class, a bootstrap)."""
    from distillctl.train.seeding import stream_seed

    return (stream_seed(seed, "explain") + _STRIDE * int(index)) % (2**31)


def input_seed(seed: int, one_input: torch.Tensor) -> int:
    """The seed for explaining `one_input`: the explain seed's stream offset by a digest of the
    input's values, so its map depends on the seed, the model and that input only: not on its
    place in the list, on how many inputs are explained or on the batch it shares."""
    values = one_input.detach().to("cpu", torch.float32).contiguous().numpy().tobytes()
    digest = int.from_bytes(hashlib.blake2b(values, digest_size=8).digest(), "little")
    return draw_seed(seed, digest % _STRIDE)


@contextmanager
def kept_state() -> Iterator[None]:
    """Python's and NumPy's global generators restored after the block to what they were."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    try:
        yield
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)


def import_quietly(module: str):
    """`module`, imported without moving the caller's random state (shap's import draws from
    Python's generator, through scikit-learn)."""
    with kept_state(), torch.random.fork_rng(devices=[]):
        return importlib.import_module(module)


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Python's, NumPy's and torch's global generators (CPU and CUDA) seeded with `seed` for
    the block, and restored to the caller's state after it, whatever happens inside."""
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices), kept_state():
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        yield
