"""Experiment loggers as a config group (`logger=csv|tensorboard|mlflow|wandb`).

metrics.csv and steps.csv are the run folder's contract and are written whatever the choice;
another logger receives the same once-per-epoch values (Lightning's `self.log`) and the run's
flattened config as hyper-parameters, and writes under the run folder. Each builder imports its
library only when chosen; a missing one is a ConfigError naming the package to install.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from distillctl.configuration.plain import plain
from distillctl.errors import ConfigError
from distillctl.registry import Registry


@dataclass(frozen=True)
class LoggerFacts:
    """What a logger declares on registration: what it needs installed (module to find, pip
    requirement), if anything."""

    needs: tuple[str, str] | None = None


LOGGERS: Registry[Callable[[DictConfig, Path], Any]] = Registry("logger", facts=LoggerFacts)
register = LOGGERS.register


def check(cfg: DictConfig) -> None:
    """The chosen logger exists and its library is installed (before any run folder)."""
    name = str(cfg.get("logger", {}).get("name", "csv"))
    module, requirement = LOGGERS.facts(name).needs or (None, None)
    if module is not None and importlib.util.find_spec(module) is None:
        raise ConfigError(
            f"logger={name} needs the '{module}' package, which is not installed",
            f"pip install '{requirement}', or choose logger=csv",
        )
    uri = str(cfg.logger.get("tracking_uri") or "") if name == "mlflow" else ""
    if uri.startswith(("http://", "https://")):
        reachable(uri)


REACH_TIMEOUT = 5.0  # seconds; MLflow's own client retries an unreachable server for minutes


def reachable(uri: str) -> None:
    """A tracking server answers (any HTTP answer counts) within REACH_TIMEOUT, checked before
    training: MLflow's client would retry for minutes and end in chained tracebacks."""
    import urllib.error
    import urllib.request

    try:
        urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=REACH_TIMEOUT).close()
    except urllib.error.HTTPError:
        return  # it answered (an older server without /health)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        why = getattr(exc, "reason", exc)
        raise ConfigError(
            f"logger.tracking_uri={uri} cannot be reached ({why})",
            "start the tracking server (mlflow server --port ...) or check the address, or drop "
            "logger.tracking_uri to keep the MLflow store in the run folder",
        ) from None


@register("csv")
def _csv(options: DictConfig, run_dir: Path):
    return None  # the run folder's own metrics.csv / steps.csv (distillctl/train/fit.py)


@register("tensorboard", needs=("tensorboard", "tensorboard>=2.14"))
def _tensorboard(options: DictConfig, run_dir: Path):
    from pytorch_lightning.loggers import TensorBoardLogger

    return TensorBoardLogger(save_dir=str(run_dir), name="tensorboard", version="")


@register("mlflow", needs=("mlflow", "mlflow-skinny>=2.10"))
def _mlflow(options: DictConfig, run_dir: Path):
    import logging

    from pytorch_lightning.loggers import MLFlowLogger

    for name in ("mlflow", "alembic"):  # their INFO lines about creating the store's tables
        logging.getLogger(name).setLevel(logging.WARNING)

    # MLflow 3 refuses new plain-file stores (maintenance mode): its recommended single-file
    # backend is SQLite, so the store is <run>/mlflow/mlflow.db with artifacts beside it
    store = (run_dir / "mlflow").resolve()
    uri = options.get("tracking_uri")
    if not uri:
        store.mkdir(parents=True, exist_ok=True)
        uri = f"sqlite:///{store / 'mlflow.db'}"
    return MLFlowLogger(
        experiment_name=str(options.get("experiment_name", "distillctl")),
        run_name=f"{run_dir.parent.name}/{run_dir.name}",
        tracking_uri=uri,
        artifact_location=(store / "artifacts").as_uri(),
    )


@register("wandb", needs=("wandb", "wandb>=0.16"))
def _wandb(options: DictConfig, run_dir: Path):
    from pytorch_lightning.loggers import WandbLogger

    return WandbLogger(
        project=str(options.get("project", "distillctl")),
        name=f"{run_dir.parent.name}/{run_dir.name}",
        save_dir=str(run_dir),
        offline=bool(options.get("offline", True)),
    )


def flat_config(cfg: DictConfig) -> dict[str, Any]:
    """The resolved config as `a.b.c: value` pairs of plain values (what loggers can store)."""
    out: dict[str, Any] = {}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{prefix}{key}.")
        elif isinstance(node, list):
            out[prefix[:-1]] = str(node)
        else:
            out[prefix[:-1]] = node

    walk(plain(cfg), "")
    return {k: v for k, v in out.items() if not k.startswith("hydra.")}


def build(cfg: DictConfig, run_dir: Path):
    """The Lightning logger of `cfg.logger` (False for csv), its hyper-parameters logged."""
    options = cfg.get("logger") or OmegaConf.create({"name": "csv"})
    logger = LOGGERS.get_or_fail(str(options.name))(options, Path(run_dir))
    if logger is None:
        return False
    logger.log_hyperparams(flat_config(cfg))
    return logger
