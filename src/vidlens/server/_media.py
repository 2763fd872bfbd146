"""Media streaming with HTTP Range, and the static page assets."""

from __future__ import annotations

import logging
import mimetypes
import os
import re
import stat
from collections.abc import Iterator
from importlib import resources

try:
    from fastapi import Request
    from fastapi.responses import Response, StreamingResponse
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "the vidlens server needs FastAPI and uvicorn: pip install 'vidlens[server]'"
    ) from exc

from ..library.records import VideoRecord
from ._guard import ApiError, _error_response

logger = logging.getLogger(__name__)

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
_CHUNK_BYTES = 256 * 1024


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
