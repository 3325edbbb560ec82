"""Networks from elsewhere: the user's own class (`custom`), any timm model (`timm`) and any
torchvision classification model (`torchvision`), adapted to the data's channels and classes.

- `teacher=custom teacher._target_=mypkg.nets.MyNet +teacher.width=2`: Hydra's instantiate idiom;
  the class or factory gets `num_classes`, and `input_shape` / `in_chans` / `in_channels` when
  its signature asks for them, plus every other key of the node.
- `teacher=timm teacher.name=resnet18`: `timm.create_model(name, num_classes=, in_chans=)`;
  feature taps use timm's own `feature_info`.
- `teacher=torchvision teacher.name=resnet18`: `torchvision.models.get_model`, with the first
  convolution and the last linear layer replaced to fit the data.

`pretrained=true` loads weights only from the local caches (no network here); where they are not
cached the message says how to get them, or to pass `teacher_ckpt=<state_dict file>`.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
from pathlib import Path
from typing import Any

from torch import nn

from distillctl.errors import ConfigError
from distillctl.models import ANY_FLOAT_KIND, ShapeError, register


def import_target(target: str, role: str = "model") -> Any:
    """The object `module.path.Name` names, or a ConfigError saying why it does not import."""
    module_name, _, attr = str(target).rpartition(".")
    if not module_name:
        raise ConfigError(
            f"{role}._target_={target} is not a dotted path",
            f"write {role}._target_=<package.module.ClassOrFactory>",
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            f"{role}._target_={target} does not import: {exc}",
            "put the package on PYTHONPATH (or pip install it) and check the spelling",
        ) from None
    if not hasattr(module, attr):
        close = difflib.get_close_matches(attr, [n for n in dir(module) if not n.startswith("_")])
        hint = f" (did you mean {module_name}.{close[0]}?)" if close else ""
        raise ConfigError(
            f"{role}._target_={target}: module {module_name} has no '{attr}'{hint}",
            f"name a class or function defined in {module_name}",
        )
    return getattr(module, attr)


def _known(source: str) -> list[str]:
    if source == "timm":
        import timm

        return timm.list_models()
    import torchvision

    return torchvision.models.list_models(module=torchvision.models)


def check_name(source: str, name: str, role: str = "teacher") -> None:
    """A timm or torchvision model name that exists, or the closest names."""
    known = _known(source)
    if name not in known:
        close = difflib.get_close_matches(str(name), known, n=5, cutoff=0.6)
        raise ConfigError(
            f"{source} has no model '{name}'"
            + (f" (closest: {', '.join(close)})" if close else ""),
            f"set {role}.name to one of {source}'s models"
            + (" (timm.list_models('resnet*') lists them)" if source == "timm" else ""),
        )


def target_importable(spec: dict, role: str) -> None:
    """A user's class can be imported (checked before a run folder exists, validate.py)."""
    if not spec.get("_target_"):
        raise ConfigError(
            f"{role}=custom needs {role}._target_",
            f"pass {role}._target_=<package.module.Class>",
        )
    import_target(spec["_target_"], role)


def name_exists(spec: dict, role: str) -> None:
    """timm's or torchvision's model name exists (checked before a run folder exists)."""
    check_name(str(spec.get("arch")), str(spec.get("name")), role)


@register("custom", kinds=ANY_FLOAT_KIND, early=target_importable, external=True)
def custom(input_shape, num_classes: int, _target_: str = "", **options) -> nn.Module:
    if not _target_:
        raise ConfigError(
            "teacher=custom / student=custom needs _target_",
            "pass <role>._target_=<package.module.ClassOrFactory>",
        )
    factory = import_target(_target_)
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):  # a builtin without a signature
        params = {}
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    offered = {
        "num_classes": int(num_classes),
        "input_shape": tuple(input_shape),
        "in_chans": int(input_shape[0]),
        "in_channels": int(input_shape[0]),
    }
    kwargs = {k: v for k, v in offered.items() if k in params or (takes_any and k == "num_classes")}
    try:
        model = factory(**kwargs, **options)
    except TypeError as exc:
        raise ConfigError(
            f"_target_={_target_} cannot be called with {sorted({**kwargs, **options})}: {exc}",
            "give it the arguments it needs with +<role>.KEY=VALUE (num_classes, input_shape, "
            "in_chans and in_channels are passed when its signature names them)",
        ) from None
    if not isinstance(model, nn.Module):
        raise ConfigError(
            f"_target_={_target_} returned a {type(model).__name__}, not a torch nn.Module",
            "point _target_ at an nn.Module class or a function that returns one",
        )
    return model


def _not_cached(source: str, name: str, why: str) -> ConfigError:
    return ConfigError(
        f"pretrained weights of {source} model '{name}' are not in the local cache ({why}), "
        "and nothing is downloaded at run time",
        "download them where there is a network and copy the cache (HF_HOME / TORCH_HOME), "
        "or save them with torch.save(model.state_dict(), path) and pass teacher_ckpt=<path> "
        "with pretrained=false",
    )


def _in_torch_hub(url: str) -> bool:
    import torch

    return (Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name).is_file()


def _timm_weights_cached(name: str) -> None:
    """Raise unless timm would find `name`'s pretrained weights on this disk (checked without
    any network call: the Hugging Face cache, the torch hub cache, or a local file)."""
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(name)
    if cfg is None:
        raise _not_cached("timm", name, "timm knows no pretrained weights for it")
    if cfg.hf_hub_id:
        from huggingface_hub import try_to_load_from_cache

        for filename in ("model.safetensors", "pytorch_model.bin", "open_clip_pytorch_model.bin"):
            if isinstance(try_to_load_from_cache(cfg.hf_hub_id, filename), str):
                return
    if cfg.file and Path(cfg.file).is_file():
        return
    if cfg.url and _in_torch_hub(cfg.url):
        return
    raise _not_cached("timm", name, f"looked for {cfg.hf_hub_id or cfg.url}")


@register("timm", early=name_exists, external=True)
def timm_model(input_shape, num_classes: int, name: str = "", pretrained: bool = False, **options):
    import timm

    if len(input_shape) != 3:
        raise ShapeError(
            f"needs image (C, H, W) inputs, got {tuple(input_shape)}", "use mlp or cnn1d"
        )
    check_name("timm", name)
    if pretrained:
        _timm_weights_cached(name)
    model = timm.create_model(
        name,
        pretrained=bool(pretrained),
        num_classes=int(num_classes),
        in_chans=int(input_shape[0]),
        **options,
    )
    if hasattr(model, "global_pool"):
        model.embedding = "global_pool"
    return model


def _replace(model: nn.Module, kind: type, pick: int, build) -> None:
    """Swap the first (pick=0) or last (pick=-1) submodule of `kind` for build(old)."""
    found = [(n, m) for n, m in model.named_modules() if isinstance(m, kind)]
    if not found:
        return
    name, old = found[pick]
    model.set_submodule(name, build(old))


@register("torchvision", early=name_exists, external=True)
def torchvision_model(input_shape, num_classes: int, name: str = "", pretrained: bool = False):
    import torch
    import torchvision

    if len(input_shape) != 3:
        raise ShapeError(
            f"needs image (C, H, W) inputs, got {tuple(input_shape)}", "use mlp or cnn1d"
        )
    check_name("torchvision", name)
    if pretrained:
        url = torchvision.models.get_model_weights(name).DEFAULT.url
        if not _in_torch_hub(url):
            raise _not_cached("torchvision", name, f"looked for {Path(url).name} in TORCH_HOME")
    model = torchvision.models.get_model(name, weights="DEFAULT" if pretrained else None)
    channels = int(input_shape[0])

    def first_conv(old: nn.Conv2d) -> nn.Conv2d:
        if old.in_channels == channels:
            return old
        new = nn.Conv2d(channels, old.out_channels, old.kernel_size, old.stride, old.padding,
                        old.dilation, old.groups, old.bias is not None)  # fmt: skip
        with torch.no_grad():  # pretrained filters summed over colour, spread over the channels
            new.weight.copy_(old.weight.sum(1, keepdim=True).repeat(1, channels, 1, 1) / channels)
        return new

    _replace(model, nn.Conv2d, 0, first_conv)
    _replace(model, nn.Linear, -1, lambda old: nn.Linear(old.in_features, int(num_classes)))
    for module in model.modules():  # explainers need every activation out of place
        if hasattr(module, "inplace"):
            module.inplace = False
    return model
