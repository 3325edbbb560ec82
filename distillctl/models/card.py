"""Model card: how big and how fast a model is (parameters, bytes on disk, MACs, CPU latency)."""

from __future__ import annotations

import copy
import io
import statistics
import time

import torch
from torch import nn

from distillctl.inputs import example_input


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def size_on_disk(model: nn.Module) -> int:
    """Bytes of the model's state_dict as torch.save writes it (the exported weights)."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getbuffer().nbytes


def macs(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Multiply-accumulates of one forward pass on one input (FLOPs / 2)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(example_input(tuple(input_shape), n=1, model=model))
    return int(counter.get_total_flops() // 2)


def cpu_latency_ms(model: nn.Module, input_shape: tuple[int, ...], repeats: int = 50) -> float:
    """Median wall time of one single-input forward pass on the CPU, in milliseconds."""
    x = example_input(tuple(input_shape), n=1, model=model)
    if x.is_floating_point():
        x = torch.randn_like(x)
    times = []
    with torch.inference_mode():
        for i in range(repeats + 5):
            start = time.perf_counter()
            model(x)
            if i >= 5:  # warm-up runs are not counted
                times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def model_card(
    model: nn.Module, input_shape: tuple[int, ...], arch: str, latency_shape=None
) -> dict:
    """`latency_shape`: the input shape MACs and latency are measured at, when not the stored
    one (a text at the data's median length, not padded to max_length)."""
    cpu_model = copy.deepcopy(model).cpu().eval()
    timed = tuple(latency_shape or input_shape)
    card = {
        "arch": arch,
        "parameters": parameter_count(cpu_model),
        "size_bytes": size_on_disk(cpu_model),
        "macs": macs(cpu_model, timed),
        "cpu_latency_ms_per_sample": round(cpu_latency_ms(cpu_model, timed), 4),
        "input_shape": list(input_shape),
    }
    if latency_shape:
        card["measured_at_shape"] = list(timed)
    return card
