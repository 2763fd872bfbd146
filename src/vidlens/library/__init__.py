"""The on-disk library: SQLite metadata, vector shards, ANN cache, thumbnails."""

from __future__ import annotations

from ._search import SearchConfig
from .library import DEFAULT_LIBRARY, Library, normalize_rows
from .records import FailureRecord, IndexReport, SearchHit, SearchResults, VideoRecord

__all__ = [
    "DEFAULT_LIBRARY",
    "FailureRecord",
    "IndexReport",
    "Library",
    "SearchConfig",
    "SearchHit",
    "SearchResults",
    "VideoRecord",
    "normalize_rows",
]
