"""Ingest: discover -> probe -> decode + sample (worker processes) -> batch encode -> commit.

Decoding runs in ``spawn``-started child processes (forking after FFmpeg threads start can
deadlock), so a crash inside FFmpeg kills one worker, not the run: the file it held is recorded
as failed and a new worker takes over. Workers stream frames in batches through a bounded queue,
so memory stays flat however long a video is, and the parent encodes while they decode: the
slower of the two stages sets the pace.

Each video becomes visible only when :meth:`Library.commit_video` commits it, after its vectors
and thumbnails are on disk. Killing the process at any moment and running the same command
again ends in the same library as an uninterrupted run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import logging
import multiprocessing as mp
import os
import queue
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .config import SamplingConfig
from .errors import ConfigError, MediaError
from .library.records import FailureRecord, IndexReport

if TYPE_CHECKING:
    from .library import Library

__all__ = [
    "VIDEO_EXTENSIONS",
    "IngestConfig",
    "ProgressCallback",
    "ProgressEvent",
    "content_id",
    "discover",
    "index_paths",
]

logger = logging.getLogger(__name__)

VIDEO_EXTENSIONS = (
    ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".mts", ".m2ts",
    ".wmv", ".flv", ".3gp", ".ogv",
)  # fmt: skip
HASH_CHUNK = 1 << 20  # bytes read at the start, middle and end of a file for its id


@dataclass(frozen=True)
class IngestConfig:
    """How an index run works (not what it produces: that is the library's recipe)."""

    workers: int = 0  # decode worker processes; 0 = one per CPU core but one, at most 4
    batch_size: int = 64  # frames per encoder call
    decode_threads: int = 0  # FFmpeg threads per worker; 0 = let the decoder decide
    frames_per_message: int = 32  # frames a worker sends at a time (bounds memory)
    thumb_height: int = 96  # pixels; thumbnails are JPEGs of every sampled frame
    full_hash: bool = False  # hash whole files for ids (slower; default hashes 3 MiB of each)
    in_process: bool = False  # decode in this process: no crash isolation (debugging only)

    def __post_init__(self) -> None:
        if self.workers < 0 or self.batch_size < 1 or self.frames_per_message < 1:
            raise ConfigError("workers must be >= 0, batch_size and frames_per_message >= 1")
        if not (16 <= self.thumb_height <= 720):
            raise ConfigError(f"thumb_height must be within 16..720, got {self.thumb_height}")

    def resolved_workers(self) -> int:
        # one core stays with the encoder (measured in bench/ingest.py: on 2 cores, 2 workers
        # and a 2-thread encoder were slower than 1 worker and a 1-thread encoder)
        return self.workers or max(1, min(4, (os.cpu_count() or 1) - 1))


@dataclass
class ProgressEvent:
    """Progress of an index run, sent to the progress callback after each step."""

    files_total: int = 0  # files to decode in this run (after skipping unchanged ones)
    files_done: int = 0
    frames: int = 0  # frames encoded so far
    seconds: float = 0.0  # seconds of video committed so far
    seconds_total: float = 0.0  # seconds of video probed so far (grows as workers start files)
    current: str = ""  # the file just finished, if any


ProgressCallback = Callable[[ProgressEvent], None]


# ----------------------------------------------------------------------------- discovery
def discover(paths: Sequence[str | os.PathLike[str]]) -> tuple[list[Path], list[FailureRecord]]:
    """Video files under ``paths`` (files given directly are taken whatever their extension).

    Returns the files (absolute, sorted, unique) and the paths that do not exist.
    """
    found: dict[str, Path] = {}
    missing: list[FailureRecord] = []
    for p in paths:
        path = Path(p).expanduser()
        if path.is_dir():
            for dirpath, dirnames, filenames in os.walk(path):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                for name in filenames:
                    if name.lower().endswith(VIDEO_EXTENSIONS) and not name.startswith("."):
                        f = Path(dirpath, name).resolve()
                        found[str(f)] = f
        elif path.exists():
            f = path.resolve()
            found[str(f)] = f
        else:
            missing.append(FailureRecord(str(path), "no such file or folder"))
    return [found[k] for k in sorted(found)], missing


def content_id(path: Path, size: int, *, full: bool = False) -> str:
    """Content hash of a file: its size plus the first, middle and last MiB (or every byte)."""
    h = hashlib.sha256()
    h.update(str(size).encode())
    with open(path, "rb") as f:
        if full or size <= 3 * HASH_CHUNK:
            for chunk in iter(lambda: f.read(1 << 22), b""):
                h.update(chunk)
        else:
            for offset in (0, size // 2 - HASH_CHUNK // 2, size - HASH_CHUNK):
                f.seek(offset)
                h.update(f.read(HASH_CHUNK))
    return h.hexdigest()[:32]


# ----------------------------------------------------------------------------- worker side
def _thumbnail(rgb: np.ndarray, height: int) -> bytes:
    from PIL import Image

    im = Image.fromarray(rgb)
    w = max(1, round(im.width * height / max(im.height, 1)))
    if im.height > height:
        im = im.resize((w, height), Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=80)
    return buf.getvalue()


def _decode_messages(
    path: str, sampling: SamplingConfig, cfg: IngestConfig
) -> Iterator[tuple[Any, ...]]:
    """The messages a worker sends for one file: info, frames..., done (or error)."""
    from .media import FrameSampler, probe_video

    t0 = time.perf_counter()
    try:
        info = probe_video(path)
        yield ("info", dataclasses.asdict(info))
        sampler = FrameSampler(path, sampling, info=info, threads=cfg.decode_threads)
        times: list[float] = []
        keys: list[bool] = []
        rgbs: list[np.ndarray] = []
        thumbs: list[bytes] = []
        for fr in sampler:
            times.append(fr.time_s)
            keys.append(fr.is_keyframe)
            rgbs.append(fr.rgb)
            thumbs.append(_thumbnail(fr.rgb, cfg.thumb_height))
            if len(times) >= cfg.frames_per_message:
                yield ("frames", times, keys, np.stack(rgbs), thumbs)
                times, keys, rgbs, thumbs = [], [], [], []
        if times:
            yield ("frames", times, keys, np.stack(rgbs), thumbs)
        yield ("done", list(sampler.shots), time.perf_counter() - t0)
    except MediaError as exc:
        yield ("error", str(exc))
    except FileNotFoundError:
        yield ("error", "file disappeared while it was being indexed")
    except MemoryError:
        yield ("error", "out of memory while decoding; try a lower --short-side")
    except Exception as exc:  # an unexpected decoder failure must fail one file, not the run
        logger.exception("unexpected error decoding %s", path)
        yield ("error", f"unexpected decoder error: {type(exc).__name__}: {exc}")


def _worker_main(
    tasks: Any, results: Any, sampling_dict: dict[str, Any], cfg_dict: dict[str, Any]
) -> None:
    """Entry point of a decode worker process (must be importable for ``spawn``)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    sampling = SamplingConfig.from_dict(sampling_dict)
    cfg = IngestConfig(**cfg_dict)
    pid = os.getpid()
    while True:
        task = tasks.get()
        if task is None:
            return
        key, path = task
        results.put(("begin", key, pid))
        for msg in _decode_messages(path, sampling, cfg):
            results.put((msg[0], key, *msg[1:]))


# ----------------------------------------------------------------------------- parent side
@dataclass
class _Pending:
    """A file being decoded: what its worker has sent so far."""

    path: str
    video_id: str
    size_bytes: int
    mtime_ns: int
    info: dict[str, Any] | None = None
    times: list[float] = field(default_factory=list)
    keys: list[bool] = field(default_factory=list)
    vectors: list[np.ndarray] = field(default_factory=list)
    thumbs: list[bytes] = field(default_factory=list)
    encode_s: float = 0.0


class _WorkerPool:
    """Spawned decode workers fed from one task queue, answering on one bounded result queue."""

    def __init__(self, n: int, sampling: SamplingConfig, cfg: IngestConfig) -> None:
        self._ctx = mp.get_context("spawn")
        self.tasks = self._ctx.Queue()
        self.results = self._ctx.Queue(maxsize=max(4, 2 * n))
        self._args = (sampling.to_dict(), dataclasses.asdict(cfg))
        self.procs: list[Any] = []
        self.holding: dict[int, str] = {}  # worker pid -> key of the file it is decoding
        self.dead: set[int] = set()  # pids of workers that died
        for _ in range(n):
            self._start()

    def _start(self) -> None:
        p = self._ctx.Process(
            target=_worker_main, args=(self.tasks, self.results, *self._args), daemon=True
        )
        p.start()
        self.procs.append(p)

    def submit(self, key: str, path: str) -> None:
        self.tasks.put((key, path))

    def close_tasks(self) -> None:
        for _ in self.procs:
            self.tasks.put(None)

    def reap(self) -> list[tuple[str, int]]:
        """Keys held by workers that died, with their exit codes; dead workers are replaced."""
        lost = []
        for p in list(self.procs):
            if p.is_alive() or p.exitcode == 0:
                continue
            self.procs.remove(p)
            self.dead.add(p.pid)
            key = self.holding.pop(p.pid, None)
            if key is not None:
                lost.append((key, int(p.exitcode or 0)))
            self._start()  # takes over the dead worker's place, and its stop sentinel
        return lost

    def shutdown(self, *, force: bool = False) -> None:
        for p in self.procs:
            if force and p.is_alive():
                p.terminate()
        for p in self.procs:
            p.join(timeout=5)
            if p.is_alive():
                p.kill()
                p.join(timeout=5)
        for q in (self.tasks, self.results):
            q.cancel_join_thread()
            q.close()


@contextlib.contextmanager
def _encoder_threads(n: int) -> Iterator[None]:
    """Cap torch's intra-op threads while decode workers hold the other cores.

    A torch call waits for its slowest thread; a thread whose core a decoder took stalls every
    batch (bench/ingest.py measured 24.8 frames/s with 2 threads vs 51.6 with 1 on a busy
    2-core machine). Encoders that do not use torch are unaffected.
    """
    torch = sys.modules.get("torch")
    if torch is None:
        yield
        return
    saved = torch.get_num_threads()
    torch.set_num_threads(min(saved, n))
    try:
        yield
    finally:
        torch.set_num_threads(saved)


def index_paths(
    lib: Library,
    paths: Sequence[str | os.PathLike[str]],
    *,
    config: IngestConfig | None = None,
    progress: ProgressCallback | None = None,
) -> IndexReport:
    """Index ``paths`` (files and folders) into ``lib``; see the module docstring."""
    cfg = config or IngestConfig()
    t_start = time.perf_counter()
    report = IndexReport()
    lib._require_writer()
    job = lib.start_job("index " + " ".join(str(p) for p in paths))
    files, missing = discover(paths)
    report.failed.extend(missing)
    todo = _plan(lib, files, cfg, report)
    report.timings["discover_s"] = time.perf_counter() - t_start
    event = ProgressEvent(files_total=len(todo))
    if progress:
        progress(event)
    status = "failed"
    try:
        if todo:
            _run(lib, todo, cfg, report, event, progress)
        status = "done"
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        report.timings["wall_s"] = time.perf_counter() - t_start
        if report.timings["wall_s"] > 0:
            report.timings["video_s_per_s"] = report.seconds / report.timings["wall_s"]
            report.timings["frames_per_s"] = report.frames / report.timings["wall_s"]
        with contextlib.suppress(Exception):
            lib.finish_job(job, status, report.to_dict())
    return report


def _plan(
    lib: Library, files: list[Path], cfg: IngestConfig, report: IndexReport
) -> dict[str, _Pending]:
    """Decide per file: skip (unchanged, moved or duplicate) or decode."""
    todo: dict[str, _Pending] = {}
    seen: set[str] = set()
    for f in files:
        path = str(f)
        try:
            st = f.stat()
        except OSError as exc:
            _fail(lib, report, path, f"cannot read file: {exc.strerror or exc}", None, None)
            continue
        known = lib.known_file(path)
        if (
            known is not None
            and known["size_bytes"] == st.st_size
            and known["mtime_ns"] == st.st_mtime_ns
        ):
            report.skipped += 1
            continue
        if st.st_size == 0:
            _fail(lib, report, path, "empty file (0 bytes)", st.st_size, st.st_mtime_ns)
            continue
        try:
            vid = content_id(f, st.st_size, full=cfg.full_hash)
        except OSError as exc:
            _fail(lib, report, path, f"cannot read file: {exc.strerror or exc}", None, None)
            continue
        if vid in seen:
            logger.info("%s has the same content as a file indexed in this run; skipped", path)
            report.skipped += 1
            continue
        seen.add(vid)
        other = lib.video_by_id(vid)
        if other is not None:
            if other["path"] == path or not os.path.exists(other["path"]):
                # touched (same bytes, new mtime) or moved here: no need to decode again
                lib.update_path(vid, path, st.st_size, st.st_mtime_ns)
            else:
                logger.info("%s has the same content as %s; skipped", path, other["path"])
            report.skipped += 1
            continue
        todo[vid] = _Pending(path, vid, st.st_size, st.st_mtime_ns)
    return todo


def _fail(
    lib: Library, report: IndexReport, path: str, reason: str, size: int | None, mtime: int | None
) -> None:
    if reason.startswith(path + ": "):  # media errors name the file; the record has it already
        reason = reason[len(path) + 2 :]
    logger.warning("could not index %s: %s", path, reason)
    report.failed.append(FailureRecord(path, reason))
    lib.record_failure(path, reason, size, mtime)


def _run(
    lib: Library,
    todo: dict[str, _Pending],
    cfg: IngestConfig,
    report: IndexReport,
    event: ProgressEvent,
    progress: ProgressCallback | None,
) -> None:
    encoder = lib.encoder
    stage = {"decode_s": 0.0, "encode_s": 0.0, "write_s": 0.0, "wait_s": 0.0}
    remaining = set(todo)

    def handle(msg: tuple[Any, ...]) -> None:
        kind, key = msg[0], msg[1]
        p = todo.get(key)
        if p is None or key not in remaining:
            return
        if kind == "info":
            p.info = msg[2]
            event.seconds_total += float(msg[2]["duration_s"])
        elif kind == "frames":
            _, _, times, keys, rgb, thumbs = msg
            t0 = time.perf_counter()
            vecs = np.asarray(encoder.encode_images(rgb), dtype=np.float32)
            dt = time.perf_counter() - t0
            if vecs.shape != (len(times), lib.manifest.dim):
                raise MediaError(
                    f"encoder {encoder.id} returned {vecs.shape} for {len(times)} frames; "
                    f"expected ({len(times)}, {lib.manifest.dim})"
                )
            stage["encode_s"] += dt
            p.encode_s += dt
            p.times.extend(times)
            p.keys.extend(keys)
            p.vectors.append(vecs)
            p.thumbs.extend(thumbs)
            event.frames += len(times)
        elif kind == "done":
            shots, decode_s = msg[2], float(msg[3])
            stage["decode_s"] += decode_s
            finish(p, shots, decode_s)
        elif kind == "error":
            remaining.discard(key)
            _fail(lib, report, p.path, msg[2], p.size_bytes, p.mtime_ns)
            step(p.path)

    def finish(p: _Pending, shots: list[tuple[float, float]], decode_s: float) -> None:
        remaining.discard(p.video_id)
        if not p.times or p.info is None:
            _fail(lib, report, p.path, "no frame could be decoded", p.size_bytes, p.mtime_ns)
            step(p.path)
            return
        t0 = time.perf_counter()
        lib.commit_video(
            video_id=p.video_id,
            path=p.path,
            size_bytes=p.size_bytes,
            mtime_ns=p.mtime_ns,
            info=p.info,
            times_s=p.times,
            keyframes=p.keys,
            vectors=np.concatenate(p.vectors),
            thumbs=p.thumbs,
            shots=shots,
            decode_s=decode_s,
            encode_s=p.encode_s,
        )
        stage["write_s"] += time.perf_counter() - t0
        report.indexed += 1
        report.frames += len(p.times)
        report.seconds += float(p.info["duration_s"])
        event.seconds += float(p.info["duration_s"])
        todo[p.video_id] = _Pending(p.path, p.video_id, p.size_bytes, p.mtime_ns)  # free memory
        step(p.path)

    def step(path: str) -> None:
        event.files_done += 1
        event.current = path
        if progress:
            progress(event)

    def lose(key: str, reason: str) -> None:
        if key in remaining:
            remaining.discard(key)
            p = todo[key]
            _fail(lib, report, p.path, reason, p.size_bytes, p.mtime_ns)
            step(p.path)

    stack = contextlib.ExitStack()
    if cfg.in_process:
        for key, p in list(todo.items()):
            for msg in _decode_messages(p.path, lib.sampling, cfg):
                handle((msg[0], key, *msg[1:]))
    else:
        n_workers = min(cfg.resolved_workers(), len(todo))
        pool = _WorkerPool(n_workers, lib.sampling, cfg)
        clean = False
        try:
            stack.enter_context(_encoder_threads(max(1, (os.cpu_count() or 1) - n_workers)))
            for key, p in todo.items():
                pool.submit(key, p.path)
            pool.close_tasks()
            while remaining:
                t0 = time.perf_counter()
                try:
                    msg = pool.results.get(timeout=0.5)
                except queue.Empty:
                    stage["wait_s"] += time.perf_counter() - t0
                    for key, code in pool.reap():
                        lose(key, f"the decoder crashed on this file (worker exit code {code})")
                    continue
                stage["wait_s"] += time.perf_counter() - t0
                if msg[0] == "begin":
                    pid, key = int(msg[2]), msg[1]
                    if pid in pool.dead:  # it died right after taking this file
                        lose(key, "the decoder crashed on this file")
                    else:
                        pool.holding[pid] = key
                    continue
                handle(msg)
            clean = True
        finally:
            stack.close()
            pool.shutdown(force=not clean)
    report.timings.update(stage)
