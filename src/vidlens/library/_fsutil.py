"""Crash-safe file writes: write to a temporary file, fsync, rename, fsync the directory."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

__all__ = ["atomic_write", "atomic_write_bytes", "fsync_dir", "remove_stale_temporaries"]


def fsync_dir(path: Path) -> None:
    """Make a rename inside ``path`` durable."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # some filesystems do not allow opening directories
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_write(path: Path, mode: str = "wb") -> Iterator[IO[bytes]]:
    """Open a temporary sibling of ``path``; on success it replaces ``path`` atomically.

    A process killed inside the block leaves ``path`` as it was (plus a ``.tmp-*`` file that
    :func:`remove_stale_temporaries` deletes later).
    """
    path = Path(path)
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    f = open(tmp, mode)  # noqa: SIM115 - closed below on every path
    try:
        yield f
        f.flush()
        os.fsync(f.fileno())
        f.close()
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        f.close()
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    with atomic_write(path) as f:
        f.write(data)


def remove_stale_temporaries(folder: Path) -> int:
    """Delete ``.tmp-*`` files left by killed writers; returns how many were removed."""
    n = 0
    if not folder.is_dir():
        return 0
    for p in folder.glob(".tmp-*"):
        with contextlib.suppress(OSError):
            p.unlink()
            n += 1
    return n
