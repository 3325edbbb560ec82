"""What every benchmark script does with its table: print it, and write it to --out if given."""

from __future__ import annotations

from pathlib import Path


def emit(lines: list[str], out: Path | None) -> str:
    text = "\n".join(lines) + "\n"
    print(text)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
    return text
