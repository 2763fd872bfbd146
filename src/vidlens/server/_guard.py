"""JSON errors and the access guard: token, Host check, body limits, security headers."""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

try:
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, Response
    from starlette.datastructures import Headers
    from starlette.exceptions import HTTPException as StarletteHTTPException
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "the vidlens server needs FastAPI and uvicorn: pip install 'vidlens[server]'"
    ) from exc

from ..errors import (
    ConfigError,
    DamagedVideoError,
    EncoderError,
    EvaluationError,
    LibraryError,
    MediaError,
    QueryError,
    VidlensError,
)
from . import is_loopback_host

logger = logging.getLogger(__name__)

PUBLIC_PATHS = frozenset({"/", "/static/app.js", "/static/app.css"})
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)


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
    (DamagedVideoError, 409, "video_damaged"),  # before LibraryError, its base class
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
