"""Start ``spawn`` worker processes without running the user's script again in each of them.

A ``spawn``-started child imports the parent's ``__main__`` module before it runs its target
(under the name ``__mp_main__``), so that functions defined in the script can be found. A script
that calls ``Library.index`` at its top level, without an ``if __name__ == "__main__":`` guard,
then runs again in every decode worker: each opens the library and fails on its write lock, or
starts workers of its own. vidlens' workers only run vidlens functions and take plain arguments,
so they never need the script: while they start, the main module's file and spec are hidden
from :mod:`multiprocessing`, which then imports nothing in its place.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator

__all__ = ["main_not_rerun"]


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM until the block ends, then deliver them.

    Raised in the middle of ``Process.start()``, they cut the child off from the data it reads
    at start-up, and it prints a traceback of its own (``EOFError: Ran out of input``).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []

    def hold(signum: int, frame: object) -> None:
        caught.append(signum)

    previous = {sig: signal.signal(sig, hold) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        for signum in dict.fromkeys(caught):
            signal.raise_signal(signum)


@contextlib.contextmanager
def main_not_rerun() -> Iterator[None]:
    """Within this block, processes started with ``spawn`` do not import ``__main__`` (and
    Ctrl-C or SIGTERM wait until they have started)."""
    with _signals_held():
        main = sys.modules.get("__main__")
        if main is None:
            yield
            return
        saved: dict[str, object] = {
            k: main.__dict__[k] for k in ("__file__", "__spec__") if k in main.__dict__
        }
        main.__dict__.pop("__file__", None)
        if "__spec__" in saved:
            main.__dict__["__spec__"] = None
        try:
            yield
        finally:
            main.__dict__.update(saved)
