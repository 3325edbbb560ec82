"""Atomic file writes: write to a temporary name in the same folder, then rename.

A reader (another stage, `compare`, a browser) never sees half a file.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

FULL = (errno.ENOSPC, errno.EDQUOT)  # no space left, over quota


def _umask() -> int:
    """The process umask (read without changing it where Linux says it, else set and put back)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """`data` written to a temporary name beside `path`, then renamed onto it. The file gets the
    mode a plain open() would give it (0666 less the umask; mkstemp's own is 0600, so a
    teammate on a shared file system could not read the runs). A full disk is one message
    naming the file; the previous version of the file is left whole."""
    from distillctl.errors import RunError

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        if exc.errno in FULL:
            kept = "its previous version is unchanged" if path.exists() else "nothing was written"
            raise RunError(
                f"the disk is full: {path} could not be written ({len(data):,} bytes; {kept})",
                f"free space on the file system of {path.parent} (or point paths.output_root "
                "elsewhere), then resume the run",
            ) from None
        raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def atomic_write_csv(
    path: str | Path, rows: list[dict[str, Any]], columns: list[str] | None = None
) -> Path:
    """A CSV of `rows`: `columns` in that order (other keys left out), or every key in the
    order they first appear."""
    columns = columns or list(dict.fromkeys(key for row in rows for key in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return atomic_write_text(path, buffer.getvalue())


def read_json(path: str | Path) -> Any:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)
