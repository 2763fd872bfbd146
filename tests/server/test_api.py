"""The HTTP API against a real uvicorn process: endpoints, Range, limits, auth, traversal."""

from __future__ import annotations

import http.client
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import httpx
import numpy as np
import pytest

from vidlens.errors import QueryError
from vidlens.library import Library

if TYPE_CHECKING:
    from conftest import Server
    from vidlens.library import VideoRecord

Launch = Callable[..., "Server"]


def _ids(server: Server) -> dict[str, str]:
    with Library.open(server.library, readonly=True) as lib:
        return {Path(v.path).name: v.id for v in lib.videos()}


@pytest.fixture(scope="module")
def ids(server: Server) -> dict[str, str]:
    return _ids(server)


@pytest.fixture(scope="module")
def client(server: Server) -> Iterator[httpx.Client]:
    with server.client() as c:
        yield c


def _error(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    err = r.json()["error"]
    assert set(err) == {"code", "message"} and err["message"]
    return dict(err)


def _raw_get(
    server: Server, target: str, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    """GET with the request target sent byte for byte (httpx would normalise ``..``)."""
    u = urlsplit(server.url)
    conn = http.client.HTTPConnection(u.hostname or "127.0.0.1", u.port, timeout=30)
    try:
        conn.putrequest("GET", target, skip_accept_encoding=True)
        for k, v in (headers or {}).items():
            conn.putheader(k, v)
        conn.endheaders()
        resp = conn.getresponse()
        return resp.status, resp.read() + str(resp.getheaders()).encode()
    finally:
        conn.close()


# ----------------------------------------------------------------------------- endpoints
def test_health(client: httpx.Client) -> None:
    r = client.get("/api/health")
    assert r.status_code == 200 and r.json()["status"] == "ok"


def test_info_is_library_info(client: httpx.Client, server: Server) -> None:
    r = client.get("/api/info")
    assert r.status_code == 200
    body = r.json()
    with Library.open(server.library, readonly=True) as lib:
        expected = lib.info()
    body.pop("disk_bytes"), expected.pop("disk_bytes")  # the server's own reads may add WAL bytes
    assert body == expected
    assert body["videos"] == 3 and body["encoder"]["id"] == "colour-test"


def test_search_finds_red_video_at_8_to_14_s(client: httpx.Client, server: Server) -> None:
    r = client.get("/api/search", params={"q": "a red scene", "top_k": 3})
    assert r.status_code == 200
    body = r.json()
    first = body["results"][0]
    assert first["name"] == "red_8_14.mp4"
    start, end, _ = first["moments"][0]
    assert abs(start - 8.0) <= 1.0 and abs(end - 14.0) <= 1.0
    assert 7.0 <= first["best_time_s"] <= 14.0
    # the same JSON as `vidlens search --json`, plus URLs for the page
    with Library.open(server.library, readonly=True) as lib:
        expected = lib.search("a red scene", top_k=3).to_dict()
    added = {"name", "thumbnail_url", "media_url"}
    assert body["query"] == expected["query"]
    assert [{k: v for k, v in h.items() if k not in added} for h in body["results"]] == expected[
        "results"
    ]
    vid = first["video_id"]
    assert first["media_url"] == f"/media/{vid}"
    assert first["thumbnail_url"] == f"/api/videos/{vid}/thumbs/{first['best_frame']}.jpg"


def test_search_post_matches_get(client: httpx.Client) -> None:
    params = {"q": "green", "top_k": 2, "not": "yellow"}
    got = client.get("/api/search", params=params)
    posted = client.post("/api/search", json=params)
    assert got.status_code == posted.status_code == 200
    assert got.json() == posted.json()
    assert got.json()["query"] == "green --not yellow"
    assert got.json()["results"][0]["name"] == "green_then_yellow.mp4"


def test_search_curves_peak_inside_the_moment(client: httpx.Client) -> None:
    r = client.get("/api/search", params={"q": "red", "top_k": 1, "curve": "true"})
    hit = r.json()["results"][0]
    curve = hit["curve"]
    assert len(curve["times_s"]) == len(curve["similarity"]) == curve["frames"] == 20
    peak = [t for t, s in zip(curve["times_s"], curve["similarity"], strict=True) if s > 0.9]
    assert peak and min(peak) >= 8.0 and max(peak) < 14.0
    assert "curve" not in client.get("/api/search", params={"q": "red"}).json()["results"][0]


def test_search_min_score_drops_weak_videos(client: httpx.Client) -> None:
    all_ = client.get("/api/search", params={"q": "blue"}).json()["results"]
    strong = client.get("/api/search", params={"q": "blue", "min_score": 0.5}).json()["results"]
    assert len(all_) == 3 and [h["name"] for h in strong] == ["blue_all.mp4"]
    none = client.get("/api/search", params={"q": "magenta", "min_score": 0.5}).json()
    assert none["results"] == []


def test_moments_are_library_moments(
    client: httpx.Client, server: Server, ids: dict[str, str]
) -> None:
    vid = ids["red_8_14.mp4"]
    r = client.get(f"/api/videos/{vid}/moments", params={"q": "red"})
    assert r.status_code == 200
    with Library.open(server.library, readonly=True) as lib:
        assert r.json() == lib.moments(vid, "red")
    assert set(r.json()) >= {"query", "vid", "pred_relevant_windows", "pred_saliency_scores"}


def test_video_metadata(client: httpx.Client, server: Server, ids: dict[str, str]) -> None:
    vid = ids["blue_all.mp4"]
    r = client.get(f"/api/videos/{vid}")
    assert r.status_code == 200
    with Library.open(server.library, readonly=True) as lib:
        rec = lib.video(vid).to_dict()
    body = r.json()
    assert {k: body[k] for k in rec} == rec
    assert body["name"] == "blue_all.mp4" and body["media_url"] == f"/media/{vid}"
    listing = client.get("/api/videos", params={"limit": 2}).json()
    assert listing["total"] == 3 and len(listing["videos"]) == 2


def test_curve_endpoint(client: httpx.Client, ids: dict[str, str]) -> None:
    vid = ids["red_8_14.mp4"]
    r = client.get(f"/api/videos/{vid}/curve", params={"q": "red"})
    assert r.status_code == 200
    c = r.json()
    assert c["video_id"] == vid and c["duration_s"] == pytest.approx(20.0, abs=0.2)
    best = c["times_s"][max(range(len(c["similarity"])), key=c["similarity"].__getitem__)]
    assert 8.0 <= best < 14.0
    small = client.get(f"/api/videos/{vid}/curve", params={"q": "red", "max_points": 5}).json()
    assert len(small["times_s"]) == 5 and max(small["similarity"]) == max(c["similarity"])


def test_thumbnail_is_the_stored_jpeg(
    client: httpx.Client, server: Server, ids: dict[str, str]
) -> None:
    vid = ids["red_8_14.mp4"]
    r = client.get(f"/api/videos/{vid}/thumbs/10.jpg")
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert r.content[:3] == b"\xff\xd8\xff"
    with Library.open(server.library, readonly=True) as lib:
        assert r.content == lib.thumbnail(vid, 10)
    assert "0..19" in _error(client.get(f"/api/videos/{vid}/thumbs/20.jpg"), 404)["message"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/videos/{vid}",
        "/api/videos/{vid}/moments?q=red",
        "/api/videos/{vid}/curve?q=red",
        "/api/videos/{vid}/thumbs/0.jpg",
        "/media/{vid}",
    ],
)
def test_unknown_video_is_404(client: httpx.Client, path: str) -> None:
    err = _error(client.get(path.format(vid="0123456789abcdef0123456789abcdef")), 404)
    assert err["code"] == "not_found"


@pytest.mark.parametrize(
    "vid", ["xyz", "0123456789ABCDEF0123456789ABCDEF", "0123456789abcdef", "g" * 32]
)
def test_malformed_video_id_is_400(client: httpx.Client, vid: str) -> None:
    err = _error(client.get(f"/media/{vid}"), 400)
    assert "video_id" in err["message"]


def test_unknown_route_and_method(client: httpx.Client) -> None:
    assert _error(client.get("/api/nope"), 404)["code"] == "not_found"
    assert _error(client.delete("/api/health"), 405)["code"] == "method_not_allowed"


def test_openapi_describes_the_api(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    assert {"/api/search", "/api/videos/{video_id}/moments", "/media/{video_id}"} <= set(
        spec["paths"]
    )
    assert "SearchResponse" in spec["components"]["schemas"]


def test_page_and_assets(client: httpx.Client) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert (
        "/static/app.js" in page.text
        and "script-src 'self'" in page.headers["content-security-policy"]
    )
    assert client.get("/static/app.js").headers["content-type"].startswith("text/javascript")
    assert client.get("/static/app.css").status_code == 200
    assert _error(client.get("/static/index.py"), 404)["code"] == "not_found"


def test_dns_rebinding_host_is_refused(client: httpx.Client) -> None:
    err = _error(client.get("/api/info", headers={"Host": "attacker.example:8000"}), 400)
    assert err["code"] == "bad_host"
    assert client.get("/api/health", headers={"Host": "localhost:1234"}).status_code == 200


def test_concurrent_requests(client: httpx.Client, ids: dict[str, str]) -> None:
    vid = ids["red_8_14.mp4"]
    paths = [
        "/api/search?q=red&curve=true",
        "/api/search?q=blue",
        f"/api/videos/{vid}/thumbs/3.jpg",
        f"/api/videos/{vid}/moments?q=red",
        "/api/info",
        f"/media/{vid}",
    ] * 8
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda p: client.get(p).status_code, paths))
    assert statuses == [200] * len(paths)


# ----------------------------------------------------------------------------- media + Range
@pytest.fixture(scope="module")
def red_file(server_world: Path) -> bytes:
    return (server_world / "red_8_14.mp4").read_bytes()


def test_media_whole_file(client: httpx.Client, ids: dict[str, str], red_file: bytes) -> None:
    r = client.get(f"/media/{ids['red_8_14.mp4']}")
    assert r.status_code == 200 and r.content == red_file
    assert r.headers["content-type"] == "video/mp4"
    assert r.headers["accept-ranges"] == "bytes"
    assert int(r.headers["content-length"]) == len(red_file)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-99", slice(0, 100)),
        ("bytes=10-10", slice(10, 11)),
        ("bytes=100-", slice(100, None)),
        ("bytes=-100", slice(-100, None)),
        ("bytes=1000-999999999", slice(1000, None)),
        ("bytes=-999999999", slice(0, None)),
    ],
)
def test_media_range(
    client: httpx.Client, ids: dict[str, str], red_file: bytes, header: str, expected: slice
) -> None:
    size = len(red_file)
    r = client.get(f"/media/{ids['red_8_14.mp4']}", headers={"Range": header})
    assert r.status_code == 206
    start, stop, _ = expected.indices(size)
    assert r.content == red_file[expected]
    assert r.headers["content-range"] == f"bytes {start}-{stop - 1}/{size}"
    assert int(r.headers["content-length"]) == stop - start
    assert r.headers["content-type"] == "video/mp4" and r.headers["accept-ranges"] == "bytes"


@pytest.mark.parametrize(
    "header", ["bytes={size}-", "bytes=99999999-", "bytes=-0", "bytes=50-10", "bytes=abc"]
)
def test_media_unsatisfiable_range(
    client: httpx.Client, ids: dict[str, str], red_file: bytes, header: str
) -> None:
    r = client.get(
        f"/media/{ids['red_8_14.mp4']}", headers={"Range": header.format(size=len(red_file))}
    )
    assert _error(r, 416)["code"] == "range_not_satisfiable"
    assert r.headers["content-range"] == f"bytes */{len(red_file)}"


@pytest.mark.parametrize("header", ["items=0-5", "bytes=0-1,5-6"])
def test_media_range_ignored(
    client: httpx.Client, ids: dict[str, str], red_file: bytes, header: str
) -> None:
    r = client.get(f"/media/{ids['red_8_14.mp4']}", headers={"Range": header})
    assert r.status_code == 200 and r.content == red_file


def test_media_head(client: httpx.Client, ids: dict[str, str], red_file: bytes) -> None:
    r = client.head(f"/media/{ids['red_8_14.mp4']}", headers={"Range": "bytes=0-9"})
    assert r.status_code == 206 and r.content == b""
    assert r.headers["content-length"] == "10"
    assert r.headers["content-range"] == f"bytes 0-9/{len(red_file)}"


# vidlens-tiny reads 32 tokens; this is about 50
LONG_QUERY = "a small red square moves slowly to the left across a plain grey background " * 4


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_too_long_query_is_named_in_the_answer(tiny_server: Server, method: str) -> None:
    """The encoder's warning reached only the server log; the API user is told too."""
    with tiny_server.client() as c:
        if method == "GET":
            r = c.get("/api/search", params={"q": LONG_QUERY, "curve": "true"})
        else:
            r = c.post("/api/search", json={"q": LONG_QUERY, "curve": True})
        assert r.status_code == 200, r.text
        (warning,) = r.json()["warnings"]  # encoded twice (search, curves), named once
        assert "1 text(s) longer than the text encoder's 32 tokens" in warning
        assert "'a small red square moves" in warning
        assert r.json()["results"][0]["name"] == "red_8_14.mp4"
        short = c.get("/api/search", params={"q": "a red square", "not": LONG_QUERY}).json()
        assert len(short["warnings"]) == 1 and "'a small red square" in short["warnings"][0]
        assert c.get("/api/search", params={"q": "a red square"}).json()["warnings"] == []
    assert "32 tokens" in tiny_server.log_text(), "the server log keeps the warning"


# ----------------------------------------------------------------------------- input limits
def test_query_length_limit(client: httpx.Client) -> None:
    err = _error(client.get("/api/search", params={"q": "red " * 250 + "x"}), 400)
    assert "q" in err["message"] and "1000" in err["message"]
    assert client.get("/api/search", params={"q": "r" * 1000}).status_code == 200
    assert _error(client.post("/api/search", json={"q": "b" * 1001}), 400)["code"] == "bad_input"


@pytest.mark.parametrize("top_k", ["0", "1001", "99999999999999999999999", "-1", "ten"])
def test_top_k_limit(client: httpx.Client, top_k: str) -> None:
    err = _error(client.get("/api/search", params={"q": "red", "top_k": top_k}), 400)
    assert "top_k" in err["message"]


def test_top_k_limit_is_the_clis(client: httpx.Client) -> None:
    """`vidlens search --top-k` and the API's top_k take the same range (once 1000 vs 100)."""
    import click

    from vidlens.cli import search

    cli_top_k = next(p for p in search.params if p.name == "top_k")
    assert isinstance(cli_top_k.type, click.IntRange) and cli_top_k.type.max == 1000
    params = client.get("/openapi.json").json()["paths"]["/api/search"]["get"]["parameters"]
    api_top_k = next(p for p in params if p["name"] == "top_k")["schema"]
    assert (api_top_k["minimum"], api_top_k["maximum"]) == (cli_top_k.type.min, 1000)
    r = client.get("/api/search", params={"q": "red", "top_k": 1000, "curve": "true"})
    assert r.status_code == 200 and len(r.json()["results"]) == 3
    assert client.post("/api/search", json={"q": "red", "top_k": 1000}).status_code == 200


@pytest.mark.parametrize("negative", ["", "  "])
def test_empty_not_is_400(client: httpx.Client, ids: dict[str, str], negative: str) -> None:
    """An empty exclusion is refused, as `vidlens search --not ''` is; it was ignored silently."""
    for r in (
        client.get("/api/search", params={"q": "red", "not": negative}),
        client.post("/api/search", json={"q": "red", "not": negative}),
        client.get(
            f"/api/videos/{ids['red_8_14.mp4']}/curve", params={"q": "red", "not": negative}
        ),
    ):
        err = _error(r, 400)
        assert err["code"] == "bad_input" and err["message"].startswith("not: give a concept")
    ok = client.get("/api/search", params={"q": "red", "not": "black"})
    assert ok.status_code == 200 and ok.json()["results"][0]["name"] == "red_8_14.mp4"


@pytest.mark.parametrize("q", ["", "   "])
def test_empty_query(client: httpx.Client, q: str) -> None:
    _error(client.get("/api/search", params={"q": q}), 400)


def test_missing_query(client: httpx.Client) -> None:
    assert "q" in _error(client.get("/api/search"), 400)["message"]


def test_large_body_is_413(client: httpx.Client) -> None:
    big = b'{"q": "' + b"x" * (1 << 20) + b'"}'
    r = client.post("/api/search", content=big, headers={"content-type": "application/json"})
    assert _error(r, 413)["code"] == "body_too_large"


def test_large_chunked_body_is_413(client: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"q": "'
        for _ in range(64):
            yield b"x" * 4096
        yield b'"}'

    r = client.post("/api/search", content=chunks(), headers={"content-type": "application/json"})
    assert _error(r, 413)["code"] == "body_too_large"


@pytest.mark.parametrize(
    "body", [b"{not json", b'{"q": "red", "path": "/etc/passwd"}', b'{"q": "red", "top_k": 5000}']
)
def test_bad_body_is_400(client: httpx.Client, body: bytes) -> None:
    r = client.post("/api/search", content=body, headers={"content-type": "application/json"})
    _error(r, 400)


# ----------------------------------------------------------------------------- more like this
def _like(ids: dict[str, str], name: str, at_s: float) -> str:
    return f"{ids[name]}@{at_s:g}"


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize(
    ("name", "at_s", "window"),
    [
        ("red_8_14.mp4", 10, (8.0, 14.0)),
        ("green_then_yellow.mp4", 2, (0.0, 5.0)),
        ("green_then_yellow.mp4", 17, (15.0, 20.0)),
        ("blue_all.mp4", 5, (0.0, 20.0)),
    ],
)
def test_like_finds_the_video_at_the_moment_asked(
    client: httpx.Client,
    server: Server,
    ids: dict[str, str],
    method: str,
    name: str,
    at_s: float,
    window: tuple[float, float],
) -> None:
    """like=ID@T queries by the stored frame nearest T: the video it came from ranks first, with
    its best moment around T (the part of the video that looks like that frame)."""
    like = _like(ids, name, at_s)
    if method == "GET":
        r = client.get("/api/search", params={"like": like, "top_k": 3})
    else:
        r = client.post("/api/search", json={"like": like, "top_k": 3})
    assert r.status_code == 200, r.text
    body = r.json()
    first = body["results"][0]
    assert first["name"] == name
    start, end, _ = first["moments"][0]
    assert abs(start - window[0]) <= 1.0 and abs(end - window[1]) <= 1.0, first["moments"]
    assert start <= at_s <= end
    assert body["query"] == f"image:{like}"
    # the same answer as `vidlens search --image ID@T --json`
    with Library.open(server.library, readonly=True) as lib:
        expected = lib.search(image=like, top_k=3).to_dict()
    added = {"name", "thumbnail_url", "media_url"}
    assert [{k: v for k, v in h.items() if k not in added} for h in body["results"]] == expected[
        "results"
    ]


def test_like_with_text_and_not(client: httpx.Client, ids: dict[str, str]) -> None:
    """Text and like together query by both (as TEXT --image); not pushes away from a concept."""
    like = _like(ids, "red_8_14.mp4", 10)
    both = client.get("/api/search", params={"q": "blue", "like": like}).json()
    assert both["query"] == f"blue + image:{like}"
    assert {h["name"] for h in both["results"][:2]} == {"red_8_14.mp4", "blue_all.mp4"}
    assert abs(both["results"][0]["score"] - both["results"][1]["score"]) < 0.01
    away = client.get("/api/search", params={"q": "blue", "like": like, "not": "red"}).json()
    assert away["query"] == f"blue + image:{like} --not red"
    assert away["results"][0]["name"] == "blue_all.mp4"
    assert away["results"][0]["score"] > away["results"][1]["score"] + 0.1
    alone = client.post("/api/search", json={"like": like, "not": "yellow"}).json()
    assert alone["query"] == f"image:{like} --not yellow"
    assert alone["results"][0]["name"] == "red_8_14.mp4"


@pytest.mark.parametrize(
    ("q", "negative"), [(None, None), ("blue", None), (None, "red"), ("green", "black")]
)
def test_like_curve_is_the_searched_vector(
    client: httpx.Client, server: Server, ids: dict[str, str], q: str | None, negative: str | None
) -> None:
    """curve=true with like draws each video's similarity to the vector the search ranked by:
    the frame's, plus the text's, minus the not text's."""
    like = _like(ids, "red_8_14.mp4", 10)
    params = {k: v for k, v in {"q": q, "like": like, "not": negative}.items() if v is not None}
    r = client.get("/api/search", params={**params, "curve": "true"})
    assert r.status_code == 200, r.text
    hits = r.json()["results"]
    assert len(hits) == 3
    with Library.open(server.library, readonly=True) as lib:
        vector, _ = lib.query_vector(q, image=like, negative=negative)
        for hit in hits:
            expected = lib.frame_vectors(hit["video_id"]) @ vector
            got = np.array(hit["curve"]["similarity"])
            assert got == pytest.approx(expected, abs=2e-6), hit["name"]
    if q is None:
        red = next(h for h in hits if h["name"] == "red_8_14.mp4")["curve"]
        peak = [t for t, s in zip(red["times_s"], red["similarity"], strict=True) if s > 0.9]
        assert peak and min(peak) >= 8.0 and max(peak) < 14.0, "the frame's own look: 8-14 s"


def test_neither_q_nor_like_is_400(client: httpx.Client) -> None:
    for r in (
        client.get("/api/search"),
        client.get("/api/search", params={"not": "red"}),
        client.post("/api/search", json={}),
    ):
        err = _error(r, 400)
        assert err["code"] == "bad_input"
        assert err["message"].startswith("give q (what to look for in words), like (")


@pytest.mark.parametrize(
    "like",
    [
        "red_8_14.mp4@10",
        "{red}",
        "{red}@",
        "{red}@ten",
        "{red}@nan",
        "{red}@inf",
        "{red}@10s",
        "{red}@@10",
        "{red_prefix}@10",
        "{red_upper}@10",
        " {red}@10",
        "{sandbox}/{red}@10",
        "/etc/passwd@1",
    ],
)
def test_malformed_like_is_400(
    client: httpx.Client, ids: dict[str, str], sandbox: Path, like: str
) -> None:
    red = ids["red_8_14.mp4"]
    value = like.format(red=red, red_prefix=red[:8], red_upper=red.upper(), sandbox=sandbox)
    for r in (
        client.get("/api/search", params={"like": value}),
        client.post("/api/search", json={"q": "red", "like": value}),
    ):
        err = _error(r, 400)
        assert err["code"] == "bad_input"
        assert err["message"] == (
            "like: give VIDEO_ID@SECONDS, the 32-hex video_id of a result and a time in seconds "
            f"(e.g. 0123456789abcdef0123456789abcdef@12.5); got {value!r}"
        )


def test_like_unknown_video_is_404(client: httpx.Client) -> None:
    unknown = "0123456789abcdef0123456789abcdef"
    for r in (
        client.get("/api/search", params={"like": f"{unknown}@1"}),
        client.post("/api/search", json={"q": "red", "like": f"{unknown}@1", "curve": True}),
    ):
        err = _error(r, 404)
        assert err["code"] == "not_found"
        assert err["message"] == (
            f"like: no indexed video with id {unknown} in this library; use a video_id that "
            "/api/search or /api/videos lists"
        )


@pytest.mark.parametrize("at_s", ["20.5", "-1", "1e9", "-0.01"])
def test_like_time_outside_the_video_is_400(
    client: httpx.Client, server: Server, ids: dict[str, str], at_s: str
) -> None:
    like = f"{ids['red_8_14.mp4']}@{at_s}"
    with Library.open(server.library, readonly=True) as lib, pytest.raises(QueryError) as lib_err:
        lib.search(image=like)
    assert str(lib_err.value) == f"{like}: red_8_14.mp4 is 20.00 s long; give a time in 0..20.00"
    for r in (
        client.get("/api/search", params={"like": like, "curve": "true"}),
        client.post("/api/search", json={"q": "red", "like": like}),
    ):
        err = _error(r, 400)
        assert err["code"] == "bad_query"
        assert err["message"] == str(lib_err.value), "the library's one-line message"


def test_like_at_the_ends_of_the_video(client: httpx.Client, ids: dict[str, str]) -> None:
    red = ids["red_8_14.mp4"]
    for at_s in ("0", "20", "19.99", ".5"):
        r = client.get("/api/search", params={"like": f"{red}@{at_s}"})
        assert r.status_code == 200, (at_s, r.text)


def test_openapi_documents_like(client: httpx.Client) -> None:
    schema = client.get("/openapi.json").json()
    params = {p["name"]: p for p in schema["paths"]["/api/search"]["get"]["parameters"]}
    assert not params["q"].get("required") and not params["like"].get("required")
    assert "VIDEO_ID@SECONDS" in params["like"]["description"]
    body = schema["components"]["schemas"]["SearchRequest"]
    assert "like" in body["properties"] and "q" not in body.get("required", [])


# ----------------------------------------------------------------------------- traversal
def _traversal_targets(sandbox_file: Path, vid: str) -> list[str]:
    abs_path = str(sandbox_file)
    return [
        "/media/../sentinel.txt",
        "/media/../../sentinel.txt",
        "/media/%2e%2e%2fsentinel.txt",
        "/media/%2e%2e/%2e%2e/sentinel.txt",
        "/media/..%2f..%2f..%2fsentinel.txt",
        "/media/%252e%252e%252fsentinel.txt",
        "/media/..%5c..%5csentinel.txt",
        "/media/%c0%ae%c0%ae%c0%afsentinel.txt",
        f"/media/{abs_path}",
        f"/media/{quote(abs_path, safe='')}",
        f"/media/{vid}/../../sentinel.txt",
        f"/media/{vid}%2f..%2f..%2fsentinel.txt",
        f"/media/{vid}%00../sentinel.txt",
        f"/media/{vid}?path={quote(abs_path)}",
        f"/media/{vid}?file=../sentinel.txt",
        f"/api/videos/{vid}/thumbs/..%2f..%2f..%2fsentinel.txt",
        f"/api/videos/{vid}/thumbs/../../../sentinel.txt",
        f"/api/videos/{vid}/thumbs/%2e%2e%2fsentinel.jpg",
        f"/api/videos/{vid}/thumbs/{quote(abs_path, safe='')}.jpg",
        "/api/videos/..%2f..%2fsentinel.txt/thumbs/0.jpg",
        "/api/videos/%2e%2e/thumbs/0.jpg",
        f"/api/videos/{quote(abs_path, safe='')}",
        "/static/../sentinel.txt",
        "/static/..%2f..%2f..%2fsentinel.txt",
        "/static/%2e%2e%2fserver%2fapp.py",
        "/../../sentinel.txt",
        "/%2e%2e/%2e%2e/sentinel.txt",
        "/sentinel.txt",
        "/library/sentinel.txt",
    ]


def test_traversal_never_leaks(
    server: Server, sandbox: Path, ids: dict[str, str], sentinel_text: str
) -> None:
    vid = ids["red_8_14.mp4"]
    targets = [
        *_traversal_targets(sandbox / "sentinel.txt", vid),
        *_traversal_targets(server.library / "sentinel.txt", vid),
    ]
    for target in targets:
        status, raw = _raw_get(server, target, headers={"Range": "bytes=0-"})
        assert sentinel_text.encode() not in raw, target
        assert status >= 400 or target.startswith(f"/media/{vid}?"), (target, status)


# ----------------------------------------------------------------------------- auth
def test_token_required(token_server: Server, api_token: str) -> None:
    TOKEN = api_token
    with token_server.client(auth=False) as c:
        r = c.get("/api/info")
        assert _error(r, 401)["code"] == "unauthorized"
        assert r.headers["www-authenticate"].startswith("Bearer")
        _error(c.get("/api/search", params={"q": "red"}), 401)
        _error(c.get("/openapi.json"), 401)
        _error(c.get("/api/info", headers={"Authorization": "Bearer wrong-token-wrong-token"}), 401)
        _error(c.get("/api/info", params={"token": TOKEN[:-1]}), 401)
        _error(c.get("/api/info", headers={"Authorization": f"Basic {TOKEN}"}), 401)
        assert c.get("/api/info", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
        assert c.get("/api/info", headers={"Authorization": f"bearer {TOKEN}"}).status_code == 200
        # the page shell holds no data: it loads, then asks for the token
        assert c.get("/").status_code == 200
        assert c.get("/static/app.js").status_code == 200


def test_token_in_query_for_media_and_thumbs(token_server: Server, api_token: str) -> None:
    TOKEN = api_token
    vid = _ids(token_server)["red_8_14.mp4"]
    with token_server.client(auth=False) as c:
        _error(c.get(f"/media/{vid}"), 401)
        _error(c.get(f"/api/videos/{vid}/thumbs/0.jpg"), 401)
        r = c.get(f"/media/{vid}", params={"token": TOKEN}, headers={"Range": "bytes=0-99"})
        assert r.status_code == 206 and len(r.content) == 100
        r = c.get(f"/api/videos/{vid}/thumbs/0.jpg", params={"token": TOKEN})
        assert r.status_code == 200 and r.content[:2] == b"\xff\xd8"
        # with a token, any Host is fine: the token is the protection
        assert (
            c.get("/api/health", params={"token": TOKEN}, headers={"Host": "x.example"}).status_code
            == 200
        )
    log = token_server.log_text()
    assert "/media/" in log and TOKEN not in log, "tokens must be redacted from the access log"


def _run_cli(
    *args: str, env_token: str | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    import os

    env = {**os.environ}
    env.pop("VIDLENS_TOKEN", None)
    if env_token:
        env["VIDLENS_TOKEN"] = env_token
    return subprocess.run(
        [sys.executable, "-m", "vidlens.server.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
def test_cli_refuses_public_bind_without_token(host: str, tmp_path: Path) -> None:
    r = _run_cli("--library", str(tmp_path), "--host", host, "--port", "1")
    assert r.returncode == 1
    assert "--token" in r.stderr and "VIDLENS_TOKEN" in r.stderr and host in r.stderr


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.0.1", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.10", False),
        ("example.com", False),
        ("localhost.example.com", False),
    ],
)
def test_only_loopback_binds_without_token(host: str, loopback: bool) -> None:
    from vidlens.errors import ConfigError
    from vidlens.server import check_bind

    if loopback:
        check_bind(host, None)
    else:
        with pytest.raises(ConfigError, match="--token"):
            check_bind(host, None)
    check_bind(host, "a-long-enough-token-1234")


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_cli_port_in_use_is_one_line_error(host: str, tmp_path: Path) -> None:
    """A busy port: no "serving at" line, no uvicorn trace, exit 1 (3 means failed indexing)."""
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = _run_cli("--library", str(tmp_path), "--host", host, "--port", str(port), timeout=60)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert r.stdout == ""
    assert r.stderr == (
        f"Error: port {port} on {host} is in use (another server?); pass --port with a free port\n"
    )


def test_cli_port_0_prints_the_port_it_got(tmp_path: Path) -> None:
    import os

    env = {k: v for k, v in os.environ.items() if k != "VIDLENS_TOKEN"}
    args = [sys.executable, "-m", "vidlens.server.cli", "--library", str(tmp_path), "--port", "0"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        assert line.startswith(f"vidlens: serving {tmp_path.resolve()} at http://127.0.0.1:")
        url = line.split(" at ", 1)[1].strip()
        assert not url.endswith(":0/")
        for _ in range(600):
            try:
                assert httpx.get(url + "api/health", timeout=2).json()["status"] == "ok"
                break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail(f"nothing answered at {url}")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_cli_refuses_weak_token(tmp_path: Path) -> None:
    r = _run_cli("--library", str(tmp_path), "--host", "0.0.0.0", "--token", "short", "--port", "1")
    assert r.returncode == 1 and "16" in r.stderr and "token" in r.stderr


def test_public_bind_with_env_token(
    world_lib: Path, sandbox: Path, launch: Launch, api_token: str
) -> None:
    srv = launch(world_lib, sandbox, host="0.0.0.0", env_token=api_token)
    with srv.client(auth=False) as c:
        _error(c.get("/api/info"), 401)
    with srv.client() as c:
        assert c.get("/api/info").json()["videos"] == 3


# ----------------------------------------------------------------------------- library states
def test_empty_library(empty_server: Server) -> None:
    with empty_server.client() as c:
        assert c.get("/api/info").json()["videos"] == 0
        assert c.get("/api/search", params={"q": "red"}).json()["results"] == []


def test_new_videos_appear_while_serving(
    server_world: Path, tmp_path: Path, launch: Launch
) -> None:
    import shutil

    from vidlens.ingest import IngestConfig

    cfg = IngestConfig(in_process=True)
    root = tmp_path / "live-library"
    srv = launch(root, tmp_path)  # no library there yet
    copy = tmp_path / "blue copy.mp4"
    shutil.copy(server_world / "blue_all.mp4", copy)
    with srv.client() as c:
        err = _error(c.get("/api/info"), 503)
        assert err["code"] == "no_library" and "vidlens index" in err["message"]
        with Library.open(root, encoder="colour-test", create=True) as lib:
            lib.index([copy], config=cfg)
            hits = c.get("/api/search", params={"q": "blue"}).json()["results"]
            assert [h["name"] for h in hits] == ["blue copy.mp4"]
            # the writer stays open; its next commit must show up in the running server
            lib.index([server_world / "red_8_14.mp4"], config=cfg)
            hits = c.get("/api/search", params={"q": "red"}).json()["results"]
            assert [h["name"] for h in hits] == ["red_8_14.mp4", "blue copy.mp4"]
            assert c.get("/api/info").json()["videos"] == 2
            red, blue = hits[0]["video_id"], hits[1]["video_id"]
            assert c.get(f"/media/{red}", headers={"Range": "bytes=0-9"}).status_code == 206
        # a file deleted after indexing: a clear 404, not a crash
        copy.unlink()
        err = _error(c.get(f"/media/{blue}"), 404)
        assert err["code"] == "media_missing" and "blue copy.mp4" in err["message"]


@pytest.fixture
def damaged_red(
    server_world: Path,
    make_library: Callable[[Path, list[Path]], Path],
    tmp_path: Path,
    launch: Launch,
) -> tuple[Server, VideoRecord]:
    """A server over the colour world whose red video lost its vector file."""
    root = make_library(tmp_path / "library", [server_world])
    with Library.open(root, readonly=True) as lib:
        red = lib.video(str(server_world / "red_8_14.mp4"))
    (root / "vectors" / f"{red.row_start:012d}.npy").unlink()
    return launch(root, tmp_path), red


def test_a_damaged_video_is_named_in_every_search_that_leaves_it_out(
    damaged_red: tuple[Server, VideoRecord],
) -> None:
    """The library warns once in the server log; the page must say it on every search."""
    srv, red = damaged_red
    with srv.client() as c:
        for _ in range(2):
            body = c.get("/api/search", params={"q": "a red scene"}).json()
            assert "red_8_14.mp4" not in {h["name"] for h in body["results"]}
            (warning,) = body["warnings"]
            assert warning.startswith("1 video(s) left out of this search")
            assert "vidlens index" in warning
        info = c.get("/api/info").json()
        assert [d["path"] for d in info["damaged"]] == [red.path]
    assert "left out of searches" in srv.log_text()


def test_a_damaged_video_asked_for_by_id_is_409_with_the_fix(
    damaged_red: tuple[Server, VideoRecord],
) -> None:
    """like=, moments and curve of a video whose vectors are gone: that video's fault, not the
    library's (503 would tell the user the whole library is down)."""
    srv, red = damaged_red
    with srv.client() as c:
        for r in (
            c.get("/api/search", params={"like": f"{red.id}@10"}),
            c.get(f"/api/videos/{red.id}/moments", params={"q": "red"}),
            c.get(f"/api/videos/{red.id}/curve", params={"q": "red"}),
        ):
            err = _error(r, 409)
            assert err["code"] == "video_damaged", err
            assert "red_8_14.mp4" in err["message"] and "vidlens index" in err["message"]
        assert c.get("/api/search", params={"q": "red"}).status_code == 200
