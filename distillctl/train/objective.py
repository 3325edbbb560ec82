"""What `objective=` may name: the figure of a finished run that a hyper-parameter search
(hparams_search=optuna) maximises. The stage's task returns it to Hydra's sweeper."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

OBJECTIVES: dict[str, Callable[[dict[str, Any]], Any]] = {
    # the best validation accuracy of the model the stage trains; for `run`, the distilled
    # student's. Never a test figure: the test split is measured once, after the search.
    "val_acc": lambda results: _distilled(results).get("val_acc_best"),
    # the mean explanation agreement of the trained student with its teacher on the fixed
    # validation subset of distill.control (its explainer and measure: train/control.py),
    # measured on the checkpoint the stage tested
    "val_agreement": lambda results: _distilled(results).get("val_agreement"),
}


def _distilled(results: dict[str, Any]) -> dict[str, Any]:
    """The trained model's results: a `run`'s distilled student's, or the stage's own."""
    return results.get("stages", {}).get("distilled", results)


def value(results: dict[str, Any], name: Any) -> float | list[float] | None:
    """The figure `name` names (a list of names: each, for a multi-objective search; None when
    any is missing: a failed trial)."""
    if not isinstance(name, str):
        found = [value(results, n) for n in name]
        return None if any(f is None for f in found) else found
    found = OBJECTIVES[name](results)
    return None if found is None else float(found)
