"""Data sources behind one registry: `data=<name>` picks a builder that returns Splits.

Adding a data source is adding one module that calls `register`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from distillctl.data.splits import Splits
from distillctl.errors import ConfigError
from distillctl.registry import Registry

SOURCES: Registry[Callable[[Any, str], Splits]] = Registry("data source")
register = SOURCES.register

# Config keys that change how data is served, not which data it is: a teacher trained with
# another batch size or augmentation still saw exactly the same train/val/test samples.
LOADER_KEYS = frozenset({"batch_size", "augment"})


def identity(data_cfg: Any) -> dict[str, Any]:
    """What makes two data configs the same samples in the same splits (checked before KD)."""
    from omegaconf import OmegaConf

    plain = (
        OmegaConf.to_container(data_cfg, resolve=True)
        if OmegaConf.is_config(data_cfg)
        else dict(data_cfg)
    )
    return {k: v for k, v in sorted(plain.items()) if k not in LOADER_KEYS}


def build_splits(data_cfg: Any, data_dir: str) -> Splits:
    from distillctl.data import mnist1d, sklearn_sets  # noqa: F401  (they register themselves)

    name = data_cfg.name
    splits = SOURCES.get_or_fail(name)(data_cfg, data_dir)
    if int(data_cfg.num_classes) != splits.num_classes:
        raise ConfigError(
            f"data.num_classes={data_cfg.num_classes} but data '{name}' has "
            f"{splits.num_classes} classes",
            f"drop the override or set data.num_classes={splits.num_classes}",
        )
    return splits
