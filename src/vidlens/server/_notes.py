"""Warnings logged while a query runs, collected so that the API can answer them.

The encoders say what went wrong with a text through their loggers (a query longer than the
text encoder's context loses its tail: ``vidlens.encoders.openclip`` names it). The CLI shows
those lines on stderr; a web user never sees the server's log, so the search endpoint collects
the records logged by its own thread while it runs and returns their messages.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

logger = logging.getLogger(__name__)

ENCODER_LOGGER = "vidlens.encoders"  # every built-in encoder logs under this name


class _Collect(logging.Handler):
    def __init__(self, thread: int) -> None:
        super().__init__(logging.WARNING)
        self.thread = thread
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            message = record.getMessage()
            if message not in self.messages:  # the same text encoded twice warns twice
                self.messages.append(message)
        # A handler here counts as "someone handled it": without another handler up the chain,
        # logging would drop the record instead of printing it through its last resort.
        if not _has_handler_above(logging.getLogger(record.name)):
            last = logging.lastResort
            if last is not None and record.levelno >= last.level:
                last.handle(record)


def _has_handler_above(log: logging.Logger) -> bool:
    current: logging.Logger | None = log
    while current is not None:
        if any(not isinstance(h, _Collect) for h in current.handlers):
            return True
        if not current.propagate:
            return False
        current = current.parent
    return False


@contextmanager
def collect_warnings(name: str = ENCODER_LOGGER) -> Iterator[list[str]]:
    """Collect the messages of WARNING (and worse) records that ``name`` and its child loggers
    log from this thread inside the ``with`` block, each message once, in order.

    The records still reach the log as before. Records below a logger's level are never made,
    so a logger set to ERROR gives no warnings here either.
    """
    collector = _Collect(threading.get_ident())
    log = logging.getLogger(name)
    log.addHandler(collector)
    try:
        yield collector.messages
    finally:
        log.removeHandler(collector)
