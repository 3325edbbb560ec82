"""Data sources behind one registry: `data=<name>` picks a source; stages call `build(cfg)`.

A source is a function (data config, data_dir) -> Splits plus the config keys that say *which*
samples land in which split (its identity). Everything else in `data.*` only changes how the
samples are served (batch size, augmentation, workers, in memory or not), so a teacher trained
with another batch size is still the teacher of this data. Adding a data source is adding one
module to this package that decorates its loader with `register(name, identity=(...))`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from distillctl.configuration.plain import plain
from distillctl.data.splits import Splits
from distillctl.errors import ConfigError
from distillctl.registry import Registry


@dataclass(frozen=True)
class SourceFacts:
    """What a data source declares on registration."""

    # data.* keys (besides `name`) that decide which samples are in which split
    identity: tuple[str, ...]
    # data.* keys that name files or folders: made absolute once, before a run's config is
    # written, so `../x` and `/abs/x` are the same data and a later command finds the files
    files: tuple[str, ...] = ()
    # data.* keys that must be given: (key, what it names); a file key among them must exist
    needs: tuple[tuple[str, str], ...] = ()
    # the input kind of its samples (inputs/), when the config alone decides it: checked
    # against the networks, terms and explainers before any run folder exists (None: known
    # once the data is read, e.g. data=synthetic's shape)
    kind: str | None = None
    # a check of its options from the config alone, before any run folder (a tokenizer's
    # vocabulary size and length)
    early: Callable[[Any], None] | None = None


# a source: (data config, data_dir) -> Splits
SOURCES: Registry[Callable[[Any, str], Splits]] = Registry(
    "data source", package=f"{__name__}.sources", facts=SourceFacts
)


def register(
    name: str,
    identity: tuple[str, ...],
    files: tuple[str, ...] = (),
    needs: tuple[tuple[str, str], ...] = (),
    kind: str | None = None,
    early: Callable[[Any], None] | None = None,
) -> Callable:
    return SOURCES.register(
        name, identity=tuple(identity), files=tuple(files), needs=needs, kind=kind, early=early
    )


def check_given(data_cfg: Any) -> None:
    """What the source needs is given, and the files it names exist: checked here only, from
    the source's declared needs and early check (by validate before any run folder exists,
    and where data is loaded: build_splits)."""
    from pathlib import Path

    name = str(data_cfg.get("name"))
    facts = SOURCES.facts(name)
    for key, what in facts.needs:
        value = data_cfg.get(key)
        if not value:
            raise ConfigError(f"data={name} needs data.{key}", f"pass data.{key}=<{what}>")
        if key in facts.files and not Path(str(value)).expanduser().exists():
            how = data_cfg.get("source") or "relative paths start at the current folder"
            raise ConfigError(
                f"data.{key}={value} does not exist", f"point data.{key} at {what}; {how}"
            )
    if facts.early is not None:  # the source's own checks of its options and files
        facts.early(data_cfg)


def absolute(path: Any) -> Any:
    """A path as an absolute, normalised one (user folder expanded, `..` taken out); None and
    "" stay as they are."""
    import os

    return os.path.abspath(os.path.expanduser(str(path))) if path else path


def resolve_files(cfg: Any) -> None:
    """Make `paths.data_dir` and the data source's file keys absolute in the run config, in
    place: done once, before the run folder's config is written."""
    from omegaconf import open_dict

    name = str(cfg.data.get("name"))
    files = SOURCES.facts(name).files if name in SOURCES else ()
    with open_dict(cfg):
        cfg.paths.data_dir = absolute(cfg.paths.data_dir)
        for key in files:
            cfg.data[key] = absolute(cfg.data.get(key))


def location(cfg: Any) -> dict[str, Any]:
    """Where a run read its data (absolute): kept beside the identity in every checkpoint, so
    `explain` rebuilds the data from the same files whatever the explaining command's paths."""
    node = plain(cfg.data)
    source = SOURCES.facts(node.get("name"))
    return {
        "data_dir": absolute(cfg.paths.data_dir),
        **{k: absolute(node.get(k)) for k in source.files},
    }


@dataclass
class DataInfo:
    """What a stage needs to know about its data besides the batches."""

    name: str
    input_shape: tuple[int, ...]
    num_classes: int
    # image (C, H, W), signal (C, L) or tabular (F,): decides the pictures in the report
    kind: str
    identity: dict[str, Any]
    sizes: dict[str, int]
    class_names: list[str] = field(default_factory=list)
    feature_names: list[str] = field(default_factory=list)
    normalise: tuple[list[float], list[float]] | None = None
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def vocab_size(self) -> int | None:
        """A text data set's vocabulary (its tokenizer's), None for other kinds."""
        return self.report.get("vocab_size") if isinstance(self.report, dict) else None


def identity(data_cfg: Any) -> dict[str, Any]:
    """The source's declared identity keys with their values: two configs with equal identities
    give the same samples in the same splits (checked before KD, stored in every checkpoint, and
    enough to rebuild the splits in `explain`)."""
    node = plain(data_cfg)
    source = SOURCES.facts(node.get("name"))
    for key in source.files:  # a file is the same file however it was typed
        node[key] = absolute(node.get(key))
    return {"name": node["name"], **{k: node.get(k) for k in sorted(source.identity)}}


def build_splits(data_cfg: Any, data_dir: str) -> Splits:
    """The train/val/test arrays of `data_cfg` (the class count checked when the config has one)."""
    name = data_cfg.name
    check_given(data_cfg)
    splits = SOURCES.get_or_fail(name)(data_cfg, data_dir)
    wanted = data_cfg.get("num_classes")
    if wanted is not None and int(wanted) != splits.num_classes:
        raise ConfigError(
            f"data.num_classes={wanted} but data '{name}' has {splits.num_classes} classes",
            f"drop the override or set data.num_classes={splits.num_classes}",
        )
    return splits


def info(data_cfg: Any, splits: Splits) -> DataInfo:
    return DataInfo(
        name=str(data_cfg.name),
        input_shape=splits.input_shape,
        num_classes=splits.num_classes,
        kind=splits.kind,
        identity=identity(data_cfg),
        sizes=splits.sizes(),
        class_names=list(splits.class_names),
        feature_names=list(splits.feature_names),
        normalise=splits.normalise,
        report=dict(splits.report),
    )


def build(cfg: Any):
    """(LightningDataModule, DataInfo) for the run config `cfg`: the one door stages use.

    `data.in_memory` picks the module: true holds every split as tensors on the training device
    (batched by index, the fast path), false serves them through a DataLoader with workers, auto
    takes the tensors when the data fits `data.memory_budget_mb`."""
    from distillctl.data.module import choose_module

    if int(cfg.data.batch_size) <= 0:
        raise ConfigError(
            f"data.batch_size={cfg.data.batch_size} must be positive",
            "set data.batch_size to e.g. 64",
        )
    splits = build_splits(cfg.data, cfg.paths.data_dir)
    # a user's table or folder has its classes counted, not typed: DataInfo.num_classes says
    # how many (the stage records it in run.json), the config stays as it was composed
    return choose_module(cfg, splits), info(cfg.data, splits)
