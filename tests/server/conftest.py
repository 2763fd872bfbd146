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


def build_library(root: Path, videos: list[Path]) -> Path:
    from vidlens.ingest import IngestConfig
    from vidlens.library import Library

    with Library.open(root, encoder="colour-test", create=True) as lib:
        if videos:
            report = lib.index(videos, config=IngestConfig(workers=1))
            assert report.indexed >= len(videos) and not report.failed, report
    return root


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
