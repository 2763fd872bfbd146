"""Typed request and response models of the HTTP API."""

from __future__ import annotations

import logging
from typing import Any, Literal

try:
    from pydantic import BaseModel, ConfigDict, Field
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "the vidlens server needs FastAPI and uvicorn: pip install 'vidlens[server]'"
    ) from exc

from . import MAX_TOP_K

logger = logging.getLogger(__name__)

MAX_QUERY_CHARS = 1000  # longer texts are no search phrase; CLIP reads 77 tokens anyway
MAX_BODY_BYTES = 64 * 1024  # the only body (POST /api/search) is a few hundred bytes
VIDEO_ID_PATTERN = r"^[0-9a-f]{32}$"
MAX_LIKE_CHARS = 100  # VIDEO_ID@SECONDS: 32 + 1 + a number
LIKE_HELP = (
    "VIDEO_ID@SECONDS: search by the frame an indexed video has nearest that time (the video_id "
    "of a result and a time in seconds, e.g. its best_time_s); alone or with q"
)


Moment = tuple[float, float, float]  # (start_s, end_s, score)


class ErrorBody(BaseModel):
    code: str = Field(description="machine-readable reason, e.g. bad_input, not_found")
    message: str = Field(description="what was wrong and what to do")


class ErrorResponse(BaseModel):
    error: ErrorBody


class Health(BaseModel):
    status: Literal["ok"]
    version: str


class EncoderInfo(BaseModel):
    id: str
    fingerprint: str
    dim: int


class FailedFile(BaseModel):
    path: str
    reason: str


class DamagedVideo(BaseModel):
    video_id: str
    path: str
    reason: str = Field(description="what is wrong; running `vidlens index` again repairs it")


class LibraryInfo(BaseModel):
    library: str
    videos: int
    frames: int
    seconds: float
    media_bytes: int
    disk_bytes: int
    encoder: EncoderInfo
    sampling: dict[str, Any]
    schema_version: int
    vidlens_version: str
    created_at: str
    generation: int
    failed: list[FailedFile]
    damaged: list[DamagedVideo] = Field(
        default_factory=list,
        description="indexed videos whose stored files are missing or cut short",
    )


class Curve(BaseModel):
    times_s: list[float] = Field(description="frame presentation times, seconds")
    similarity: list[float] = Field(description="cosine similarity of each frame to the query")
    frames: int = Field(description="sampled frames in the video (max-pooled when more)")


class SearchHitOut(BaseModel):
    video_id: str
    path: str
    name: str = Field(description="file name of path")
    score: float
    moments: list[Moment] = Field(description="[start_s, end_s, score], best first")
    saliency: list[float] = Field(description="one score per 2-s clip, as QVHighlights")
    duration_s: float
    best_time_s: float
    best_frame: int
    thumbnail_url: str
    media_url: str
    curve: Curve | None = None


class SearchResponse(BaseModel):
    query: str
    warnings: list[str] = Field(
        default_factory=list,
        description="what the answer may get wrong, e.g. a text longer than the text encoder "
        "reads (its tail is ignored); the CLI prints the same lines on stderr",
    )
    results: list[SearchHitOut]


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    q: str | None = Field(
        None, min_length=1, max_length=MAX_QUERY_CHARS, description="what to look for"
    )
    like: str | None = Field(None, max_length=MAX_LIKE_CHARS, description=LIKE_HELP)
    top_k: int = Field(10, ge=1, le=MAX_TOP_K, description="number of videos")
    not_: str | None = Field(
        None, alias="not", max_length=MAX_QUERY_CHARS, description="push results away from this"
    )
    min_score: float | None = Field(None, ge=-1.0, le=1.0, description="drop weaker videos")
    curve: bool = Field(False, description="add each result's similarity curve")


class MomentsResponse(BaseModel):
    query: str
    vid: str
    path: str
    duration: float
    pred_relevant_windows: list[Moment]
    pred_saliency_scores: list[float]


class VideoOut(BaseModel):
    id: str
    path: str
    name: str
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
    row_count: int
    indexed_at: str
    thumbnail_url: str
    media_url: str


class VideoList(BaseModel):
    total: int
    videos: list[VideoOut]


class CurveResponse(Curve):
    video_id: str
    query: str
    duration_s: float
