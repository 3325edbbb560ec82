"""Where a distillation's teacher weights come from: `teacher_ckpt` (with `teacher_checkpoint`)
read once into a TeacherSource, checked once (before any run folder exists), resolved once.

    latest      the newest finished `train teacher` run on the same data, of the network the
                `teacher` config asks for (null means latest too)
    <folder>    a `train teacher` run: its checkpoints/<teacher_checkpoint>.ckpt
    <file>      a distillctl .ckpt, or a plain PyTorch state_dict file (.pt / .pth)
    none        no file: the network's own (pretrained) weights
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from distillctl.errors import ConfigError, RunError

LATEST, NONE = "latest", "none"


@dataclass(frozen=True)
class TeacherSource:
    kind: str  # latest | run | file | none
    path: Path | None  # the run folder or the file, absolute; None for latest and none
    checkpoint: str = "best"  # which checkpoint of a run (teacher_checkpoint)

    @classmethod
    def parse(cls, value: Any, checkpoint: Any = "best") -> TeacherSource:
        """The one reading of `teacher_ckpt` (and `teacher_checkpoint`), checked: a folder must
        be a run with that checkpoint, a file must exist. A ConfigError otherwise."""
        which = str(checkpoint or "best")
        text = LATEST if value is None else str(value)
        if text in (LATEST, NONE):
            return cls(text, None, which)
        path = Path(text).expanduser().absolute()
        if path.is_dir():
            if not (path / "checkpoints" / f"{which}.ckpt").exists():
                raise ConfigError(
                    f"teacher run {path} has no checkpoints/{which}.ckpt",
                    "point teacher_ckpt at a finished `train teacher` run or a weights file, "
                    "or set teacher_checkpoint=best",
                )
            return cls("run", path, which)
        if not path.exists():
            raise ConfigError(
                f"teacher_ckpt={value} does not exist",
                "point teacher_ckpt at a teacher run folder, a .ckpt or a state_dict file; or "
                "use teacher_ckpt=latest (train one with `distillctl train teacher`)",
            )
        return cls("file", path, which)

    def resolve(
        self, output_root: str, data_identity: dict[str, Any], wanted_model: dict[str, Any]
    ) -> tuple[Path | None, Path | None]:
        """(weights file or None for `none`, the teacher run folder or None)."""
        from distillctl.runfolder.resolve import latest_teacher

        if self.kind == NONE:
            return None, None
        if self.kind == "file":
            path = self.path
            return path, path.parent.parent if path.parent.name == "checkpoints" else None
        run = (
            self.path
            if self.kind == "run"
            else latest_teacher(output_root, data_identity, wanted_model)
        )
        weights = run / "checkpoints" / f"{self.checkpoint}.ckpt"
        if self.kind == LATEST and not weights.exists():  # found now, not checked at parse
            raise RunError(
                f"teacher run {run} has no checkpoints/{self.checkpoint}.ckpt",
                "point teacher_ckpt at a finished `train teacher` run or a weights file, "
                "or set teacher_checkpoint=best",
            )
        return weights, run

    def recorded(self, weights: Path | None) -> str:
        """What run.json and the student's checkpoint keep: the weights' absolute path, or
        `none`."""
        return NONE if weights is None else str(weights.resolve())
