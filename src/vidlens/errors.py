"""The exception tree of vidlens.

Every error raised on purpose by the library is a :class:`VidlensError`. Messages say what was
wrong, with which input, and what to do about it. The CLI turns them into one-line errors with a
non-zero exit status; the HTTP server into JSON errors with 4xx status codes.

    VidlensError
    ├── ConfigError      a wrong argument, option or setting
    ├── MediaError       a file that cannot be probed or decoded
    ├── EncoderError     an unknown encoder, weights that cannot be had, a broken plugin
    ├── LibraryError     a missing, locked, corrupt or mismatched library
    │   └── DamagedVideoError  one video's files in the library are missing or damaged
    ├── QueryError       a query that cannot be answered (empty text, unknown video, ...)
    └── EvaluationError  annotation or prediction files that cannot be scored as given
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DamagedVideoError",
    "EncoderError",
    "EvaluationError",
    "LibraryError",
    "MediaError",
    "QueryError",
    "VidlensError",
]


class VidlensError(Exception):
    """Base class of every error vidlens raises on purpose."""


class ConfigError(VidlensError):
    """A wrong argument, option or setting."""


class MediaError(VidlensError):
    """A media file cannot be probed or decoded."""


class EncoderError(VidlensError):
    """An encoder cannot be created or used."""


class LibraryError(VidlensError):
    """A library cannot be opened, read or written."""


class DamagedVideoError(LibraryError):
    """One video's vectors in the library are missing or damaged (the rest of the library works;
    ``vidlens index`` on the video repairs it)."""


class QueryError(VidlensError):
    """A query cannot be answered."""


class EvaluationError(VidlensError):
    """Annotations or predictions cannot be evaluated as given."""
