"""Hugging Face names: a local folder, or a hub id resolved through the user's Hugging Face
cache (and the network when there is one). One place says what was looked for and how to get
it, for models (`teacher=hf teacher.name=...`), their tokenizers and data sets (`data=hf`).

Offline (HF_HUB_OFFLINE=1, or no network) a hub id that is not in the cache is one message;
nothing is downloaded at run time by a test.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from distillctl.errors import ConfigError


def offline() -> bool:
    """The user said there is no network (read at call time, not at import)."""
    flags = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")
    return any(os.environ.get(f, "").strip().lower() in ("1", "true", "yes") for f in flags)


def folder(name: Any) -> Path | None:
    """`name` as an existing local folder, or None (then it is a hub id)."""
    path = Path(str(name)).expanduser()
    return path.resolve() if path.is_dir() else None


def not_found(key: str, name: str, what: str, why: str) -> ConfigError:
    where = os.environ.get("HF_HOME", "~/.cache/huggingface")
    download = f"hf download {name}" + (" --repo-type dataset" if what == "data set" else "")
    saver = "save_to_disk" if what == "data set" else "save_pretrained"
    return ConfigError(
        f"{key}={name} is neither a local folder nor a {what} in the Hugging Face cache "
        f"({where}/hub){'' if not why else f': {why}'}",
        f"on a machine with network run `{download}` (it fills the cache), or write it with "
        f"{saver} and give {key}=<that folder>",
    )


def model_config(name: str, key: str):
    """The model's transformers config: from a folder (it must hold config.json), the cache, or
    the network unless offline. A ConfigError naming what was looked for otherwise."""
    from transformers import AutoConfig

    local = folder(name)
    if local is not None:
        if not (local / "config.json").is_file():
            raise ConfigError(
                f"{key}={local} is a folder without config.json, so it is not a saved "
                "transformers model",
                "point it at the folder save_pretrained wrote (config.json and the weights)",
            )
        return AutoConfig.from_pretrained(str(local))
    try:
        return AutoConfig.from_pretrained(str(name), local_files_only=True)
    except (OSError, ValueError):
        if offline():
            raise not_found(key, name, "model", "and the network is off (HF_HUB_OFFLINE)") from None
    try:
        return AutoConfig.from_pretrained(str(name))
    except (OSError, ValueError) as exc:
        raise not_found(key, name, "model", str(exc).splitlines()[0]) from None


def loads_locally(name: str) -> dict[str, Any]:
    """from_pretrained's arguments that keep a cached hub id off the network."""
    if folder(name) is not None:
        return {}
    from transformers import AutoConfig

    try:
        AutoConfig.from_pretrained(str(name), local_files_only=True)
    except (OSError, ValueError):
        return {}
    return {"local_files_only": True}
