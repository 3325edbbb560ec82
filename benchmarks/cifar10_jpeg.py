"""CPU (or GPU) throughput of `experiment=cifar10_jpeg`: resnet56 teacher training and
resnet56 -> resnet20 distillation on the shared CIFAR-10 photographs, in images/s.

Each stage runs twice through the real stage code (in-process, as the CLI runs it), once for
`--short` and once for `--long` training batches of one epoch; images/s is the extra images
over the extra seconds, so start-up, decoding, evaluation and checkpoint writes cancel out.
The first call extracts and decodes the archives once into the data cache (timed separately).

    python benchmarks/cifar10_jpeg.py --out benchmarks/results/cifar10_jpeg_cpu.md
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _report import compose_config, emit  # benchmarks/ is the script's folder, on sys.path

from distillctl.data import build_splits
from distillctl.stages import BY_NAME
from distillctl.stages.common import execute


def run(stage: str, root: Path, name: str, overrides: list[str]) -> tuple[float, dict]:
    cfg = compose_config(
        stage,
        [
            "experiment=cifar10_jpeg",
            f"paths.output_root={root}",
            "trainer.enable_progress_bar=false",
            "trainer.max_epochs=1",
            *overrides,
        ],
    )
    start = time.perf_counter()
    result = execute(BY_NAME[stage], cfg, root / name)
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", type=int, default=5, help="training batches, short run")
    parser.add_argument("--long", type=int, default=25, help="training batches, long run")
    parser.add_argument("--subset", type=int, default=5000, help="training images kept")
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument(
        "--photos",
        type=Path,
        default=Path(__file__).resolve().parents[2] / "shared" / "datasets" / "cifar10-jpeg",
        help="the folder of train.tar.gz and test.tar.gz",
    )
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--machine", default="2 CPU cores")
    args, extra = parser.parse_known_args()
    root = Path(tempfile.mkdtemp(prefix="distillctl-cifar10-jpeg-"))
    common = [
        f"paths.data_dir={args.data_dir}",
        f"data.root={args.photos}",
        f"data.subset={args.subset}",
        *extra,
    ]
    batch = 64
    start = time.perf_counter()  # extract and decode once, outside the timed runs
    cfg = compose_config("train_teacher", ["experiment=cifar10_jpeg", *common])
    splits = build_splits(cfg.data, cfg.paths.data_dir)
    prepare = time.perf_counter() - start
    rows, results = [], {}
    for stage, name in (("train_teacher", "teacher training"), ("distill_student", "distillation")):
        timings = {}
        for batches in (args.short, args.long):
            seconds, result = run(
                stage,
                root,
                f"{stage}-{batches}",
                [*common, f"trainer.limit_train_batches={batches}"],
            )
            timings[batches] = seconds
            results[(stage, batches)] = result
        extra_images = (args.long - args.short) * batch
        rate = extra_images / (timings[args.long] - timings[args.short])
        rows.append(
            f"| {name} | {timings[args.short]:.1f} | {timings[args.long]:.1f} | {rate:.0f} |"
        )
    teacher = results[("train_teacher", args.long)]
    lines = [
        f"# experiment=cifar10_jpeg throughput ({args.machine})",
        "",
        f"`python benchmarks/cifar10_jpeg.py --short {args.short} --long {args.long} "
        f"--subset {args.subset} {' '.join(extra)}`".replace(" `", "`")
        + f": one epoch of {args.short} and of {args.long} training batches "
        f"of {batch} 32x32 photographs (crop + flip on the device), validation and test included "
        "in the wall times; images/s = extra images / extra seconds.",
        "",
        f"| stage | {args.short} batches (s) | {args.long} batches (s) | training images/s |",
        "|---|---|---|---|",
        *rows,
        "",
        f"Reading the archives (extracted and decoded once, then cached; {splits.sizes()}): "
        f"{prepare:.1f} s.",
        "",
        f"After {args.long} batches the resnet56 teacher tests at {teacher['test_acc']:.4f} "
        "(a start, not a result: the recipe is 50 epochs).",
    ]
    emit(lines, args.out)


if __name__ == "__main__":
    main()
