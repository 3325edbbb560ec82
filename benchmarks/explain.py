"""Explainer speed: ms per input and model evaluations per second, on this machine's device.

Each registered explainer explains the same inputs (the class to explain drawn at random)
of a randomly initialised model, as the explain stage calls it. The reference, measured in
the same run, is a plain torch input gradient over one large batch: the model's own gradient
throughput with no explainer around it. `evals` counts the model evaluations an explainer
makes per input with its config (gradients for gradient methods, forwards for perturbation
ones), so evals/s says how close it runs to the model's own speed.

    python benchmarks/explain.py                           # digits-sized CNN, 256 inputs
    python benchmarks/explain.py --model resnet-shape --inputs 64   # 7.4M params, 3x32x32
    python benchmarks/explain.py --only captum_ig shap_gradient --out benchmarks/results/x.md
    python benchmarks/explain.py --model planted-transformer --inputs 64 \
        --out benchmarks/results/explain_text_cpu.md

`planted-transformer` is experiment=text_planted's teacher (a 2-layer transformer, d_model 64)
on planted_text's first test texts (ids cut to their longest), with the text explainers; its
reference is the model's gradient with respect to its token embeddings.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import torch
from _report import emit  # benchmarks/ is the script's folder, first on sys.path
from omegaconf import OmegaConf
from torch import nn

from distillctl.configuration.groups import config_dir
from distillctl.data.tokens import active
from distillctl.explain import EXPLAINERS, get_explainer
from distillctl.models import create_model


def resnet_shaped() -> tuple[nn.Module, tuple[int, ...], int]:
    """A plain CNN of resnet32x4's size: 7.4M parameters, 3x32x32 inputs, 100 classes."""
    model = create_model(
        {"arch": "cnn", "num_classes": 100, "channels": [128, 256, 512, 512], "hidden": 1650},
        (3, 32, 32),
    )
    return model, (3, 32, 32), 100


def digits_cnn() -> tuple[nn.Module, tuple[int, ...], int]:
    """The default teacher on digits: cnn 32-64, 1x8x8 inputs, 10 classes."""
    return create_model({"arch": "cnn", "num_classes": 10}, (1, 8, 8)), (1, 8, 8), 10


def planted_transformer() -> tuple[nn.Module, tuple[int, ...], int]:
    """experiment=text_planted's teacher: a 2-layer transformer (d_model 64) on texts."""
    model = create_model(
        {"arch": "transformer", "num_classes": 4, "vocab_size": 1000, "d_model": 64, "ffn": 128},
        (32,),
    )
    return model, (32,), 4


MODELS = {
    "digits-cnn": digits_cnn,
    "resnet-shape": resnet_shaped,
    "planted-transformer": planted_transformer,
}


def planted_texts(n: int, device) -> tuple[torch.Tensor, torch.Tensor, object]:
    """planted_text's first `n` test texts and 100 training texts as ids, and the tokenizer."""
    import tempfile

    from distillctl.data import build_splits
    from distillctl.data.tokens import of_splits

    cfg = OmegaConf.load(config_dir() / "data" / "planted_text.yaml")
    splits = build_splits(cfg, tempfile.mkdtemp())
    x = torch.from_numpy(splits.inputs("test", slice(0, n))).to(device)
    background = torch.from_numpy(splits.inputs("train", slice(0, 100))).to(device)
    return x, background, of_splits(splits)


def evals_per_input(name: str, cfg, shape: tuple[int, ...]) -> tuple[int, str]:
    """Model evaluations one input costs with this config, and of which kind."""
    features = 1
    for s in shape:
        features *= s
    if name in ("captum_ig",):
        return int(cfg.n_steps), "grad"
    if name in ("captum_gradientshap", "shap_gradient"):
        return int(cfg.nsamples), "grad"
    if name == "captum_occlusion" and len(shape) == 1:  # a text's tokens (or a table's columns)
        return (shape[0] - int(cfg.window)) // int(cfg.stride) + 2, "fwd"
    if name == "captum_occlusion":
        windows = 1
        for s in shape[1:]:
            windows *= (s - int(cfg.window)) // int(cfg.stride) + 1
        return windows + 1, "fwd"
    if name == "shap_kernel":
        return int(cfg.nsamples) * int(cfg.kmeans), "fwd"
    if name in ("shap_permutation", "shap_partition"):
        return int(cfg.max_evals), "fwd"
    if name == "captum_lig":
        return int(cfg.n_steps), "grad"
    if name == "captum_lime":
        return int(cfg.n_samples), "fwd"
    return 1, "grad"  # saliency, gradcam, deeplift, shap_deep: one backward pass


def timed(fn, repeats: int = 1) -> float:
    fn()  # warm-up
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="digits-cnn")
    parser.add_argument("--inputs", type=int, default=256)
    parser.add_argument("--only", nargs="+", default=None)
    parser.add_argument("--out", type=Path, default=None, help="Markdown file for the table")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    torch.manual_seed(0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model, shape, classes = MODELS[args.model]()
    model = model.to(device).eval()
    text = getattr(model, "input_kind", None) == "text"
    tokenizer = None
    if text:
        x, background, tokenizer = planted_texts(args.inputs, device)
        shape = tuple(x.shape[1:])  # cut to the longest of the chosen texts
    else:
        x = torch.randn(args.inputs, *shape, device=device)
        background = torch.randn(100, *shape, device=device)
    targets = torch.randint(0, classes, (args.inputs,), device=device)
    get_explainer("captum_saliency")  # registers every explainer

    # the model's own gradient throughput: one large batch (explainers batch many samples)
    rows = x.repeat(max(1, 4096 // args.inputs), *[1] * len(shape))
    row_targets = targets.repeat(max(1, 4096 // args.inputs))

    def reference() -> None:
        if text:  # token ids have no gradient: the one with respect to the token embeddings
            embedded: list[torch.Tensor] = []

            def keep(module, args, output):
                output.retain_grad()
                embedded.append(output)

            hook = model.get_submodule(model.token_embedding).register_forward_hook(keep)
            try:
                with torch.enable_grad():
                    score = model(rows).gather(1, row_targets[:, None]).sum()
                    torch.autograd.grad(score, embedded[0])
            finally:
                hook.remove()
            return
        inputs = rows.clone().requires_grad_(True)
        torch.autograd.grad(model(inputs).gather(1, row_targets[:, None]).sum(), inputs)

    ref = timed(reference, repeats=3) / len(rows)
    kind = "text" if text else {3: "image", 2: "signal", 1: "tabular"}[len(shape)]
    names = args.only or sorted(
        n for n in EXPLAINERS if kind in EXPLAINERS.facts(n).kinds and (n != "shap_deep" or shape)
    )
    where = (
        torch.cuda.get_device_name()
        if device.type == "cuda"
        else f"CPU, {torch.get_num_threads()} threads"
    )
    params = sum(p.numel() for p in model.parameters())
    lines = [
        f"# Explainer speed: {args.model} ({params / 1e6:.2f}M parameters, inputs {shape}, "
        f"{classes} classes), {args.inputs} inputs, {where}",
        "",
        f"Command: `python benchmarks/explain.py --model {args.model} --inputs {args.inputs}"
        + (f" --only {' '.join(args.only)}" if args.only else "")
        + "`  ",
        f"Reference: the model's own gradient (w.r.t. its "
        f"{'token embeddings' if text else 'inputs'}) in one batch of {len(rows)} rows, "
        f"{1000 * ref:.3f} ms/row ({1 / ref:,.0f} gradient evaluations/s). The last column is "
        "an explainer's evaluations/s over that: 1.00x is the model's own speed.",
        "",
        "| explainer | ms/input | evals/input | evals/s | evals/s vs the reference |",
        "|---|---|---|---|---|",
    ]
    for name in names:
        root = OmegaConf.create({"seed": 0})  # the explainer's ${seed}, as in a composed run
        root.explainer = OmegaConf.load(config_dir() / "explainer" / f"{name}.yaml")
        cfg = root.explainer
        if text and "window" in cfg:
            cfg.window = 1  # single tokens, as experiment=text_planted's occlusion
        explain = get_explainer(name)
        try:

            def run(e=explain, c=cfg):
                with active(tokenizer):  # SHAP's Text masker reads the data's tokenizer
                    return e(model, x, targets, background, c)

            seconds = timed(run) / args.inputs
        except Exception as exc:  # an explainer that cannot take this model: say so, go on
            lines.append(f"| {name} | failed: {type(exc).__name__} | - | - | - |")
            continue
        evals, kind = evals_per_input(name, cfg, shape)
        rate = evals / seconds
        lines.append(
            f"| {name} | {1000 * seconds:.2f} | {evals} {kind} | {rate:,.0f} | {rate * ref:.2f}x |"
        )
        print(lines[-1], flush=True)
    emit(lines, args.out)


if __name__ == "__main__":
    sys.exit(main())
