"""Where the Hydra configs live, and what the config groups offer (without composing)."""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

# Groups a user chooses from on the command line (`data=mnist1d`); hydra/ and paths/ are plumbing.
USER_GROUPS = (
    "data",
    "teacher",
    "student",
    "loss",
    "explainer",
    "trainer",
    "engine",
    "distill",
    "explain",
    "logger",
    "experiment",
    "hparams_search",
)


# The network zoo's one source: configs/arch/<name>.yaml is offered as teacher=<name> and as
# student=<name> (Hydra's ConfigStore); configs/teacher/ and configs/student/ hold only what
# differs by role (the small nets' default sizes, the soft-tree student).
ZOO = "arch"
ROLES = ("teacher", "student")


@lru_cache(maxsize=1)
def config_dir() -> Path:
    """The configs folder: `configs/` in a checkout, `distillctl/configs/` in an installed wheel.

    Both are the package `distillctl.configs` (pyproject maps it), so one lookup finds either.
    Every composition starts here, so the zoo is registered here, once per process.
    """
    spec = importlib.util.find_spec("distillctl.configs")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("distillctl's configs are missing from this installation; reinstall it")
    folder = Path(next(iter(spec.submodule_search_locations))).resolve()
    _register_zoo(folder)
    from distillctl.configuration.specs import register_nodes

    register_nodes()  # engine, distill, explain: made from their specs
    return folder


def _register_zoo(folder: Path) -> None:
    from hydra.core.config_store import ConfigStore
    from omegaconf import OmegaConf

    store = ConfigStore.instance()
    for path in sorted((folder / ZOO).glob("*.yaml")):
        for role in ROLES:
            if not (folder / role / path.name).exists():  # a role's own file wins
                store.store(group=role, name=path.stem, node=OmegaConf.load(path))


def source(group: str, choice: str) -> Path:
    """The YAML file a choice comes from: its group's file, or the zoo's for teacher/student."""
    own = config_dir() / group / f"{choice}.yaml"
    if own.exists() or group not in ROLES:
        return own
    return config_dir() / ZOO / f"{choice}.yaml"


def groups(extra_dirs: tuple[Path, ...] = ()) -> dict[str, list[str]]:
    """Every config group and its choices, from the shipped configs and any --config-dir."""
    found: dict[str, set[str]] = {}
    for root in (config_dir(), *extra_dirs):
        for sub in sorted(p for p in Path(root).iterdir() if p.is_dir()):
            if sub.name.startswith(("_", ".")) or sub.name == ZOO:
                continue
            # nested choices (experiment=cifar100/resnet32x4_resnet8x4); _name.yaml are parts
            found.setdefault(sub.name, set()).update(
                f.relative_to(sub).with_suffix("").as_posix()
                for f in sub.rglob("*.yaml")
                if not f.name.startswith("_")
            )
    zoo = {f.stem for f in (config_dir() / ZOO).glob("*.yaml")}
    for role in ROLES:
        found.setdefault(role, set()).update(zoo)
    from distillctl.configuration.specs import GROUPS

    for group in GROUPS:
        found.setdefault(group, set()).add("default")
    return {name: sorted(choices) for name, choices in sorted(found.items())}


def describe(group: str, choice: str) -> str:
    """The first comment line of a choice's YAML file (or its spec's docstring): its one-line
    description."""
    from distillctl.configuration.specs import GROUPS
    from distillctl.configuration.specs import describe as describe_spec

    if group in GROUPS:
        return describe_spec(GROUPS[group])
    path = source(group, choice)
    if not path.exists():
        return ""
    for line in path.read_text(encoding="utf-8").splitlines():
        text = line.strip()
        if text.startswith("#") and not text.startswith("# @package"):
            return text.lstrip("# ").strip()
    return ""


def defaults() -> dict[str, str]:
    """The default choice of each group, as base.yaml's defaults list names it."""
    from omegaconf import OmegaConf

    chosen: dict[str, str] = {}
    for entry in OmegaConf.load(config_dir() / "base.yaml").get("defaults", []):
        if isinstance(entry, str) or entry is None:
            continue
        for key, value in entry.items():
            chosen[str(key).replace("optional ", "")] = value
    return chosen
