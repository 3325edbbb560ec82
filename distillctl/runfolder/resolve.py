"""Finding the runs a stage builds on: the newest teacher run of a network on the same data
(`teacher_ckpt=latest`, for runfolder/teacher_source.py) and `explain.run=latest`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from distillctl.errors import RunError
from distillctl.runfolder import record as runs


def describe_data(identity: dict[str, Any] | None) -> str:
    return "?" if not identity else str(identity.get("name"))


def architecture(model_spec: dict[str, Any] | None) -> dict[str, Any]:
    """What makes two teacher configs the same network: arch and its options, not the class
    count (checked against the data separately), the checkpoint path, nor where its initial
    weights came from."""
    from distillctl.models import NON_BUILD_KEYS

    skipped = (NON_BUILD_KEYS - {"arch"}) | {"num_classes"}
    return {k: v for k, v in (model_spec or {}).items() if k not in skipped}


def describe_arch(model_spec: dict[str, Any] | None) -> str:
    spec = architecture(model_spec)
    options = ", ".join(f"{k}={v}" for k, v in spec.items() if k != "arch")
    return f"{spec.get('arch')}({options})"


def latest_teacher(
    output_root: str, data_identity: dict[str, Any], wanted_model: dict[str, Any]
) -> Path:
    """The newest finished `train teacher` run on the same data (same splits) and of the
    architecture the `teacher` config asks for (a RunError saying what there is, if none)."""
    found = runs.finished_runs(output_root, "train_teacher")
    same_data = [(d, info) for d, info in found if info.get("data") == data_identity]
    same = [
        (d, info)
        for d, info in same_data
        if architecture(info.get("model")) == architecture(wanted_model)
    ]
    if same:
        return same[0][0]
    name = data_identity.get("name")
    if same_data:
        archs = sorted({describe_arch(info.get("model")) for _, info in same_data})
        raise RunError(
            f"no finished teacher run of {describe_arch(wanted_model)} on data '{name}' under "
            f"{output_root} (teachers on this data: {', '.join(archs)})",
            f"choose that teacher with teacher=<arch> and its options, pass "
            f"teacher_ckpt=<run dir>, or train one: `distillctl train teacher data={name}`",
        )
    if found:
        others = sorted({describe_data(info.get("data")) for _, info in found})
        raise RunError(
            f"no finished teacher run on data '{name}' with these data options under "
            f"{output_root} (teacher runs found on: {', '.join(others)})",
            f"train one first: `distillctl train teacher data={name}`, "
            "or pass teacher_ckpt=<run dir>",
        )
    raise RunError(
        f"no finished teacher run under {output_root}",
        f"train one first: `distillctl train teacher data={name}` "
        "(or `distillctl run` for the whole pipeline)",
    )


def resolve_distill_run(spec: str, output_root: str) -> Path:
    """The distill run folder to explain: explain.run=latest | RUN_DIR."""
    if spec == "latest":
        found = runs.finished_runs(output_root, "distill_student")
        if not found:
            raise RunError(
                f"no finished `distill student` run under {output_root} to explain",
                "run `distillctl distill student` first, or pass explain.run=<run dir>",
            )
        return found[0][0]
    path = Path(spec)
    info = runs.load(path)
    if info is None or info.get("stage") != "distill_student":
        raise RunError(
            f"{path} is not a `distill student` run folder (no run.json of that stage)",
            "pass explain.run=<a distill run folder> or explain.run=latest",
        )
    if info.get("status") != "done":
        raise RunError(
            f"distill run {path} did not finish (status: {info.get('status')})",
            "explain a finished run, or re-run `distillctl distill student`",
        )
    return path
