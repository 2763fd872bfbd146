"""The vidlens HTTP API and web page: :func:`create_app` builds a FastAPI app over one library.

Endpoints (all JSON unless noted; errors are ``{"error": {"code": ..., "message": ...}}``)::

    GET  /                                   the search page (static/index.html)
    GET  /api/health                         liveness
    GET  /api/info                           Library.info()
    GET  /api/search?q=&top_k=&not=&min_score=&curve=   ranked videos with moments
    POST /api/search                         the same, parameters as a JSON body
    GET  /api/videos?offset=&limit=          indexed videos
    GET  /api/videos/{id}                    one video's metadata
    GET  /api/videos/{id}/moments?q=         QVHighlights prediction fields (Library.moments)
    GET  /api/videos/{id}/curve?q=&not=      frame times and similarities for a timeline
    GET  /api/videos/{id}/thumbs/{i}.jpg     thumbnail of sampled frame i (JPEG)
    GET  /media/{id}                         the video file, with HTTP Range (206/416)

Security model: media and thumbnails are addressed by the opaque 32-hex video id only; the file path
always comes from the library database, never from the request. Without a token the app answers only
requests whose ``Host`` is a loopback name (so a web page elsewhere cannot reach it through DNS
rebinding). With a token every API and media request must carry it, as ``Authorization: Bearer T``
or, for ``<video>``/``<img>`` URLs that cannot send headers, ``?token=T``. The page shell (``/``,
``/static/app.js``, ``/static/app.css``) holds no library data and stays public, so it can ask for
the token.
"""

from __future__ import annotations

import hmac
import itertools
import logging
import mimetypes
import os
import re
import stat
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, MutableMapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs

import numpy as np

try:
    from fastapi import FastAPI, Query, Request
    from fastapi import Path as PathParam
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, Response, StreamingResponse
    from pydantic import BaseModel, ConfigDict, Field
    from starlette.datastructures import Headers
    from starlette.exceptions import HTTPException as StarletteHTTPException
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "the vidlens server needs FastAPI and uvicorn: pip install 'vidlens[server]'"
    ) from exc

from .. import __version__
from ..errors import (
    ConfigError,
    EncoderError,
    EvaluationError,
    LibraryError,
    MediaError,
    QueryError,
    VidlensError,
)
from ..library import Library, SearchConfig, normalize_rows
from ..library.records import VideoRecord
from . import TOKEN_PATTERN, check_bind, is_loopback_host

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_QUERY_CHARS",
    "MAX_TOP_K",
    "ServerConfig",
    "create_app",
    "parse_range",
    "redact_tokens_filter",
]

logger = logging.getLogger(__name__)

MAX_QUERY_CHARS = 1000  # longer texts are no search phrase; CLIP reads 77 tokens anyway
MAX_TOP_K = 100
MAX_BODY_BYTES = 64 * 1024  # the only body (POST /api/search) is a few hundred bytes
VIDEO_ID_PATTERN = r"^[0-9a-f]{32}$"
PUBLIC_PATHS = frozenset({"/", "/static/app.js", "/static/app.css"})
_STATIC_TYPES = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
}
# Types browsers need to play a file; mimetypes lacks some of them on minimal systems.
_VIDEO_TYPES = {
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".mov": "video/quicktime",
    ".webm": "video/webm",
    ".mkv": "video/x-matroska",
    ".ogv": "video/ogg",
    ".ogg": "video/ogg",
    ".avi": "video/x-msvideo",
    ".ts": "video/mp2t",
    ".mts": "video/mp2t",
    ".m2ts": "video/mp2t",
    ".mpg": "video/mpeg",
    ".mpeg": "video/mpeg",
    ".wmv": "video/x-ms-wmv",
    ".flv": "video/x-flv",
    ".3gp": "video/3gpp",
}
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
_CHUNK_BYTES = 256 * 1024


@dataclass(frozen=True)
class ServerConfig:
    """Tunables of the app (the limits on user input are module constants, shown in OpenAPI)."""

    max_body_bytes: int = MAX_BODY_BYTES  # larger request bodies get 413
    curve_points: int = 240  # similarity points per result when a search asks for curves
    preload: bool = True  # open the library and load the encoder at startup, not on first query

    def __post_init__(self) -> None:
        if self.max_body_bytes < 1024:
            raise ConfigError(f"max_body_bytes must be at least 1024, got {self.max_body_bytes}")
        if not (2 <= self.curve_points <= 10_000):
            raise ConfigError(f"curve_points must be within 2..10000, got {self.curve_points}")


# ----------------------------------------------------------------------------- models
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
    results: list[SearchHitOut]


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    q: str = Field(min_length=1, max_length=MAX_QUERY_CHARS, description="what to look for")
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


# ----------------------------------------------------------------------------- errors
class ApiError(Exception):
    """An error answered as ``{"error": {"code", "message"}}`` with an HTTP status."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


_VIDLENS_STATUS: list[tuple[type[VidlensError], int, str]] = [
    (QueryError, 400, "bad_query"),
    (ConfigError, 400, "bad_input"),
    (EvaluationError, 400, "bad_input"),
    (LibraryError, 503, "library_unavailable"),
    (EncoderError, 503, "encoder_unavailable"),
    (MediaError, 500, "media_error"),
]


def _error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers
    )


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = [str(x) for x in err.get("loc", ()) if x not in ("query", "body", "path")]
        parts.append(f"{'.'.join(loc) or 'request'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def _install_error_handlers(app: FastAPI) -> None:
    async def on_api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return _error_response(exc.status, exc.code, exc.message, exc.headers)

    async def on_vidlens_error(request: Request, exc: Exception) -> Response:
        status, code = next(
            ((st, c) for cls, st, c in _VIDLENS_STATUS if isinstance(exc, cls)), (400, "bad_input")
        )
        if status >= 500:
            logger.warning("%s %s: %s", request.method, request.url.path, exc)
        return _error_response(status, code, str(exc))

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return _error_response(400, "bad_input", _validation_message(exc))

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 404:
            msg = f"no such endpoint: {request.url.path}; the API is described at /openapi.json"
            return _error_response(404, "not_found", msg)
        if exc.status_code == 405:
            msg = f"{request.method} is not allowed on {request.url.path}"
            return _error_response(405, "method_not_allowed", msg, dict(exc.headers or {}))
        return _error_response(exc.status_code, f"http_{exc.status_code}", str(exc.detail))

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        logger.exception("unexpected error on %s %s", request.method, request.url.path)
        return _error_response(500, "internal", "internal server error; see the server log")

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(VidlensError, on_vidlens_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected)


# ----------------------------------------------------------------------------- access guard
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _host_header_name(value: str) -> str:
    value = value.strip()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class _Guard:
    """Token or loopback-Host check, request-body limit and security headers, as ASGI middleware.

    Pure ASGI (not ``BaseHTTPMiddleware``) so that media streams pass through untouched.
    """

    def __init__(self, app: ASGIApp, *, token: str | None, max_body_bytes: int) -> None:
        self.app = app
        self.token = token.encode() if token else None
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        send = _with_security_headers(send, scope["path"])
        refusal = self._refusal(scope, headers)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        body_limited = await self._limit_body(scope, receive, send, headers)
        if body_limited is None:
            return
        await self.app(scope, body_limited, send)

    def _refusal(self, scope: Scope, headers: Headers) -> Response | None:
        if self.token is None:
            host = headers.get("host")
            if host is not None and not is_loopback_host(_host_header_name(host)):
                return _error_response(
                    400,
                    "bad_host",
                    f"this server answers only requests addressed to localhost, not {host!r} "
                    "(a guard against DNS rebinding); to serve other names or machines, restart "
                    "it with --token TOKEN (and --host ADDRESS)",
                )
            return None
        if scope["path"] in PUBLIC_PATHS or self._authorised(scope, headers):
            return None
        return _error_response(
            401,
            "unauthorized",
            "this server needs its access token: send the header 'Authorization: Bearer TOKEN' "
            "(or add ?token=TOKEN to media and image URLs)",
            headers={"WWW-Authenticate": 'Bearer realm="vidlens"'},
        )

    def _authorised(self, scope: Scope, headers: Headers) -> bool:
        assert self.token is not None
        candidates: list[str] = []
        auth = headers.get("authorization", "")
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            candidates.append(value.strip())
        qs = scope.get("query_string", b"").decode("latin-1")
        candidates.extend(parse_qs(qs).get("token", [])[:1])
        ok = False
        for c in candidates:
            # compare every candidate, in constant time each
            ok |= hmac.compare_digest(c.encode("utf-8", "replace"), self.token)
        return ok

    async def _limit_body(
        self, scope: Scope, receive: Receive, send: Send, headers: Headers
    ) -> Receive | None:
        """``receive`` to use, or None after answering 413/400 for a body over the limit."""
        length = headers.get("content-length")
        limit = self.max_body_bytes
        too_large = _error_response(
            413, "body_too_large", f"request bodies are limited to {limit} bytes"
        )
        if length is not None:
            if not length.strip().isdigit():
                await _error_response(400, "bad_input", "invalid Content-Length")(
                    scope, receive, send
                )
                return None
            if int(length) > limit:
                await too_large(scope, receive, send)
                return None
            return receive
        if "chunked" not in headers.get("transfer-encoding", "").lower():
            return receive
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return None  # the client went away
            body += message.get("body", b"")
            more = bool(message.get("more_body", False))
            if len(body) > limit:
                await too_large(scope, receive, send)
                return None
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        return replay


def _with_security_headers(send: Send, path: str) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            raw = list(message.get("headers", []))
            names = {k.lower() for k, _ in raw}
            extra = [
                (b"x-content-type-options", b"nosniff"),
                (b"referrer-policy", b"no-referrer"),
                (b"x-frame-options", b"DENY"),
                (b"content-security-policy", _CSP.encode()),
            ]
            if path.startswith("/api/") and b"cache-control" not in names:
                extra.append((b"cache-control", b"no-store"))
            message["headers"] = raw + [(k, v) for k, v in extra if k not in names]
        await send(message)

    return wrapped


def redact_tokens_filter() -> logging.Filter:
    """A logging filter that hides ``token=...`` in uvicorn's access-log lines."""
    pattern = re.compile(r"([?&]token=)[^&\s\"]*")

    class _Redact(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            if isinstance(record.args, tuple):
                record.args = tuple(
                    pattern.sub(r"\1***", a) if isinstance(a, str) else a for a in record.args
                )
            return True

    return _Redact()


# ----------------------------------------------------------------------------- library access
class _LibraryHandle:
    """One read-only Library shared by the worker threads, used under a lock.

    SQLite connections and the cached search state are not safe to use from several threads at
    once, and FastAPI runs sync endpoints in a thread pool. One lock keeps a single copy of the
    vectors in memory; the encoder serialises queries on the CPU anyway.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lib: Library | None = None
        self._lock = threading.Lock()

    @contextmanager
    def use(self) -> Iterator[Library]:
        with self._lock:
            if self._lib is None:
                if not (self.root / "manifest.json").exists():
                    raise ApiError(
                        503,
                        "no_library",
                        f"no vidlens library at {self.root} yet; create it with: "
                        f"vidlens index VIDEOS... --library {self.root}",
                    )
                self._lib = Library.open(self.root, readonly=True)
            yield self._lib

    def preload(self) -> None:
        try:
            with self.use() as lib:
                lib.encoder  # noqa: B018 - loads the model so the first query is fast
                lib.search_state()
        except (VidlensError, ApiError) as exc:
            logger.info("not preloaded: %s", exc)
        except Exception:  # a failing preload must not kill the server; queries will report it
            logger.exception("preloading the library failed")

    def close(self) -> None:
        with self._lock:
            if self._lib is not None:
                self._lib.close()
                self._lib = None


# ----------------------------------------------------------------------------- helpers
def _name(path: str) -> str:
    return re.split(r"[\\/]", path)[-1]


def _thumb_url(video_id: str, frame: int) -> str:
    return f"/api/videos/{video_id}/thumbs/{frame}.jpg"


def _media_url(video_id: str) -> str:
    return f"/media/{video_id}"


def _video_out(rec: VideoRecord) -> VideoOut:
    return VideoOut(
        **rec.to_dict(),
        name=_name(rec.path),
        thumbnail_url=_thumb_url(rec.id, max(rec.row_count // 2, 0)),
        media_url=_media_url(rec.id),
    )


def _require_video(lib: Library, video_id: str) -> VideoRecord:
    if lib.video_by_id(video_id) is None:
        raise ApiError(404, "not_found", f"no indexed video with id {video_id} in this library")
    return lib.video(video_id)


def _query_vector(lib: Library, text: str, negative: str | None) -> np.ndarray:
    """The normalised query vector Library.search uses for ``text`` minus ``negative``."""
    if not text.strip():
        raise QueryError("empty query text; say what to look for")
    q = lib.encode_texts([text])[0]
    if negative:
        w = SearchConfig().negative_weight
        q = normalize_rows(q - w * lib.encode_texts([negative])[0])[0]
    return q


def _curve(times: np.ndarray, sims: np.ndarray, max_points: int) -> Curve:
    """Max-pool a similarity curve to at most ``max_points`` points (peaks stay visible)."""
    n = len(sims)
    if n > max_points:
        edges = np.linspace(0, n, max_points + 1).astype(np.int64)
        idx = np.array([a + int(np.argmax(sims[a:b])) for a, b in itertools.pairwise(edges)])
        times, sims = times[idx], sims[idx]
    return Curve(
        times_s=[round(float(t), 3) for t in times],
        similarity=[round(float(s), 6) for s in sims],
        frames=n,
    )


def _search(handle: _LibraryHandle, req: SearchRequest, curve_points: int) -> SearchResponse:
    negative = req.not_.strip() if req.not_ and req.not_.strip() else None
    with handle.use() as lib:
        res = lib.search(req.q, negative=negative, top_k=req.top_k)
        hits = [h.to_dict() for h in res.results]
        if req.min_score is not None:
            hits = [h for h in hits if h["score"] >= req.min_score]
        curves: dict[str, Curve] = {}
        if req.curve and hits:
            q = _query_vector(lib, req.q, negative)
            state = lib.search_state()
            where = {vid: i for i, vid in enumerate(state.video_ids)}
            for h in hits:
                i = where.get(h["video_id"])
                if i is not None:  # None: removed since the search ran; the result stays
                    curves[h["video_id"]] = _curve(
                        state.times(lib, i), state.curve(i, q), curve_points
                    )
    return SearchResponse(
        query=res.query,
        results=[
            SearchHitOut(
                **h,
                name=_name(h["path"]),
                thumbnail_url=_thumb_url(h["video_id"], h["best_frame"]),
                media_url=_media_url(h["video_id"]),
                curve=curves.get(h["video_id"]),
            )
            for h in hits
        ],
    )


# ----------------------------------------------------------------------------- media
class _Unsatisfiable(Exception):
    pass


_RANGE_SPEC = re.compile(r"^\s*(\d{0,19})\s*-\s*(\d{0,19})\s*$")


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """The inclusive byte range ``(first, last)`` a ``Range`` header asks of a ``size``-byte file.

    None means "send the whole file": a unit other than bytes, or several ranges (RFC 9110 lets a
    server ignore Range; browsers ask for one). Raises ``_Unsatisfiable`` (answered with 416) for a
    malformed byte range or one that starts past the end.
    """
    unit, eq, spec = header.partition("=")
    if not eq or unit.strip().lower() != "bytes":
        return None
    if "," in spec:
        return None
    m = _RANGE_SPEC.match(spec)
    if m is None or m.group(1) == m.group(2) == "":
        raise _Unsatisfiable
    first, last = m.group(1), m.group(2)
    if first == "":  # suffix: the last N bytes
        n = int(last)
        if n == 0 or size == 0:
            raise _Unsatisfiable
        return max(size - n, 0), size - 1
    start = int(first)
    if start >= size or (last != "" and int(last) < start):
        raise _Unsatisfiable
    return start, size - 1 if last == "" else min(int(last), size - 1)


def _iter_file(path: str, start: int, length: int) -> Iterator[bytes]:
    with open(path, "rb") as f:
        f.seek(start)
        remaining = length
        while remaining > 0:
            data = f.read(min(_CHUNK_BYTES, remaining))
            if not data:
                logger.warning("%s shrank while being served", path)
                return
            remaining -= len(data)
            yield data


def _media_type(path: str) -> str:
    ext = os.path.splitext(path)[1].lower()
    return _VIDEO_TYPES.get(ext) or mimetypes.guess_type(path)[0] or "application/octet-stream"


def _media_response(request: Request, rec: VideoRecord) -> Response:
    try:
        st = os.stat(rec.path)
    except OSError:
        raise ApiError(
            404,
            "media_missing",
            f"the file of video {rec.id} is no longer at {rec.path}; index it where it is now "
            "(vidlens index) or forget it (vidlens remove --missing)",
        ) from None
    if not stat.S_ISREG(st.st_mode):
        raise ApiError(404, "media_missing", f"{rec.path} is no longer a regular file")
    size = st.st_size
    if size != rec.size_bytes:
        raise ApiError(
            409,
            "media_changed",
            f"{rec.path} changed since it was indexed ({size} bytes now, {rec.size_bytes} then); "
            "run vidlens index on it again",
        )
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": f'"{rec.id}-{size}-{st.st_mtime_ns}"',
        "Cache-Control": "private, no-transform",
    }
    media_type = _media_type(rec.path)
    start, end, status = 0, size - 1, 200
    range_header = request.headers.get("range")
    if range_header:
        try:
            rng = parse_range(range_header, size)
        except _Unsatisfiable:
            return _error_response(
                416,
                "range_not_satisfiable",
                f"cannot serve {range_header!r} of a {size}-byte file",
                headers={"Content-Range": f"bytes */{size}", "Accept-Ranges": "bytes"},
            )
        if rng is not None:
            start, end = rng
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    length = max(end - start + 1, 0)
    headers["Content-Length"] = str(length)
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers, media_type=media_type)
    return StreamingResponse(
        _iter_file(rec.path, start, length),
        status_code=status,
        headers=headers,
        media_type=media_type,
    )


def _static(name: str) -> Response:
    data = resources.files("vidlens").joinpath("static", name).read_bytes()
    return Response(data, media_type=_STATIC_TYPES[name], headers={"Cache-Control": "no-cache"})


# ----------------------------------------------------------------------------- the app
VideoId = Annotated[
    str, PathParam(pattern=VIDEO_ID_PATTERN, description="32 hex characters (content hash)")
]
QueryText = Annotated[
    str, Query(min_length=1, max_length=MAX_QUERY_CHARS, description="what to look for")
]
NotText = Annotated[
    str | None,
    Query(alias="not", max_length=MAX_QUERY_CHARS, description="push results away from this"),
]
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "invalid input"},
    401: {"model": ErrorResponse, "description": "missing or wrong token"},
    503: {"model": ErrorResponse, "description": "library missing or unreadable"},
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "unknown video"}
}


def create_app(
    library_dir: str | os.PathLike[str],
    *,
    token: str | None = None,
    config: ServerConfig | None = None,
) -> FastAPI:
    """Build the HTTP app over the library in ``library_dir`` (opened read-only, lazily).

    Args:
        library_dir: the library folder; it may not exist yet (the API answers 503 until it does).
        token: when set, every API and media request must carry it (see module docstring).
        config: limits and startup behaviour.
    """
    cfg = config or ServerConfig()
    if token is not None and not TOKEN_PATTERN.match(token):
        check_bind("127.0.0.1", token)  # raises the explanatory ConfigError
    handle = _LibraryHandle(Path(library_dir).expanduser().resolve())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if cfg.preload:
            threading.Thread(target=handle.preload, name="vidlens-preload", daemon=True).start()
        yield
        handle.close()

    app = FastAPI(
        title="vidlens",
        version=__version__,
        description="Search an indexed video library by text and jump to the moments.",
        docs_url=None,  # the interactive docs load scripts from a CDN; offline-first
        redoc_url=None,
        lifespan=lifespan,
        responses=_ERRORS,
    )
    app.state.library = handle
    _install_error_handlers(app)
    app.add_middleware(_Guard, token=token, max_body_bytes=cfg.max_body_bytes)

    @app.get("/", include_in_schema=False)
    def page() -> Response:
        return _static("index.html")

    @app.get("/static/{name}", include_in_schema=False)
    def asset(name: str) -> Response:
        if name not in _STATIC_TYPES or name == "index.html":
            raise ApiError(404, "not_found", f"no static asset {name!r}")
        return _static(name)

    @app.get("/api/health", response_model=Health)
    def health() -> Health:
        return Health(status="ok", version=__version__)

    @app.get("/api/info", response_model=LibraryInfo)
    def info() -> dict[str, Any]:
        with handle.use() as lib:
            return lib.info()

    @app.get("/api/search", response_model=SearchResponse, response_model_exclude_none=True)
    def search_get(
        q: QueryText,
        negative: NotText = None,
        top_k: Annotated[int, Query(ge=1, le=MAX_TOP_K)] = 10,
        min_score: Annotated[float | None, Query(ge=-1.0, le=1.0)] = None,
        curve: bool = False,
    ) -> SearchResponse:
        """Rank videos for ``q``; the same JSON as ``vidlens search --json`` plus URLs."""
        req = SearchRequest(q=q, top_k=top_k, min_score=min_score, curve=curve, **{"not": negative})
        return _search(handle, req, cfg.curve_points)

    @app.post("/api/search", response_model=SearchResponse, response_model_exclude_none=True)
    def search_post(req: SearchRequest) -> SearchResponse:
        """:func:`search_get` with the parameters as a JSON body."""
        return _search(handle, req, cfg.curve_points)

    @app.get("/api/videos", response_model=VideoList)
    def videos(
        offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> VideoList:
        with handle.use() as lib:
            recs = lib.videos()
        return VideoList(total=len(recs), videos=[_video_out(r) for r in recs[offset:][:limit]])

    @app.get("/api/videos/{video_id}", response_model=VideoOut, responses=_NOT_FOUND)
    def video(video_id: VideoId) -> VideoOut:
        with handle.use() as lib:
            return _video_out(_require_video(lib, video_id))

    @app.get(
        "/api/videos/{video_id}/moments",
        response_model=MomentsResponse,
        responses=_NOT_FOUND,
    )
    def moments(video_id: VideoId, q: QueryText) -> dict[str, Any]:
        """Moments of one video in the QVHighlights prediction fields."""
        with handle.use() as lib:
            _require_video(lib, video_id)
            return lib.moments(video_id, q)

    @app.get("/api/videos/{video_id}/curve", response_model=CurveResponse, responses=_NOT_FOUND)
    def curve(
        video_id: VideoId,
        q: QueryText,
        negative: NotText = None,
        max_points: Annotated[int, Query(ge=2, le=10_000)] = 1000,
    ) -> CurveResponse:
        """Frame times and their similarity to ``q``, max-pooled to ``max_points``."""
        with handle.use() as lib:
            rec = _require_video(lib, video_id)
            qv = _query_vector(lib, q, negative.strip() if negative else None)
            sims = lib.frame_vectors(video_id) @ qv
            times = lib.frame_times(video_id)
        c = _curve(times, sims, max_points)
        return CurveResponse(
            video_id=video_id, query=q, duration_s=rec.duration_s, **c.model_dump()
        )

    @app.get(
        "/api/videos/{video_id}/thumbs/{frame_idx}.jpg",
        response_class=Response,
        responses={200: {"content": {"image/jpeg": {}}}, **_NOT_FOUND},
    )
    def thumbnail(
        video_id: VideoId, frame_idx: Annotated[int, PathParam(ge=0, le=10**8)]
    ) -> Response:
        with handle.use() as lib:
            rec = _require_video(lib, video_id)
            try:
                data = lib.thumbnail(video_id, frame_idx)
            except QueryError:
                raise ApiError(
                    404,
                    "not_found",
                    f"video {video_id} has frames 0..{rec.row_count - 1}, not {frame_idx}",
                ) from None
            except OSError as exc:
                raise ApiError(404, "not_found", f"thumbnail unavailable: {exc}") from None
        return Response(
            data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"}
        )

    @app.api_route(
        "/media/{video_id}",
        methods=["GET", "HEAD"],
        response_class=Response,
        responses={
            200: {"content": {"video/mp4": {}}, "description": "the whole file"},
            206: {"description": "the requested byte range"},
            416: {"model": ErrorResponse, "description": "unsatisfiable range"},
            **_NOT_FOUND,
        },
    )
    def media(request: Request, video_id: VideoId) -> Response:
        """The video file, streamed with HTTP Range support so players can seek."""
        with handle.use() as lib:
            rec = _require_video(lib, video_id)
        return _media_response(request, rec)

    return app
