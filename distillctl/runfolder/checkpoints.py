"""Loading models from distillctl checkpoints, safely and with clear messages."""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any

import torch
from torch import nn

from distillctl.errors import RunError
from distillctl.models import create_model
from distillctl.train.lit import META_KEY

PREFIX = "model."


def _unreadable(path: Path, role: str, exc: Exception) -> RunError:
    return RunError(
        f"{role} checkpoint {path} cannot be read: it is truncated or not a "
        f"checkpoint ({type(exc).__name__})",
        f"re-run the stage that wrote it, or point {role}_ckpt at another file",
    )


def read_file(path: str | Path, role: str) -> Any:
    """torch.load with weights_only=True: a file someone sent is never unpickled blindly."""
    path = Path(path)
    if not path.is_file():
        raise RunError(
            f"{role} checkpoint not found: {path}",
            f"train one with `distillctl train {role}` or pass {role}_ckpt=<run dir or .ckpt>",
        )
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(exc))
        if found:  # a real pickle that asks for code to run: not trusted silently
            raise RunError(
                f"{role} checkpoint {path} holds a Python object ({found.group(1)}) "
                "beyond plain weights, and is not loaded",
                "re-save it with distillctl; load only checkpoints you trust",
            ) from None
        raise _unreadable(path, role, exc) from None
    except Exception as exc:  # torch raises many kinds on a damaged or foreign file
        raise _unreadable(path, role, exc) from None
    return ckpt


def is_distillctl(ckpt: Any) -> bool:
    return isinstance(ckpt, dict) and META_KEY in ckpt and "state_dict" in ckpt


def read_checkpoint(path: str | Path, role: str) -> dict[str, Any]:
    """A checkpoint written by distillctl (weights and the meta to rebuild its model)."""
    ckpt = read_file(path, role)
    if not is_distillctl(ckpt) or META_KEY not in ckpt or "state_dict" not in ckpt:
        raise RunError(
            f"{role} checkpoint {path} was not written by distillctl",
            f"train the {role} with `distillctl train {role}`",
        )
    return ckpt


def load_model(path: str | Path, role: str) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the trained model from a checkpoint alone; returns (model in eval mode, meta)."""
    return _from_checkpoint(read_checkpoint(path, role), path, role)


def _from_checkpoint(ckpt: dict[str, Any], path, role: str) -> tuple[nn.Module, dict[str, Any]]:
    meta = ckpt[META_KEY]
    model = create_model(meta["model"], tuple(meta["input_shape"]), role=role)
    state = {k[len(PREFIX) :]: v for k, v in ckpt["state_dict"].items() if k.startswith(PREFIX)}
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise RunError(
            f"{role} checkpoint {path} does not fit its recorded architecture: {exc}",
            "the file was changed after training; re-train it",
        ) from None
    return model.eval(), meta
