"""Plain records the library returns: videos, failures, search hits, summaries."""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["FailureRecord", "IndexReport", "SearchHit", "SearchResults", "VideoRecord"]


@dataclass(frozen=True)
class VideoRecord:
    """One indexed video."""

    id: str  # content hash: the same bytes always get the same id
    path: str  # absolute path where the file was last seen
    size_bytes: int
    duration_s: float
    fps: float
    frame_count: int
    width: int
    height: int
    rotation: int
    start_s: float
    codec: str
    has_audio: bool
    row_start: int
    row_count: int  # number of sampled (embedded) frames
    indexed_at: str

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> VideoRecord:
        return cls(
            id=row["id"],
            path=row["path"],
            size_bytes=row["size_bytes"],
            duration_s=row["duration_s"],
            fps=row["fps"],
            frame_count=row["frame_count"],
            width=row["width"],
            height=row["height"],
            rotation=row["rotation"],
            start_s=row["start_s"],
            codec=row["codec"],
            has_audio=bool(row["has_audio"]),
            row_start=row["row_start"],
            row_count=row["row_count"],
            indexed_at=row["indexed_at"],
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class FailureRecord:
    """A file that could not be indexed, and why."""

    path: str
    reason: str
    failed_at: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "reason": self.reason}


@dataclass
class IndexReport:
    """What one ``index`` run did (the ``vidlens index --json`` summary)."""

    indexed: int = 0
    skipped: int = 0
    failed: list[FailureRecord] = field(default_factory=list)
    frames: int = 0  # frames embedded in this run
    seconds: float = 0.0  # seconds of video indexed in this run
    timings: dict[str, float] = field(default_factory=dict)  # wall seconds per stage
    # (path, path of the indexed file with the same bytes): skipped, counted in ``skipped``
    duplicates: list[tuple[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "indexed": self.indexed,
            "skipped": self.skipped,
            "duplicates": [{"path": p, "same_as": same} for p, same in self.duplicates],
            "failed": [f.to_dict() for f in self.failed],
            "frames": self.frames,
            "seconds": round(self.seconds, 3),
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
        }


@dataclass(frozen=True)
class SearchHit:
    """One ranked video with its best moments."""

    video_id: str
    path: str
    score: float
    moments: list[tuple[float, float, float]]  # (start_s, end_s, score), best first
    saliency: list[float]  # one score per 2-s clip, as QVHighlights
    duration_s: float
    best_time_s: float  # time of the best-matching frame (thumbnail of the best moment)
    best_frame: int  # index of that frame within the video

    def to_dict(self) -> dict[str, Any]:
        return {
            "video_id": self.video_id,
            "path": self.path,
            "score": self.score,
            "moments": [[s, e, sc] for s, e, sc in self.moments],
            "saliency": self.saliency,
            "duration_s": self.duration_s,
            "best_time_s": self.best_time_s,
            "best_frame": self.best_frame,
        }


@dataclass(frozen=True)
class SearchResults:
    query: str
    results: list[SearchHit]

    def to_dict(self) -> dict[str, Any]:
        return {"query": self.query, "results": [h.to_dict() for h in self.results]}
