"""One writer at a time: an advisory lock on ``library.lock``."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from types import TracebackType

from ..errors import LibraryError

__all__ = ["WriteLock", "not_writable"]


def not_writable(folder: Path, why: str) -> LibraryError:
    """The error for a write to a library the user cannot write to (read-only storage)."""
    return LibraryError(
        f"cannot write to the library {folder} ({why}): indexing and removing need write "
        "access to its folder; search, moments and info work on a read-only library"
    )


class WriteLock:
    """Exclusive, non-blocking writer lock; released automatically if the process dies."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "library.lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise not_writable(self.path.parent, exc.strerror or str(exc)) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise LibraryError(
                f"another vidlens process (pid {holder}) is writing the library "
                f"{self.path.parent}; wait for it to finish or stop it, then run this again"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> WriteLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
