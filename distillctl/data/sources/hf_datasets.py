"""`data=hf`: a Hugging Face data set through `datasets`: `data.path=<hub id>` with
`load_dataset` (its configuration `data.config`, e.g. glue's sst2), or a folder `save_to_disk`
wrote with `load_from_disk`. (distillctl's `data.name` is the source and `data.subset` a sample
count everywhere, so `load_dataset`'s own argument names, path and name, are `data.path` and
`data.config` here.)

The data set's splits map to train / val / test through `data.splits`: `val: null` takes a
split named validation, valid or dev, and carves validation from train when there is none,
never from test; a test split without labels (GLUE's, -1) is refused with the fix. Labels of a
`ClassLabel` column keep their names. The tokenizer is the model's by default
(`data.tokenizer=model`, `data.tokenizer_from` following teacher.name).
"""

from __future__ import annotations

from typing import Any

from distillctl.data import register
from distillctl.data.splits import Splits
from distillctl.data.texts import TOKENIZER_KEYS, Texts, subsample, text_splits
from distillctl.data.tokens import check_options
from distillctl.errors import ConfigError, RunError
from distillctl.hub import folder, not_found, offline

VALIDATION_NAMES = ("validation", "valid", "dev", "val")


def check_early(cfg: Any) -> None:
    """Before any run folder: the tokenizer's options and data.path given."""
    check_options(cfg)
    if not cfg.get("path"):
        raise ConfigError(
            "data=hf needs data.path: a Hugging Face data set's hub id or a save_to_disk folder",
            "e.g. data.path=imdb, or data.path=glue data.config=sst2, or data.path=/data/saved",
        )


def open_set(cfg: Any):
    """The DatasetDict (or one Dataset, as {'train': it}) of data.path."""
    import datasets

    path, config = str(cfg.path), cfg.get("config")
    local = folder(path)
    if local is not None and (
        (local / "dataset_dict.json").is_file() or (local / "state.json").is_file()
    ):
        found = datasets.load_from_disk(str(local))
    else:
        if offline():
            datasets.config.HF_DATASETS_OFFLINE = True  # read at call time, not only import
        try:
            found = datasets.load_dataset(path, config)
        except (OSError, ValueError, ConnectionError) as exc:
            if local is not None:
                raise RunError(
                    f"data.path={local} is a folder but neither save_to_disk's (no "
                    f"dataset_dict.json or state.json) nor one load_dataset reads: "
                    f"{str(exc).splitlines()[0]}",
                    "point data.path at the folder save_to_disk wrote",
                ) from None
            raise not_found("data.path", path, "data set", str(exc).splitlines()[0]) from None
    if isinstance(found, datasets.Dataset):
        return {"train": found}
    return dict(found)


def chosen_splits(available: dict, cfg: Any) -> dict[str, str | None]:
    """train / val / test -> the data set's split (val None: carved from train)."""
    wanted = dict(cfg.get("splits") or {})
    names = sorted(available)
    chosen = {}
    for role in ("train", "val", "test"):
        name = wanted.get(role)
        if name is None and role == "val":
            name = next((n for n in VALIDATION_NAMES if n in available), None)
            if name is not None and name == chosen.get("test"):
                name = None  # the validation split is the test split: carve from train
        elif name is None:
            name = role
        if name is not None and name not in available:
            raise RunError(
                f"data.path={cfg.path} has no split '{name}' (for {role}); its splits: "
                f"{', '.join(names)}",
                f"set data.splits.{role}=<one of {', '.join(names)}>",
            )
        chosen[role] = name
    return chosen


def labels_of(dataset, column: str, split: str) -> list[str]:
    feature = dataset.features.get(column)
    values = dataset[column]
    names = getattr(feature, "names", None)
    if names is not None:
        if any(v is None or int(v) < 0 for v in values):
            raise RunError(
                f"the split '{split}' has samples without a label ({column} = -1), as GLUE's "
                "test splits do",
                "evaluate on a labelled split: data.splits.test=validation (validation is "
                "then carved from train), or drop those rows",
            )
        return [names[int(v)] for v in values]
    return [str(v) for v in values]


def read(cfg: Any) -> Texts:
    sets = open_set(cfg)
    chosen = chosen_splits(sets, cfg)
    found = Texts(texts=[], labels=[], pairs=[] if cfg.get("text_pair") else None, split=[])
    for role, name in chosen.items():
        if name is None:
            continue
        dataset = sets[name]
        columns = dataset.column_names
        for key in ("text", "target", "text_pair"):
            column = cfg.get(key)
            if column and column not in columns:
                raise RunError(
                    f"data.{key}={column} is not a column of the split '{name}'; its columns: "
                    f"{', '.join(columns)}",
                    f"set data.{key} to one of them",
                )
        found.texts += [str(t) for t in dataset[str(cfg.text)]]
        found.labels += labels_of(dataset, str(cfg.target), name)
        if found.pairs is not None:
            found.pairs += [str(t) for t in dataset[str(cfg.text_pair)]]
        found.split += [role] * len(dataset)
        found.where += [f"{name} row {i}" for i in range(len(dataset))]
    return subsample(found, cfg.get("subset"), int(cfg.split_seed))


@register(
    "hf",
    identity=(
        "path",
        "config",
        "text",
        "text_pair",
        "target",
        "splits",
        "subset",
        "val_fraction",
        "split_seed",
        *TOKENIZER_KEYS,
    ),
    kind="text",
    early=check_early,
)
def hf(cfg, data_dir: str) -> Splits:
    return text_splits(read(cfg), cfg, data_dir, f"data.path={cfg.path}")
