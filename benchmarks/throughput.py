"""Training throughput: distillctl's Lightning path against a hand-written PyTorch loop doing the
same work, in one process run, medians over repetitions.

Job `digits` (the demo's pipeline, CPU): teacher cnn, scratch cnn student and distilled cnn
student (ce + kd), AdamW 3e-3, cosine, batch 64, validation every epoch, the best checkpoint
kept on disk. Job `cifar_kd`: resnet32x4 -> resnet8x4 distillation on CIFAR-shaped synthetic
data (uint8 pixels normalised on the device, 100 classes), SGD 0.05 with momentum, 0.1 CE +
0.9 KD, batch 256, with the teacher recomputed every step and with the teacher-output cache
(its teacher: a seeded, untrained resnet32x4 saved as a state_dict: speed does not depend on
what the weights know).

(a) the hand loop: tensors batched by index as distillctl does, the same models, seeds,
optimiser and schedule, a val pass per epoch, torch.save of the best state, and the teacher's
logits kept per sample after the first epoch wherever distillctl's cache is on. (b)
distillctl: the stage code the CLI runs (`stages.common.execute`), progress bar off. Both
times cover training and validation (`fit`); the stage's other work (data, model card, test)
is timed apart.

    python benchmarks/throughput.py --epochs 60 --repeats 3 teacher_cache=false \
        --out benchmarks/results/throughput_cpu.md
    python benchmarks/throughput.py --job cifar_kd --epochs 2 --repeats 2 \
        data.num_samples=512 data.num_test=128 --out benchmarks/results/throughput_cifar_kd_cpu.md
    python benchmarks/throughput.py --job text --epochs 8 --repeats 3 \
        --out benchmarks/results/throughput_text_cpu.md

Job `text`: experiment=text_planted (transformer teacher -> bow student), rates in real tokens
per second (padding not counted); the hand loop cuts each batch to its longest text too.
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
from distillctl.models import create_model
from distillctl.train.seeding import seed_stream

STAGES = ("train_teacher", "train_student", "distill_student")


class Job:
    """What a job trains: its stages, its config, the settings it compares, and what its rate
    counts (samples, or a text's real tokens)."""

    def __init__(self, stages, overrides, settings, describe, unit="samples"):
        self.stages, self.overrides, self.settings, self.describe, self.unit = (
            stages, overrides, settings, describe, unit,
        )  # fmt: skip


JOBS = {
    "digits": Job(
        STAGES,
        [],
        {"as configured": []},
        "the demo's digits pipeline, {n} training samples, batch 64",
    ),
    "cifar_kd": Job(
        ("distill_student",),
        [
            "data=synthetic",
            "teacher=resnet32x4",
            "student=resnet8x4",
            "optim=sgd",
            "loss=kd_cifar",
            "data.batch_size=256",
            "trainer.limit_val_batches=null",
        ],
        {"teacher recomputed": ["teacher_cache=false"], "teacher cache": ["teacher_cache=true"]},
        "resnet32x4 -> resnet8x4 KD on CIFAR-shaped synthetic data, {n} training samples, "
        "batch 256, SGD",
    ),  # fmt: skip
    "text": Job(
        STAGES,
        ["experiment=text_planted", "trainer.limit_val_batches=null"],
        {
            "bow student": [],
            # a student with work per step (the wordnet experiment's): Lightning's fixed
            # per-step cost weighs less than on a bag of words' ~1 ms step
            "1-layer transformer student": [
                "student=transformer",
                "~student.embed_dim",
                "student.layers=1",
                "student.d_model=64",
                "student.heads=2",
                "student.ffn=128",
            ],
        },
        "experiment=text_planted: transformer teacher, bow (or 1-layer transformer) student, "
        "ce + kd, {n} training "
        "texts of {tokens} real tokens in all, batch 64, each batch cut to its longest text",
        unit="tokens",
    ),
}

# the hand loop's optimiser and schedule, by the config's names
OPTIMISERS = {
    "adamw": lambda o, params: torch.optim.AdamW(
        params, lr=float(o.lr), weight_decay=float(o.weight_decay)
    ),
    "sgd": lambda o, params: torch.optim.SGD(
        params,
        lr=float(o.lr),
        momentum=float(o.momentum),
        weight_decay=float(o.weight_decay),
        nesterov=bool(o.nesterov),
    ),  # fmt: skip
}
SCHEDULES = {
    "cosine": lambda o, opt, epochs: torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs),
    "multistep": lambda o, opt, epochs: torch.optim.lr_scheduler.MultiStepLR(
        opt, list(o.milestones), float(o.gamma)
    ),
    "none": lambda o, opt, epochs: torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 1.0),
}


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
    opt = OPTIMISERS[cfg.optim.name](cfg.optim, model.parameters())
    epochs = int(cfg.trainer.max_epochs)
    schedule = SCHEDULES[cfg.optim.scheduler](cfg.optim, opt, epochs)
    ce_weight = float(cfg.loss.ce.weight)
    kd_weight, temperature = float(cfg.loss.kd.weight), float(cfg.loss.kd.temperature)
    batch, best = int(cfg.data.batch_size), -1.0
    # the teacher's logits per sample, kept after the first epoch where distillctl keeps them
    keep = str(cfg.teacher_cache).lower() != "false" and data.augment is None
    kept = torch.empty(len(y_tr), info.num_classes) if teacher is not None and keep else None
    start = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(y_tr), generator=torch.Generator().manual_seed(epoch))
        for i in range(0, len(order), batch):
            idx = order[i : i + batch]
            x, y = data.pixels.inputs(x_tr[idx]), y_tr[idx]
            logits = model(x)
            loss = ce_weight * F.cross_entropy(logits, y)
            if teacher is not None:
                if kept is not None and epoch > 0:
                    t_logits = kept[idx]
                else:
                    with torch.no_grad():
                        t_logits = teacher(x)
                    if kept is not None:
                        kept[idx] = t_logits
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
                int(
                    (
                        model(data.pixels.inputs(x_val[i : i + batch])).argmax(-1)
                        == y_val[i : i + batch]
                    ).sum()
                )
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


def given_teacher(job: Job, root: Path, epochs: int, extra: list[str]):
    """For a job without a teacher stage: a seeded teacher saved as a state_dict file, passed
    to distillctl as teacher_ckpt=<file>; returns (the model, its override) or (None, [])."""
    if "train_teacher" in job.stages:
        return None, []
    cfg = config("distill_student", root, epochs, extra)
    _, info = build(cfg)
    seed_stream(int(cfg.seed), "teacher")
    teacher = create_model(cfg.teacher, info.input_shape)
    path = root / "teacher_weights.pt"
    torch.save(teacher.state_dict(), path)
    return teacher.eval().requires_grad_(False), [f"teacher_ckpt={path}"]


def distillctl_stages(job: Job, root: Path, epochs: int, extra: list[str]):
    from distillctl.stages import BY_NAME
    from distillctl.stages.common import execute

    extra = [*extra, *given_teacher(job, root, epochs, extra)[1]]
    seen: dict = {}
    original = timed_fit(seen)
    totals = []
    try:
        for stage in job.stages:
            start = time.perf_counter()
            execute(BY_NAME[stage], config(stage, root, epochs, extra), root / stage)
            totals.append(time.perf_counter() - start)
    finally:
        import pytorch_lightning as pl

        pl.Trainer.fit = original
    return seen["fits"], totals


def hand_stages(job: Job, root: Path, epochs: int, extra: list[str]) -> list[float]:
    times = []
    teacher, _ = given_teacher(job, root, epochs, extra)
    for stage in job.stages:
        cfg = config(stage, root, epochs, extra)
        seconds, model = hand_stage(
            stage, cfg, teacher if stage == "distill_student" else None, root
        )
        times.append(seconds)
        if stage == "train_teacher":
            teacher = copy.deepcopy(model).requires_grad_(False)
    return times


def measure(job: Job, repeats: int, epochs: int, extra: list[str]):
    """Per stage: medians of (hand loop fit s, distillctl fit s, distillctl whole stage s)."""
    hand, lit, whole = [], [], []
    for rep in range(repeats):
        # alternate which side runs first: the first pays the process's warm-up
        for side in ("hand", "lit") if rep % 2 == 0 else ("lit", "hand"):
            with tempfile.TemporaryDirectory() as tmp:
                if side == "hand":
                    hand.append(hand_stages(job, Path(tmp), epochs, extra))
                    continue
                fits, totals = distillctl_stages(job, Path(tmp), epochs, extra)
                lit.append(fits)
                whole.append(totals)
    med = statistics.median
    stages = [(med(r[k] for r in hand), med(r[k] for r in lit), med(r[k] for r in whole))
              for k in range(len(job.stages))]  # fmt: skip
    return stages, med(sum(r) for r in hand), med(sum(r) for r in lit)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--job", choices=sorted(JOBS), default="digits")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--machine", default="2 CPU cores")
    args, extra = parser.parse_known_args()
    job = JOBS[args.job]
    extra = [*job.overrides, *extra]
    splits = build(config("train_teacher", Path(tempfile.mkdtemp()), 1, extra))[0].splits
    n_train = len(splits.y_train)
    # what a rate counts: training samples, or (texts) their real tokens, per epoch
    tokens = int((splits.x_train != 0).sum()) if job.unit == "tokens" else n_train
    rows = []
    for setting, overrides in job.settings.items():
        stages, a_all, b_all = measure(job, args.repeats, args.epochs, [*extra, *overrides])
        for stage, (a, b, w) in zip(job.stages, stages):
            per_epoch = tokens if job.unit == "tokens" else n_train
            rate_a, rate_b = per_epoch * args.epochs / a, per_epoch * args.epochs / b
            cells = [f"{rate_a:,.0f}", f"{rate_b:,.0f}", f"{a / b:.2f}", f"{a:.1f}", f"{b:.1f}"]
            rows.append(f"| {setting} | {stage} | {' | '.join(cells)} | {w:.1f} |")
        if len(job.stages) > 1:
            rows.append(
                f"| {setting} | all | | | {a_all / b_all:.2f} | {a_all:.1f} | {b_all:.1f} | |"
            )
    shown = [o for o in extra if o not in job.overrides]
    lines = [
        f"# Training throughput, distillctl vs a hand-written loop ({args.machine})",
        "",
        f"`python benchmarks/throughput.py --job {args.job} --epochs {args.epochs} "
        f"--repeats {args.repeats}"
        + (f" {' '.join(shown)}" if shown else "")
        + "`: "
        + job.describe.format(n=n_train, tokens=f"{tokens:,}")
        + f", {args.epochs} epochs per stage, validation every epoch, best checkpoint kept; "
        f"medians of {args.repeats} repetitions in one process, "
        "the side that runs first alternating.",
        "",
        f"| setting | stage | hand loop {job.unit}/s (a) | distillctl {job.unit}/s (b) | b/a | "
        "a: fit s | b: fit s | b: whole stage s |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        "fit = training + validation; the whole stage adds reading the data, building the "
        "models, the test pass, the model card and run.json.",
    ]
    emit(lines, args.out)


if __name__ == "__main__":
    main()
