"""Training throughput: distillctl's Lightning path against a hand-written PyTorch loop doing the
same work, in one process run, medians over repetitions.

Job `digits` (the demo's pipeline, CPU): teacher cnn, scratch cnn student and distilled cnn
student (ce + kd), AdamW 3e-3, cosine, batch 64, validation every epoch, the best checkpoint
kept on disk. (a) the hand loop: tensors batched by index as distillctl does, the same models
and seeds, a val pass per epoch, torch.save of the best state. (b) distillctl: the stage code
the CLI runs (`stages.common.execute`), progress bar off. Both times cover training and
validation (`fit`); the stage's other work (data, model card, test) is timed apart.

    python benchmarks/throughput.py --epochs 60 --repeats 3 \
        --out benchmarks/results/throughput_cpu.md
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from _report import compose_config, emit  # benchmarks/ is the script's folder, on sys.path

from distillctl.data import build
from distillctl.guards import seed_stream
from distillctl.models import create_model

STAGES = ("train_teacher", "train_student", "distill_student")


def config(stage: str, root: Path, epochs: int, extra: list[str]):
    return compose_config(
        stage,
        [
            f"paths.output_root={root}",
            f"paths.data_dir={root / 'data'}",
            f"trainer.max_epochs={epochs}",
            "trainer.enable_progress_bar=false",
            *extra,
        ],
    )


def hand_stage(stage: str, cfg, teacher, out: Path) -> tuple[float, torch.nn.Module]:
    """One stage as a plain loop; returns (seconds of training + validation, trained model)."""
    data, info = build(cfg)
    x_tr, y_tr = data.tensors("train")
    x_val, y_val = data.tensors("val")
    role = "teacher" if stage == "train_teacher" else "student"
    seed_stream(int(cfg.seed), role)
    model = create_model(cfg[role], info.input_shape)
    opt = torch.optim.AdamW(model.parameters(), lr=float(cfg.optim.lr))
    epochs = int(cfg.trainer.max_epochs)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    kd_weight, temperature = float(cfg.loss.kd.weight), float(cfg.loss.kd.temperature)
    batch, best = int(cfg.data.batch_size), -1.0
    start = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(y_tr), generator=torch.Generator().manual_seed(epoch))
        for i in range(0, len(order), batch):
            idx = order[i : i + batch]
            x, y = x_tr[idx], y_tr[idx]
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            if teacher is not None:
                with torch.no_grad():
                    t_logits = teacher(x)
                kl = F.kl_div(
                    F.log_softmax(logits / temperature, -1),
                    F.log_softmax(t_logits / temperature, -1),
                    reduction="batchmean",
                    log_target=True,
                )
                loss = loss + kd_weight * kl * temperature**2
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        schedule.step()
        model.eval()
        with torch.no_grad():
            acc = sum(
                int((model(x_val[i : i + batch]).argmax(-1) == y_val[i : i + batch]).sum())
                for i in range(0, len(y_val), batch)
            ) / len(y_val)
        if acc > best:
            best = acc
            torch.save(model.state_dict(), out / f"{stage}-best.pt")
    return time.perf_counter() - start, model.eval()


def timed_fit(monkeypatched: dict):
    """Wrap pytorch_lightning.Trainer.fit to time each call (training + validation)."""
    import pytorch_lightning as pl

    original = pl.Trainer.fit

    def fit(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return original(self, *args, **kwargs)
        finally:
            monkeypatched.setdefault("fits", []).append(time.perf_counter() - start)

    pl.Trainer.fit = fit
    return original


def distillctl_stages(root: Path, epochs: int, extra: list[str]) -> tuple[list[float], list[float]]:
    from distillctl.stages import BY_NAME
    from distillctl.stages.common import execute

    seen: dict = {}
    original = timed_fit(seen)
    totals = []
    try:
        for stage in STAGES:
            start = time.perf_counter()
            execute(BY_NAME[stage], config(stage, root, epochs, extra), root / stage)
            totals.append(time.perf_counter() - start)
    finally:
        import pytorch_lightning as pl

        pl.Trainer.fit = original
    return seen["fits"], totals


def hand_stages(root: Path, epochs: int, extra: list[str]) -> list[float]:
    times, teacher = [], None
    for stage in STAGES:
        cfg = config(stage, root, epochs, extra)
        seconds, model = hand_stage(
            stage, cfg, teacher if stage == "distill_student" else None, root
        )
        times.append(seconds)
        if stage == "train_teacher":
            teacher = copy.deepcopy(model).requires_grad_(False)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--machine", default="2 CPU cores")
    args, extra = parser.parse_known_args()
    hand, lit, whole = [], [], []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            hand.append(hand_stages(Path(tmp), args.epochs, extra))
        with tempfile.TemporaryDirectory() as tmp:
            fits, totals = distillctl_stages(Path(tmp), args.epochs, extra)
            lit.append(fits)
            whole.append(totals)
    n_train = len(
        build(config("train_teacher", Path(tempfile.mkdtemp()), 1, extra))[0].splits.y_train
    )
    rows = []
    for k, stage in enumerate(STAGES):
        a = statistics.median(r[k] for r in hand)
        b = statistics.median(r[k] for r in lit)
        w = statistics.median(r[k] for r in whole)
        rate_a, rate_b = n_train * args.epochs / a, n_train * args.epochs / b
        cells = [f"{rate_a:,.0f}", f"{rate_b:,.0f}", f"{a / b:.2f}", f"{a:.1f}", f"{b:.1f}"]
        rows.append(f"| {stage} | {' | '.join(cells)} | {w:.1f} |")
    a_all = statistics.median(sum(r) for r in hand)
    b_all = statistics.median(sum(r) for r in lit)
    lines = [
        f"# Training throughput, distillctl vs a hand-written loop ({args.machine})",
        "",
        f"`python benchmarks/throughput.py --epochs {args.epochs} --repeats {args.repeats}"
        + (f" {' '.join(extra)}" if extra else "")
        + "`: the demo's digits pipeline, "
        f"{n_train} training samples, batch 64, {args.epochs} epochs per stage, validation every "
        f"epoch, best checkpoint kept; medians of {args.repeats} repetitions in one process.",
        "",
        "| stage | hand loop samples/s (a) | distillctl samples/s (b) | b/a | a: fit s | "
        "b: fit s | b: whole stage s |",
        "|---|---|---|---|---|---|---|",
        *rows,
        f"| all three | | | {a_all / b_all:.2f} | {a_all:.1f} | {b_all:.1f} | |",
        "",
        "fit = training + validation; the whole stage adds reading the data, building the "
        "models, the test pass, the model card and run.json.",
    ]
    emit(lines, args.out)


if __name__ == "__main__":
    main()
