"""Faithfulness and plausibility of token attributions, as ERASER defines them for text
(DeYoung et al. 2020, "ERASER: A Benchmark to Evaluate Rationalized NLP Models").

For each input, its real word tokens ([CLS], [SEP] and padding excluded) are ranked by
attribution; r_k is the top k % of them (at least one), for k in BINS = 1, 5, 10, 20, 50:
- comprehensiveness@k = p(y | x) - p(y | x without r_k): removing what the explanation points
  to should lower the probability (higher is better);
- sufficiency@k = p(y | x) - p(y | r_k only): keeping only it should keep the probability
  (lower is better);
- AOPC (area over the perturbation curve): each one's mean over the bins.
A removed token is set to [PAD] (every text network ignores it; positions are kept). The same
figures for a random token order (seeded) say what an explanation adds over chance.

Plausibility against a gold rationale (planted_text's cue tokens), per input over its real
word tokens: the area under the precision-recall curve of the attribution as a score for "is a
rationale token" (token AUPRC, ERASER's soft-score measure), and precision at k, k the number
of gold tokens (the top-k tokens that are gold).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from distillctl.inputs.text import PAD, word_tokens

BINS = (0.01, 0.05, 0.10, 0.20, 0.50)


def top_tokens(scores: torch.Tensor, words: torch.Tensor, fraction: float) -> torch.Tensor:
    """(N, L) bool: each input's top `fraction` of word tokens by score (at least one)."""
    ranked = scores.masked_fill(~words, float("-inf")).argsort(dim=1, descending=True)
    place = torch.empty_like(ranked)
    place.scatter_(1, ranked, torch.arange(ranked.shape[1], device=ranked.device).expand_as(ranked))
    k = (words.sum(1).float() * fraction).round().clamp_min(1).long()
    return (place < k[:, None]) & words


@torch.no_grad()
def _probability(model: nn.Module, ids: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return model(ids).softmax(-1).gather(1, targets.view(-1, 1)).squeeze(1)


def eraser_rows(
    model: nn.Module,
    inputs: torch.Tensor,
    attributions: torch.Tensor,
    targets: torch.Tensor,
    seed: int = 0,
) -> dict[str, list[float]]:
    """Per-input comprehensiveness and sufficiency at each bin, their AOPC, and the AOPC of a
    random token order."""
    words = word_tokens(inputs)
    full = _probability(model, inputs, targets)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    random_scores = torch.rand(inputs.shape, generator=gen).to(inputs.device)
    rows: dict[str, list[float]] = {}
    for name, scores in (("", attributions.to(inputs.device).float()), ("_random", random_scores)):
        comp, suff = [], []
        for fraction in BINS:
            chosen = top_tokens(scores, words, fraction)
            without = inputs.masked_fill(chosen, PAD)
            only = inputs.masked_fill(words & ~chosen, PAD)
            comp.append(full - _probability(model, without, targets))
            suff.append(full - _probability(model, only, targets))
            if not name:
                label = f"{round(fraction * 100)}%"
                rows[f"comprehensiveness@{label}"] = comp[-1].tolist()
                rows[f"sufficiency@{label}"] = suff[-1].tolist()
        rows[f"comprehensiveness_aopc{name}"] = torch.stack(comp).mean(0).tolist()
        rows[f"sufficiency_aopc{name}"] = torch.stack(suff).mean(0).tolist()
    return rows


def plausibility_rows(
    inputs: torch.Tensor, attributions: torch.Tensor, gold: torch.Tensor
) -> dict[str, list[float]]:
    """Per-input token AUPRC and precision at k of the attributions against the gold
    rationale (NaN where an input has no gold token or only gold tokens)."""
    from sklearn.metrics import average_precision_score

    words = word_tokens(inputs).cpu().numpy()
    scores = attributions.detach().float().cpu().numpy()
    truth = gold.cpu().numpy().astype(bool)
    auprc, precision = [], []
    for w, s, t in zip(words, scores, truth):
        s, t = s[w], t[w]
        if not t.any() or t.all():
            auprc.append(float("nan"))
            precision.append(float("nan"))
            continue
        auprc.append(float(average_precision_score(t, s)))
        k = int(t.sum())
        top = np.argsort(-s, kind="stable")[:k]
        precision.append(float(t[top].mean()))
    return {"plausibility_auprc": auprc, "plausibility_precision_at_k": precision}
