"""The vidlens HTTP API and web page: :func:`create_app` builds a FastAPI app over one library.

Endpoints (all JSON unless noted; errors are ``{"error": {"code": ..., "message": ...}}``)::

    GET  /                                   the search page (static/index.html)
    GET  /api/health                         liveness
    GET  /api/info                           Library.info()
    GET  /api/search?q=&like=&top_k=&not=&min_score=&curve=   ranked videos with moments
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

import itertools
import logging
import os
import re
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np

try:
    from fastapi import FastAPI, Query, Request
    from fastapi import Path as PathParam
    from fastapi.responses import Response
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "the vidlens server needs FastAPI and uvicorn: pip install 'vidlens[server]'"
    ) from exc

from .. import __version__
from .._threads import limit_query_threads
from ..errors import (
    ConfigError,
    QueryError,
    VidlensError,
)
from ..library import Library
from ..library.records import VideoRecord
from . import MAX_TOP_K, TOKEN_PATTERN, check_bind
from ._guard import ApiError, _Guard, _install_error_handlers, redact_tokens_filter
from ._media import _STATIC_TYPES, _media_response, _static, parse_range
from ._models import (
    LIKE_HELP,
    MAX_BODY_BYTES,
    MAX_LIKE_CHARS,
    MAX_QUERY_CHARS,
    VIDEO_ID_PATTERN,
    Curve,
    CurveResponse,
    ErrorResponse,
    Health,
    LibraryInfo,
    MomentsResponse,
    SearchHitOut,
    SearchRequest,
    SearchResponse,
    VideoList,
    VideoOut,
)
from ._notes import collect_warnings

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


@dataclass(frozen=True)
class ServerConfig:
    """Tunables of the app (the limits on user input are module constants, shown in OpenAPI)."""

    max_body_bytes: int = MAX_BODY_BYTES  # larger request bodies get 413
    curve_points: int = 240  # similarity points per result when a search asks for curves
    preload: bool = True  # open the library and load the encoder at startup, not on first query
    # BLAS, torch and faiss threads per query (queries run one at a time); 0 = the libraries'
    # defaults. Extra threads stall on busy machines (see vidlens._threads).
    query_threads: int = 1

    def __post_init__(self) -> None:
        if self.max_body_bytes < 1024:
            raise ConfigError(f"max_body_bytes must be at least 1024, got {self.max_body_bytes}")
        if isinstance(self.query_threads, bool) or not (
            isinstance(self.query_threads, int) and self.query_threads >= 0
        ):
            raise ConfigError(
                f"query_threads must be an integer >= 0 (0: the libraries' defaults), got "
                f"{self.query_threads!r}"
            )
        if not (2 <= self.curve_points <= 10_000):
            raise ConfigError(f"curve_points must be within 2..10000, got {self.curve_points}")


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


def _query_vector(
    lib: Library, text: str | None, negative: str | None, like: str | None = None
) -> np.ndarray:
    """The query vector Library.search ranks by for ``text`` and/or ``like`` minus ``negative``."""
    return lib.query_vector(text, image=like, negative=negative)[0]


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


def _negative(text: str | None) -> str | None:
    """The ``not`` text, refused when given but empty (the CLI's --not '' is a usage error)."""
    if text is None:
        return None
    if not text.strip():
        raise ApiError(
            400,
            "bad_input",
            f"not: give a concept to push results away from, or leave the parameter out; "
            f"got {text!r}",
        )
    return text.strip()


# a result's video_id, "@", and seconds as a plain decimal (no nan/inf, no file paths)
_LIKE = re.compile(r"([0-9a-f]{32})@(-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)")


def _like(text: str | None) -> tuple[str, float] | None:
    """``like=VIDEO_ID@SECONDS`` split into the id and the time; None when not given.

    Only an exact id is accepted: the library would also take a file path or an id prefix,
    and a request must not name files on the server.
    """
    if text is None:
        return None
    m = _LIKE.fullmatch(text)
    if m is None:
        raise ApiError(
            400,
            "bad_input",
            f"like: give VIDEO_ID@SECONDS, the 32-hex video_id of a result and a time in "
            f"seconds (e.g. 0123456789abcdef0123456789abcdef@12.5); got {text!r}",
        )
    return m[1], float(m[2])


def _search(handle: _LibraryHandle, req: SearchRequest, curve_points: int) -> SearchResponse:
    negative = _negative(req.not_)
    like = _like(req.like)
    if req.q is None and like is None:
        raise ApiError(
            400,
            "bad_input",
            "give q (what to look for in words), like (VIDEO_ID@SECONDS: moments like that "
            "frame of a result), or both",
        )
    with handle.use() as lib:
        if like is not None and lib.video_by_id(like[0]) is None:
            raise ApiError(
                404,
                "not_found",
                f"like: no indexed video with id {like[0]} in this library; use a video_id "
                "that /api/search or /api/videos lists",
            )
        lib.encoder  # noqa: B018 - loaded first: warnings about loading are no query's business
        with collect_warnings() as warnings:
            # the library checks the time against the video and labels the query image:ID@T
            res = lib.search(req.q, image=req.like, negative=negative, top_k=req.top_k)
            hits = [h.to_dict() for h in res.results]
            if req.min_score is not None:
                hits = [h for h in hits if h["score"] >= req.min_score]
            curves: dict[str, Curve] = {}
            if req.curve and hits:
                q = _query_vector(lib, req.q, negative, req.like)
                state = lib.search_state()
                where = {vid: i for i, vid in enumerate(state.video_ids)}
                for h in hits:
                    i = where.get(h["video_id"])
                    if i is not None:  # None: removed since the search ran; the result stays
                        curves[h["video_id"]] = _curve(
                            state.times(lib, i), state.curve(i, q), curve_points
                        )
        damaged = lib.search_state().damaged  # the library logs them once per generation only
    if damaged:
        warnings.append(
            f"{len(damaged)} video(s) left out of this search: their vector files are missing "
            "or damaged; `vidlens info` names them, and `vidlens index` on them repairs them"
        )
    return SearchResponse(
        query=res.query,
        warnings=warnings,
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


# ----------------------------------------------------------------------------- the app
VideoId = Annotated[
    str, PathParam(pattern=VIDEO_ID_PATTERN, description="32 hex characters (content hash)")
]
QueryText = Annotated[
    str, Query(min_length=1, max_length=MAX_QUERY_CHARS, description="what to look for")
]
OptionalQueryText = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=MAX_QUERY_CHARS,
        description="what to look for; optional when like is given",
    ),
]
LikeRef = Annotated[str | None, Query(max_length=MAX_LIKE_CHARS, description=LIKE_HELP)]
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
        if cfg.query_threads:  # before the preload loads torch and faiss
            limit_query_threads(cfg.query_threads)
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
        q: OptionalQueryText = None,
        like: LikeRef = None,
        negative: NotText = None,
        top_k: Annotated[int, Query(ge=1, le=MAX_TOP_K)] = 10,
        min_score: Annotated[float | None, Query(ge=-1.0, le=1.0)] = None,
        curve: bool = False,
    ) -> SearchResponse:
        """Rank videos for ``q`` and/or ``like``; the same JSON as ``vidlens search --json``
        (``like`` as ``--image VIDEO_ID@SECONDS``) plus URLs."""
        req = SearchRequest(
            q=q, like=like, top_k=top_k, min_score=min_score, curve=curve, **{"not": negative}
        )
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
        neg = _negative(negative)
        with handle.use() as lib:
            rec = _require_video(lib, video_id)
            qv = _query_vector(lib, q, neg)
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
