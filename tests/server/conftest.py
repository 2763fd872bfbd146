"""Fixtures for the HTTP server tests: a colour-world library and real uvicorn processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "library"))
from colour_world import make_world

os.environ.setdefault("HF_HUB_OFFLINE", "1")

TOKEN = "test-token-0123456789abcdef"
SENTINEL_TEXT = "VIDLENS-SENTINEL-7f3a9c1e-do-not-serve"
REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts"


@dataclass
class Server:
    """A ``python -m vidlens.server.cli`` process listening on 127.0.0.1."""

    url: str
    proc: subprocess.Popen[bytes]
    log: Path
    library: Path
    token: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def client(self, *, auth: bool = True) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30.0, headers=self.headers if auth else {})

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(
    library: Path,
    workdir: Path,
    *,
    token: str | None = None,
    host: str = "127.0.0.1",
    log_level: str = "warning",
    env_token: str | None = None,
) -> Server:
    """Start the server as a subprocess and wait until ``/api/health`` answers."""
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("VIDLENS_TOKEN", None)
    if env_token:
        env["VIDLENS_TOKEN"] = env_token
    args = [
        sys.executable,
        "-m",
        "vidlens.server.cli",
        "--library",
        str(library),
        "--host",
        host,
        "--port",
        str(port),
        "--log-level",
        log_level,
    ]
    if token:
        args += ["--token", token]
    log = workdir / f"server-{port}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=workdir)
    url = f"http://127.0.0.1:{port}"
    secret = token or env_token
    headers = {"Authorization": f"Bearer {secret}"} if secret else {}
    server = Server(url, proc, log, library, secret, headers)
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{server.log_text()}")
        try:
            if httpx.get(url + "/api/health", headers=headers, timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            stop_server(server)
            raise RuntimeError(f"server did not answer within 60 s:\n{server.log_text()}")
        time.sleep(0.1)


def stop_server(server: Server) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait(timeout=10)


def build_library(root: Path, videos: list[Path], encoder: str = "colour-test") -> Path:
    from vidlens.ingest import IngestConfig
    from vidlens.library import Library

    with Library.open(root, encoder=encoder, create=True) as lib:
        if videos:
            report = lib.index(videos, config=IngestConfig(workers=1))
            assert report.indexed >= len(videos) and not report.failed, report
    return root


def write_red_peak_video(path: Path, *, peak_s: float = 11.0, fps: int = 10) -> Path:
    """20 s of black with a red bar from 6 to 14 s, widest (the whole frame) at ``peak_s`` only.

    With the colour-test encoder the best frame for "red" is at ``peak_s``, inside a moment that
    starts seconds earlier: the thumbnail and the moment's start are different times.
    """
    import av
    import numpy as np

    width, height = 64, 48
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "10"}
        for i in range(20 * fps):
            t = i / fps
            share = max(0.0, 1.0 - abs(t - peak_s) / 6.0) if 6.0 <= t < 14.0 else 0.0
            frame = np.zeros((height, width, 3), dtype=np.uint8)
            frame[:, : 2 * round(share * width / 2)] = (220, 30, 30)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


@pytest.fixture(scope="session")
def api_token() -> str:
    return TOKEN


@pytest.fixture(scope="session")
def sentinel_text() -> str:
    return SENTINEL_TEXT


@pytest.fixture
def launch() -> Iterator[Callable[..., Server]]:
    """``launch(library, workdir, **start_server_kwargs)``; every server stops after the test."""
    started: list[Server] = []

    def _launch(library: Path, workdir: Path, **kwargs: object) -> Server:
        srv = start_server(library, workdir, **kwargs)  # type: ignore[arg-type]
        started.append(srv)
        return srv

    yield _launch
    for srv in started:
        stop_server(srv)


@pytest.fixture(scope="session")
def make_library() -> Callable[[Path, list[Path]], Path]:
    return build_library


@pytest.fixture(scope="session")
def server_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("server-world")
    make_world(d)
    return d


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The servers' working directory, holding a sentinel file that must never be served."""
    d = tmp_path_factory.mktemp("server-cwd")
    (d / "sentinel.txt").write_text(SENTINEL_TEXT)
    return d


@pytest.fixture(scope="session")
def world_lib(server_world: Path, sandbox: Path) -> Path:
    root = build_library(sandbox / "library", [server_world])
    # sentinels beside the videos and inside the library folder too
    (server_world / "sentinel.txt").write_text(SENTINEL_TEXT)
    (root / "sentinel.txt").write_text(SENTINEL_TEXT)
    return root


@pytest.fixture(scope="session")
def peak_lib(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A library of one video, red_peak.mp4 (:func:`write_red_peak_video`, peak at 11 s)."""
    d = tmp_path_factory.mktemp("peak")
    (d / "videos").mkdir()
    write_red_peak_video(d / "videos" / "red_peak.mp4")
    return build_library(d / "library", [d / "videos"])


@pytest.fixture(scope="session")
def tiny_lib(server_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """red_8_14.mp4 indexed with the shipped vidlens-tiny model (a real CLIP tokenizer)."""
    from vidlens.encoders.tiny import model_available

    if not model_available():
        pytest.skip("vidlens-tiny is not installed")
    d = tmp_path_factory.mktemp("tiny")
    return build_library(d / "library", [server_world / "red_8_14.mp4"], encoder="vidlens-tiny")


@pytest.fixture(scope="session")
def tiny_server(tiny_lib: Path) -> Iterator[Server]:
    srv = start_server(tiny_lib, tiny_lib.parent)
    yield srv
    stop_server(srv)


@pytest.fixture(scope="session")
def server(world_lib: Path, sandbox: Path) -> Iterator[Server]:
    srv = start_server(world_lib, sandbox)
    yield srv
    stop_server(srv)


@pytest.fixture(scope="session")
def token_server(world_lib: Path, sandbox: Path) -> Iterator[Server]:
    srv = start_server(world_lib, sandbox, token=TOKEN, log_level="info")
    yield srv
    stop_server(srv)


@pytest.fixture(scope="session")
def empty_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    d = tmp_path_factory.mktemp("empty")
    srv = start_server(build_library(d / "library", []), d)
    yield srv
    stop_server(srv)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
