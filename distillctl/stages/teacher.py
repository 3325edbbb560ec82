"""The teacher a stage reads: `teacher_ckpt` resolved once, its weights loaded and checked
against this data (distill, and `train student` with `student.init_from_teacher`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig

from distillctl.configuration.specs import Specs
from distillctl.console import say
from distillctl.errors import RunError
from distillctl.runfolder.record import RunRecord
from distillctl.runfolder.resolve import architecture, describe_arch
from distillctl.runfolder.results import data_facts
from distillctl.runfolder.teacher_source import NONE, TeacherSource
from distillctl.runfolder.weights import load_teacher


@dataclass
class LoadedTeacher:
    model: Any
    meta: dict[str, Any]
    source: str  # what run.json and the student's checkpoint keep


def check_teacher_fits(
    meta: dict[str, Any],
    identity: dict[str, Any],
    num_classes: int,
    ckpt: Any,
    tokenizer_sha: str | None = None,
    own_tokens: bool = False,
) -> None:
    """A teacher trained on other data (or other splits of it) would leak or mislead. With
    `own_tokens` (distill.align=words) it reads the texts with its own tokenizer: only the
    texts and their splits must be the same."""
    trained_on = meta.get("data") or {}
    if own_tokens:
        from distillctl.data.texts import TOKENIZER_KEYS

        trained_on = {k: v for k, v in trained_on.items() if k not in TOKENIZER_KEYS}
        identity = {k: v for k, v in identity.items() if k not in TOKENIZER_KEYS}
        tokenizer_sha = None
    if trained_on != identity:
        differ = sorted(
            k for k in set(trained_on) | set(identity) if trained_on.get(k) != identity.get(k)
        )
        raise RunError(
            f"teacher {ckpt} was trained on data '{trained_on.get('name')}' but this run uses "
            f"'{identity.get('name')}' (differs in: {', '.join(differ)})",
            f"distil on the teacher's data (data={trained_on.get('name')}) or train a teacher "
            f"on this data: `distillctl train teacher data={identity.get('name')}`",
        )
    made_with, ours = meta.get("tokenizer_sha256"), tokenizer_sha
    if made_with and ours and made_with != ours:
        raise RunError(
            f"teacher {ckpt} was trained on token ids of another tokenizer (sha256 "
            f"{made_with[:12]} vs this data's {ours[:12]}): its inputs would mean other words",
            "distil with the teacher's tokenizer (keep paths.data_dir/tokenizers from its run), "
            "or train the teacher again on this data",
        )
    if int(meta["num_classes"]) != num_classes:
        raise RunError(
            f"teacher {ckpt} predicts {meta['num_classes']} classes but the data has {num_classes}",
            "use a teacher trained on this data",
        )


def load(cfg: DictConfig, specs: Specs, info: Any, record: RunRecord) -> LoadedTeacher:
    """The configured teacher's weights for this data, recorded in run.json (a resumed run keeps
    the teacher it started with, even if a newer one exists now)."""
    identity = info.identity
    wanted = specs.teacher.node(info.num_classes, info.vocab_size)
    recorded = record.data.get("teacher_ckpt")
    teacher_source = TeacherSource.parse(recorded) if recorded else specs.teacher_source
    weights, teacher_run = teacher_source.resolve(cfg.paths.output_root, identity, wanted)
    source = teacher_source.recorded(weights)
    ckpt = weights if weights is not None else NONE
    say(f"teacher: {ckpt}")
    record.update(teacher_ckpt=source)
    if teacher_run is not None:
        record.add_parent("teacher", teacher_run)
    teacher, meta = load_teacher(ckpt, wanted, info.input_shape, info.num_classes, identity)
    # distill.align=words: the teacher reads the texts with its own tokenizer (its vocabulary
    # and length are its own; only the texts and their splits must be this data's)
    own_tokens = specs.distill is not None and specs.distill.align == "words"
    check_teacher_fits(
        meta, identity, info.num_classes, ckpt, data_facts(info).get("tokenizer_sha256"), own_tokens
    )
    theirs, ours = meta["model"], wanted
    if own_tokens:
        theirs, ours = ({k: v for k, v in m.items() if k != "vocab_size"} for m in (theirs, ours))
    if architecture(theirs) != architecture(ours):
        raise RunError(
            f"teacher checkpoint {ckpt} is a {describe_arch(theirs)} but the "
            f"config asks for teacher={describe_arch(ours)}",
            f"pass teacher={meta['model']['arch']} with the checkpoint's options, or a "
            "checkpoint of the configured teacher",
        )
    if not own_tokens and tuple(meta["input_shape"]) != info.input_shape:
        raise RunError(
            f"teacher {ckpt} takes inputs of shape {meta['input_shape']} but "
            f"the data gives {list(info.input_shape)}",
            "use a teacher for this data",
        )
    return LoadedTeacher(teacher, meta, source)
