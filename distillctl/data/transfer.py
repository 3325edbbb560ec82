"""`distill.transfer`: what a distillation trains on besides the labelled training split.

- `none`: the training split only.
- `generated`: `distill.transfer_samples` fresh inputs from the data set's own generator
  (MNIST-1D: `mnist1d.data.make_dataset` with `distill.transfer_seed`, which must differ from
  the data's `generator_seed`, so no test input is drawn again), unlabelled.
- `augment`: consistent views (Beyer et al. 2022): the data set's augmentation (its own, or
  the default of its kind when it has none) with mixing between inputs (`distill.mix`); each
  batch is augmented once and the same tensor goes to teacher and student.
- `unlabeled`: `distill.unlabeled_path`, a `.npy` / `.pt` tensor file of inputs stored as the
  training split stores them, or a folder of images; unlabelled.

Unlabelled inputs (label -1) join the training split of the distill run: label terms (ce) skip
them, KD and feature terms see every sample, and the teacher's outputs on a fixed set are
cached like the training split's. The transfer set belongs to the run, not to the data: the
data's identity (teacher_ckpt=latest), validation and test stay those of the labelled data.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from distillctl.errors import ConfigError
from distillctl.inputs import kind
from distillctl.registry import Registry

UNLABELLED = -1


@dataclasses.dataclass(frozen=True)
class TransferFacts:
    """What a transfer set declares on registration (read by validate.py)."""

    # adds inputs without a class (label -1)
    unlabelled: bool = False
    # its batches can be mixed between inputs (distill.mix)
    mixes: bool = False


TRANSFERS: Registry[Callable[[Any, Any, Any, Any], dict[str, Any]]] = Registry(
    "distill.transfer", facts=TransferFacts
)
# data set name -> (data config, how many, seed, data_dir) -> inputs stored as x_train is
GENERATORS: Registry[Callable[[Any, int, int, str], np.ndarray]] = Registry("input generator")


@GENERATORS.register("mnist1d")
def _mnist1d_inputs(data_cfg: Any, n: int, seed: int, data_dir: str) -> np.ndarray:
    from distillctl.data.sources.mnist1d import transfer_inputs

    return transfer_inputs(data_cfg, n, seed, data_dir)


def apply(cfg: Any, spec: Any, data: Any, info: Any) -> dict[str, Any]:
    """Give the distill run's data module its transfer set (`spec`: the DistillSpec); returns
    what run.json records."""
    chosen = TRANSFERS.get_or_fail(spec.transfer)
    return {"transfer": spec.transfer, **chosen(cfg, spec, data, info)}


@TRANSFERS.register("none")
def _none(cfg: Any, spec: Any, data: Any, info: Any) -> dict[str, Any]:
    return {}


@TRANSFERS.register("generated", unlabelled=True)
def _generated(cfg: Any, spec: Any, data: Any, info: Any) -> dict[str, Any]:
    n, seed = int(spec.transfer_samples), int(spec.transfer_seed)
    if info.name not in GENERATORS:
        raise ConfigError(
            f"distill.transfer=generated needs a data set with a generator; '{info.name}' has none",
            f"use it with data={', data='.join(sorted(GENERATORS))}, or "
            "distill.transfer=augment|unlabeled",
        )
    if n < 1:
        raise ConfigError(
            f"distill.transfer_samples={n}: generated needs how many inputs to draw",
            "set distill.transfer_samples=100000 (or another positive number)",
        )
    x = GENERATORS[info.name](cfg.data, n, seed, str(cfg.paths.data_dir))
    add_unlabelled(data, x, f"{n} generated inputs (seed {seed})")
    return {"transfer_samples": n, "transfer_seed": seed}


@TRANSFERS.register("unlabeled", unlabelled=True)
def _unlabeled(cfg: Any, spec: Any, data: Any, info: Any) -> dict[str, Any]:
    path = spec.unlabeled_path
    if not path:
        raise ConfigError(
            "distill.transfer=unlabeled needs distill.unlabeled_path",
            "set distill.unlabeled_path=<a .npy or .pt file, or a folder of images>",
        )
    x = read_unlabelled(Path(str(path)), data.splits, cfg.data)
    add_unlabelled(data, x, str(path))
    return {"transfer_samples": int(len(x)), "unlabeled_path": str(path)}


@TRANSFERS.register("augment", mixes=True)
def _augment(cfg: Any, spec: Any, data: Any, info: Any) -> dict[str, Any]:
    from distillctl.data import augment, mix

    views = None
    if data.augment is None:
        views = kind(info.kind).views(info.input_shape)  # the kind's own default
        data.augment = augment.build(views)
    data.mix = mix.build(spec.mix, float(spec.mix_alpha))
    return {"views": views or "data.augment", "mix": spec.mix}


def label(transfer: dict[str, Any] | None) -> str:
    """How a distillation's transfer set shows beside its numbers ('' for none)."""
    if not transfer or transfer.get("transfer", "none") == "none":
        return ""
    details = {
        "generated": lambda t: f"{t.get('transfer_samples')} generated",
        "unlabeled": lambda t: f"{t.get('transfer_samples')} unlabelled",
        "augment": lambda t: f"augment, mix {t.get('mix')}",
    }
    return f" [{details[transfer['transfer']](transfer)}]"


def read_unlabelled(path: Path, splits: Any, data_cfg: Any = None) -> np.ndarray:
    """Inputs from a .npy / .pt file (an array, or a dict with `x`), a folder of images, or
    (with data=csv) a CSV table of the same feature columns, encoded as the training rows."""
    if not path.exists():
        raise ConfigError(
            f"distill.unlabeled_path={path} does not exist", "pass a .npy or .pt file or a folder"
        )
    if getattr(splits, "tokenizer", None):  # texts: tokenized as the training texts were
        from distillctl.data.sources.text_csv import unlabelled_ids

        return unlabelled_ids(data_cfg, path, splits)
    if path.is_dir():
        from distillctl.data.sources.image_folder import read_unlabelled_images

        return read_unlabelled_images(path, splits)
    if path.suffix == ".csv":
        if data_cfg is None or data_cfg.get("name") != "csv":
            raise ConfigError(
                f"distill.unlabeled_path={path} is a table, but the data is not data=csv",
                "pass a .npy or .pt file of inputs shaped like the training data",
            )
        from distillctl.data.sources.csv_table import unlabelled_rows

        return unlabelled_rows(data_cfg, path)
    try:
        if path.suffix == ".npy":
            x = np.load(path, allow_pickle=False)
        elif path.suffix in (".pt", ".pth"):
            import torch

            loaded = torch.load(path, map_location="cpu", weights_only=True)
            x = (loaded.get("x") if isinstance(loaded, dict) else loaded).numpy()
        else:
            raise ConfigError(
                f"distill.unlabeled_path={path}: unknown file type '{path.suffix}'",
                "use a .npy or .pt file of inputs, a .csv table (data=csv), or a folder of images",
            )
    except ConfigError:
        raise
    except Exception as exc:  # a damaged file: named, with the fix
        raise ConfigError(
            f"cannot read distill.unlabeled_path={path}: {type(exc).__name__}: {exc}",
            "write the inputs with numpy.save or torch.save (an array, or {'x': array})",
        ) from None
    return np.asarray(x)


def add_unlabelled(data: Any, x: np.ndarray, what: str) -> None:
    """Append inputs without labels to the data module's training split, checked against it."""
    splits = data.splits
    want = splits.x_train
    if tuple(x.shape[1:]) != tuple(want.shape[1:]):
        raise ConfigError(
            f"the transfer set ({what}) holds inputs of shape {list(x.shape[1:])} but the data's "
            f"inputs are {list(want.shape[1:])}",
            "give inputs of the training data's shape (distillctl data info shows it)",
        )
    if want.dtype == np.uint8 and x.dtype != np.uint8:
        raise ConfigError(
            f"the transfer set ({what}) holds {x.dtype} values but the data stores uint8 pixels",
            "give uint8 pixels (0..255) as the training images are stored",
        )
    if want.dtype != np.uint8 and not (
        np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)
    ):  # complex (its imaginary part would be dropped), strings, objects, booleans
        raise ConfigError(
            f"the transfer set ({what}) holds {x.dtype} values but the data's inputs are "
            f"real numbers ({want.dtype})",
            f"give real-valued inputs (e.g. numpy.save of a float32 array shaped like "
            f"{list(want.shape[1:])} per input)",
        )
    if want.dtype != np.uint8 and not np.isfinite(x).all():
        raise ConfigError(
            f"the transfer set ({what}) holds NaN or infinite values "
            f"({int((~np.isfinite(x)).sum()):,} of them)",
            "replace or drop those inputs",
        )
    x = x.astype(want.dtype, copy=False)
    labels = np.full(len(x), UNLABELLED, dtype=splits.y_train.dtype)
    data.splits = dataclasses.replace(
        splits,
        x_train=np.concatenate([want, x]),
        y_train=np.concatenate([splits.y_train, labels]),
    )
