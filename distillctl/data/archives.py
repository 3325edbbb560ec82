"""Image archives (`.tar`, `.tar.gz`, `.tgz`) extracted once into the data cache, whole or not
at all.

An archive is read once, to its end, extracting each member as it comes into a private folder:
every member header, then the data after the last member (a damaged header in the middle makes
tarfile stop early, as if the archive ended there), and for gzip the whole stream (its CRC is
only checked at the end). The private folder is renamed into place only when all of that
passed, with the number of files it holds; a cached copy whose count no longer matches is
extracted again. So a damaged archive is one message naming it (and the member, where known),
never a silently short data set.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import zlib
from pathlib import Path

from distillctl.console import say
from distillctl.errors import RunError

DONE = ".extracted"  # written last, holding the number of files extracted
CHUNK = 1 << 20


def _damaged(archive: Path, what: str) -> RunError:
    return RunError(
        f"data.root archive {archive} is damaged: {what}",
        "get a fresh copy of the archive (check it with `tar -tzf`), or point data.root at an "
        "extracted folder",
    )


def _read_to_end(tar: tarfile.TarFile, archive: Path, last: str | None) -> None:
    """Everything after the last member must be the end-of-archive zero blocks; reading it also
    runs gzip's CRC and length check."""
    fileobj = tar.fileobj
    fileobj.seek(tar.offset)
    while chunk := fileobj.read(CHUNK):
        if chunk.strip(b"\0"):
            after = f"after member {last}" if last else "at its first member"
            raise _damaged(archive, f"a member header {after} cannot be read")


def _count(folder: Path) -> int:
    return sum(1 for p in folder.rglob("*") if p.is_file() and p.name != DONE)


def _complete(target: Path) -> bool:
    done = target / DONE
    try:
        return done.is_file() and int(done.read_text().strip()) == _count(target)
    except ValueError:  # an older marker ("ok") or a damaged one: extract again
        return False


def extract(archive: Path, cache: Path, name: str) -> Path:
    """`archive`'s contents in `cache / name`, extracted and verified once."""
    target = cache / name
    if _complete(target):
        return target
    say(f"extracting {archive} into {target} (once)")
    partial = cache / f".{name}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    last = None
    try:
        with tarfile.open(archive) as tar:
            for member in tar:
                tar.extract(member, partial, filter="data")  # no absolute paths, links, devices
                last = member.name
            _read_to_end(tar, archive, last)
    except RunError:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        shutil.rmtree(partial, ignore_errors=True)
        where = f" (after member {last})" if last else ""
        raise _damaged(archive, f"{type(exc).__name__}: {exc}{where}") from None
    (partial / DONE).write_text(str(_count(partial)))
    shutil.rmtree(target, ignore_errors=True)  # a short or stale copy
    os.replace(partial, target)
    return target
