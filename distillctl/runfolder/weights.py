"""A teacher's weights from wherever the user has them: `teacher_ckpt=`.

- a distillctl checkpoint (`.ckpt`, or a run folder resolved to one): weights and the meta that
  rebuilds its architecture;
- a plain PyTorch state_dict file (`.pt`, `.pth`, ...; also {"state_dict": ...} or
  {"model": ...} around one, and DataParallel's `module.` prefix), loaded with
  `weights_only=True` into the architecture the `teacher` config names;
- `none`: the architecture's own weights (a pretrained timm/torchvision model).

The network is the `teacher` config; the weights are this file. A file that does not fit its
network is refused with the missing and unexpected keys and the closest shipped architecture.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from distillctl.configuration.plain import plain
from distillctl.errors import RunError
from distillctl.runfolder.teacher_source import NONE


def unwrap(loaded: Any) -> dict[str, torch.Tensor] | None:
    """The state_dict inside a loaded file, or None if there is none."""
    for key in ("state_dict", "model", "model_state_dict", "net"):
        if isinstance(loaded, dict) and isinstance(loaded.get(key), dict):
            loaded = loaded[key]
            break
    if not isinstance(loaded, dict) or not loaded:
        return None
    if not all(isinstance(v, torch.Tensor) for v in loaded.values()):
        return None
    for prefix in ("module.", "model."):  # DataParallel, and a LightningModule's attribute
        if all(k.startswith(prefix) for k in loaded):
            loaded = {k[len(prefix) :]: v for k, v in loaded.items()}
    return loaded


def fit_report(model: nn.Module, state: dict[str, torch.Tensor]) -> tuple[list, list, list]:
    """(missing keys, unexpected keys, keys whose shapes differ) of `state` against `model`."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = sorted(
        f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
        for k in set(own) & set(state)
        if tuple(own[k].shape) != tuple(state[k].shape)
    )
    return missing, unexpected, shapes


def _fits(model: nn.Module, state: dict[str, torch.Tensor]) -> float:
    own = model.state_dict()
    same = sum(1 for k, v in state.items() if k in own and tuple(own[k].shape) == tuple(v.shape))
    return same / max(len(set(own) | set(state)), 1)


def closest_architecture(
    state: dict[str, torch.Tensor], input_shape: tuple[int, ...], num_classes: int
) -> str | None:
    """The shipped teacher config whose network the state_dict fits best, as `teacher=<name>`."""
    from omegaconf import OmegaConf

    from distillctl.configuration.groups import groups, source
    from distillctl.models import MODELS, create_model

    best, best_score = None, 0.0
    for name in groups()["teacher"]:
        path = source("teacher", name)
        spec = plain(OmegaConf.load(path), resolve=False)
        arch = spec.get("arch") if isinstance(spec, dict) else None
        if arch not in MODELS or MODELS.facts(arch).external:
            continue  # a user's class, timm and torchvision have no one shape to compare
        spec["num_classes"] = num_classes
        try:
            score = _fits(create_model(spec, input_shape), state)
        except Exception:  # an architecture that cannot take this data
            continue
        if score > best_score:
            best, best_score = name, score
    if best is None or best_score < 0.5:  # naming a network that barely fits would mislead
        return None
    return f"teacher={best} ({best_score:.0%} of the tensors fit)"


def _listed(keys: list[str], limit: int = 5) -> str:
    more = f" and {len(keys) - limit} more" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


def load_state_dict_into(
    model: nn.Module, path: Path, loaded: Any, input_shape, num_classes: int, arch: str
) -> nn.Module:
    state = unwrap(loaded)
    if state is None:
        raise RunError(
            f"teacher_ckpt={path} holds no state_dict (a mapping of parameter names to tensors)",
            "save the weights with torch.save(model.state_dict(), path), or pass a distillctl "
            "run folder or .ckpt",
        )
    missing, unexpected, shapes = fit_report(model, state)
    if missing or unexpected or shapes:
        parts = [
            f"missing keys: {_listed(missing)}" if missing else "",
            f"unexpected keys: {_listed(unexpected)}" if unexpected else "",
            f"different shapes: {_listed(shapes, 3)}" if shapes else "",
        ]
        closest = closest_architecture(state, input_shape, num_classes)
        raise RunError(
            f"teacher_ckpt={path} does not fit teacher={arch}: " + "; ".join(p for p in parts if p),
            "pass the teacher config the weights were trained with"
            + (f" (closest shipped: {closest})" if closest else "")
            + ", with the same options (e.g. teacher.channels=[...])",
        )
    model.load_state_dict(state)
    return model


def load_teacher(
    source: str | Path,
    model_cfg: Any,
    input_shape: tuple[int, ...],
    num_classes: int,
    identity: dict[str, Any],
) -> tuple[nn.Module, dict[str, Any]]:
    """(teacher in eval mode, its meta) from a resolved teacher_ckpt value."""
    from distillctl.models import create_model
    from distillctl.runfolder.checkpoints import _from_checkpoint, is_distillctl, read_file

    spec = {k: v for k, v in plain(model_cfg).items()}
    meta = {
        "role": "teacher",
        "stage": "imported",
        "model": spec,
        "input_shape": list(input_shape),
        "num_classes": int(num_classes),
        "data": identity,  # the user vouches for it: a file does not say what it was trained on
    }
    if str(source) == NONE:
        if not spec.get("pretrained"):
            raise RunError(
                f"teacher_ckpt=none keeps the weights teacher={spec.get('arch')} is built with, "
                "and it has no pretrained weights: the teacher would be untrained",
                "pass teacher_ckpt=<run folder, .ckpt or state_dict file>, or a pretrained "
                "teacher (teacher=timm teacher.name=... teacher.pretrained=true)",
            )
        return create_model(spec, input_shape, role="teacher").eval(), meta
    path = Path(source)
    loaded = read_file(path, "teacher")
    if is_distillctl(loaded):
        return _from_checkpoint(loaded, path, "teacher")
    model = create_model(spec, input_shape, role="teacher")
    load_state_dict_into(model, path, loaded, input_shape, num_classes, str(spec.get("arch")))
    return model.eval(), meta
