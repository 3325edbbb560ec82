"""The one door from a config node to plain Python values (the only call of OmegaConf's
to_container in the package): dicts, lists and scalars, interpolations resolved."""

from __future__ import annotations

from typing import Any


def plain(node: Any, resolve: bool = True) -> Any:
    """`node` as plain Python: a DictConfig / ListConfig converted (`resolve`: interpolations
    filled in; a value still missing stays the string '???'), a mapping copied, anything else
    as it is."""
    from omegaconf import OmegaConf

    if OmegaConf.is_config(node):
        return OmegaConf.to_container(node, resolve=resolve, throw_on_missing=False)
    if isinstance(node, dict):
        return dict(node)
    return node
