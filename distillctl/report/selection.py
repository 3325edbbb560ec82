"""Which explained inputs the report draws, and why.

Drawing the first few test inputs shows what is typical at best. The report draws instead the
inputs a reader should look at: those a student gets wrong, and those where a student's
explanation disagrees most with the teacher's (lowest Spearman), half and half, filled up with
the first inputs when there are too few; each picture says why it was chosen.
"""

from __future__ import annotations

import math
from itertools import zip_longest

import numpy as np


def choose_inputs(
    per_input: dict[str, dict[str, list]],
    predictions: dict[str, tuple[np.ndarray, np.ndarray]],
    labels: np.ndarray,
    count: int,
) -> list[tuple[int, str]]:
    """Up to `count` (input index, reason) pairs: students' mistakes, the lowest rank agreement
    with the teacher, then the first inputs."""
    chosen: dict[int, str] = {}
    students = list(per_input)
    wrong = []
    for name in students:
        classes = predictions.get(name, (None,))[0]
        if classes is None:
            continue
        for i in np.nonzero(classes != labels)[0].tolist():
            wrong.append((i, f"{name} predicts {classes[i]}, the label is {labels[i]}"))
    per_student = []
    for name in students:
        ranks = np.asarray(per_input[name]["spearman"], dtype=np.float64)
        order = np.argsort(np.where(np.isnan(ranks), np.inf, ranks), kind="stable").tolist()
        per_student.append(
            [
                (i, f"{name}'s map disagrees most with the teacher's (Spearman {ranks[i]:.2f})")
                for i in order
                if not math.isnan(ranks[i])
            ]
        )
    # the students take turns: each one's lowest first
    low = [pair for turn in zip_longest(*per_student) for pair in turn if pair is not None]
    half = max(1, count // 2)
    for pool, limit in ((wrong, half), (low, count)):
        for i, reason in pool:
            if len(chosen) >= limit:
                break
            chosen.setdefault(i, reason)
    for i in range(len(labels)):
        if len(chosen) >= count:
            break
        chosen.setdefault(i, "one of the first test inputs")
    return sorted(chosen.items())
