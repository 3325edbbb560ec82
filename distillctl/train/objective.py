"""What `objective=` may name: the figure of a finished run that a hyper-parameter search
(hparams_search=optuna) maximises. The stage's task returns it to Hydra's sweeper."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

OBJECTIVES: dict[str, Callable[[dict[str, Any]], Any]] = {
    # the best validation accuracy of the model the stage trains; for `run`, the distilled
    # student's. Never a test figure: the test split is measured once, after the search.
    "val_acc": lambda results: (
        results.get("stages", {}).get("distilled", results).get("val_acc_best")
    ),
}


def value(results: dict[str, Any], name: str) -> float | None:
    found = OBJECTIVES[name](results)
    return None if found is None else float(found)
