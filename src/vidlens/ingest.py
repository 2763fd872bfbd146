"""Ingest: discover -> probe -> decode + sample (worker processes) -> batch encode -> commit.

Decoding runs in ``spawn``-started child processes (forking after FFmpeg threads start can
deadlock), so a crash inside FFmpeg kills one worker, not the run: the file it held is recorded
as failed and a new worker takes over. Workers stream frames in batches through a bounded queue,
so memory stays flat however long a video is, and the parent encodes while they decode: the
slower of the two stages sets the pace.

FFmpeg's threads make one decoder little faster (1.3x on 2 cores), so a long video
(``IngestConfig.split_min_s``, 2 minutes by default) is cut into time ranges
(:mod:`vidlens.spans`) that several workers decode at once.
The worker that probes the file says how it was cut and decodes the first range; the parent
hands the others out before any other file. Frames travel in batches of one time window each,
and ranges start on window edges (near keyframes), so a cut video is encoded in the very
batches of an uncut one. The parent encodes each batch as it comes (raw frames never wait in
memory) and keeps the vectors and thumbnails per range; the video is committed in time order
once every range is done, identical to what one worker gives. A range that fails or a worker
that dies fails the whole file, as for one worker.

Each video becomes visible only when :meth:`Library.commit_video` commits it, after its vectors
and thumbnails are on disk. Killing the process at any moment and running the same command
again ends in the same library as an uninterrupted run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import hashlib
import io
import itertools
import logging
import math
import multiprocessing as mp
import os
import queue
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ._spawn import main_not_rerun
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
# A video cut for several workers gets this many ranges per worker (more ranges even out ranges
# that decode at different speeds; each costs one file open and seek) ...
_SPANS_PER_WORKER = 2
# ... each at least this part of IngestConfig.split_min_s long.
_MIN_SPAN_PART = 0.25
# Frame times within this of a batch's time window edge count as after it (as in vidlens.media).
_EPS_S = 1e-6


@dataclass(frozen=True)
class IngestConfig:
    """How an index run works (not what it produces: that is the library's recipe)."""

    workers: int = 0  # decode worker processes; 0 = one per CPU core, at most 4
    batch_size: int = 64  # frames per encoder call
    decode_threads: int = 0  # FFmpeg threads per worker; 0 = let the decoder decide
    # "cpu", or "cuda" / "cuda:N": decode on an NVIDIA GPU's video decoder (NVDEC) through
    # FFmpeg; the same frames at the same times (vidlens.media.FrameSampler).
    decode_device: str = "cpu"
    frames_per_message: int = 32  # frames a worker sends at a time (bounds memory)
    thumb_height: int = 96  # pixels; thumbnails are JPEGs of every sampled frame
    full_hash: bool = False  # hash whole files for ids (slower; default hashes 3 MiB of each)
    in_process: bool = False  # decode in this process: no crash isolation (debugging only)
    # Seconds: with more than one worker, a video at least this long (fps and frames sampling,
    # a container with a keyframe index) is decoded in time ranges by several workers at once;
    # 0 = never. FFmpeg's threads make one decoder little faster (bench/ingest.py).
    split_min_s: float = 120.0

    def __post_init__(self) -> None:
        if self.workers < 0 or self.batch_size < 1 or self.frames_per_message < 1:
            raise ConfigError("workers must be >= 0, batch_size and frames_per_message >= 1")
        if not self.split_min_s >= 0:
            raise ConfigError(f"split_min_s must be >= 0 (0 = never split), got {self.split_min_s}")
        if not (16 <= self.thumb_height <= 720):
            raise ConfigError(f"thumb_height must be within 16..720, got {self.thumb_height}")
        from .media import parse_decode_device

        parse_decode_device(self.decode_device)

    def resolved_workers(self) -> int:
        # On the CPU ingest is decode-bound (720p H.264 at 1 fps costs ~4x the CPU of ViT-B-32
        # in bf16), so every core decodes and the encoder gets the cores left (_encoder_threads,
        # at least one). Measured in bench/ingest.py, alternating runs on 2 idle cores: a
        # 10-minute 720p video 18.9-21.2 video-s/s with 2 workers (split) vs 14.2-15.8 with 1;
        # 20 short clips 24.0-27.0 vs 22.1-26.1.
        return self.workers or max(1, min(4, os.cpu_count() or 1))


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
def discover(
    paths: Sequence[str | os.PathLike[str]], *, links: list[str] | None = None
) -> tuple[list[Path], list[FailureRecord]]:
    """Video files under ``paths`` (files given directly are taken whatever their extension).

    Folders are walked recursively, following links to folders (each folder once); names that
    start with a dot are skipped. Returns the files (absolute, sorted, unique; a link is taken as
    the file it points to) and the paths that cannot be indexed: those that do not exist, broken
    links (named by the link), and names that are not valid UTF-8 (the library stores paths as
    UTF-8 text; such a name is shown with ``\\xNN`` escapes). ``links``, when given, receives the
    paths of the links that were taken (as the files they point to).
    """
    found: dict[str, Path] = {}
    problems: list[FailureRecord] = []

    def take(f: Path) -> None:
        shown = display_path(f)
        if shown != str(f):
            problems.append(FailureRecord(shown, _NOT_UTF8))
        elif not f.is_symlink() and not f.exists():  # deleted while the folder was walked
            problems.append(FailureRecord(shown, "file disappeared while it was being indexed"))
        elif not f.exists():
            target = os.readlink(f)
            if _link_loop(f):
                why = f"broken link: it points to {target}, which leads back to itself (a loop)"
            else:
                why = f"broken link: it points to {target}, which does not exist"
            problems.append(FailureRecord(shown, why))
        else:
            r = f.resolve()
            if display_path(r) != str(r):
                problems.append(FailureRecord(shown, f"it links to {display_path(r)}: {_NOT_UTF8}"))
            else:
                found[str(r)] = r
                if links is not None and r != f:
                    links.append(str(f))

    for p in paths:
        path = Path(p).expanduser()
        if path.is_dir():
            seen_dirs: set[str] = set()
            for dirpath, dirnames, filenames in os.walk(path, followlinks=True):
                real = os.path.realpath(dirpath)
                if real in seen_dirs:  # a link back up the tree, or two links to one folder
                    dirnames[:] = []
                    continue
                seen_dirs.add(real)
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                for name in filenames:
                    if name.lower().endswith(VIDEO_EXTENSIONS) and not name.startswith("."):
                        take(Path(os.path.abspath(os.path.join(dirpath, name))))
        elif path.exists() or path.is_symlink():
            take(Path(os.path.abspath(path)))
        else:
            problems.append(FailureRecord(display_path(path), "no such file or folder"))
    return [found[k] for k in sorted(found)], problems


def _link_loop(path: Path) -> bool:
    try:
        os.stat(path)
    except OSError as exc:
        return exc.errno == errno.ELOOP
    return False


_NOT_UTF8 = (
    "the file name is not valid UTF-8 (written on another system?); vidlens keeps paths as UTF-8 "
    "text: rename the file, e.g. convmv -f latin1 -t utf8 --notest FILE"
)


def display_path(path: str | os.PathLike[str]) -> str:
    """``path`` as text that can be stored and printed: bytes that are not UTF-8 as ``\\xNN``."""
    raw = os.fsencode(path)
    return raw.decode("utf-8", "backslashreplace")


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


def _span_count(duration_s: float, sampling: SamplingConfig, cfg: IngestConfig) -> int:
    """How many time ranges a video of ``duration_s`` seconds is decoded in (1: not cut)."""
    from .media import SPAN_MODES

    workers = cfg.resolved_workers()
    if (
        cfg.in_process
        or workers < 2
        or cfg.split_min_s <= 0
        or duration_s < cfg.split_min_s
        or sampling.mode not in SPAN_MODES
    ):
        return 1
    longest = int(duration_s // (cfg.split_min_s * _MIN_SPAN_PART))
    return max(1, min(_SPANS_PER_WORKER * workers, longest))


def _batch_window_s(duration_s: float, sampling: SamplingConfig, cfg: IngestConfig) -> float | None:
    """Seconds of video whose frames go in one batch (about ``frames_per_message`` frames).

    None for sampling modes whose frames are batched by count (keyframes, shots).
    """
    if sampling.mode == "fps":
        return cfg.frames_per_message / sampling.fps
    if sampling.mode == "frames" and duration_s > 0:
        return cfg.frames_per_message * duration_s / sampling.frames
    return None


def _decode_messages(
    path: str,
    sampling: SamplingConfig,
    cfg: IngestConfig,
    *,
    span: tuple[float, float] | None = None,
    info_dict: dict[str, Any] | None = None,
) -> Iterator[tuple[Any, ...]]:
    """The messages a worker sends for one task: [info, spans,] frames..., done (or error).

    A whole file (``span`` None) is probed first (``info``); when it is long enough to be cut,
    ``spans`` lists its time ranges and the frames that follow are those of the first. A range
    of a file cut that way comes with the file's probe (``info_dict``).
    """
    from .media import FrameSampler, VideoInfo, probe_video
    from .spans import keyframe_spans

    t0 = time.perf_counter()
    try:
        if info_dict is None:
            info = probe_video(path)
            yield ("info", dataclasses.asdict(info))
        else:
            info = VideoInfo(**info_dict)
        window_s = _batch_window_s(info.duration_s, sampling, cfg)
        count = _span_count(info.duration_s, sampling, cfg) if span is None else 1
        if count > 1:
            spans = keyframe_spans(path, count, info=info, grid_s=window_s)
            if len(spans) > 1:
                yield ("spans", spans)
                span = spans[0]
        sampler = FrameSampler(
            path, sampling, info=info, threads=cfg.decode_threads, span=span,
            device=cfg.decode_device,
        )  # fmt: skip
        times: list[float] = []
        keys: list[bool] = []
        rgbs: list[np.ndarray] = []
        thumbs: list[bytes] = []
        window = -1
        for fr in sampler:
            if window_s is not None:
                # Batches hold the frames of one time window: the same batches whether the
                # video is decoded in one piece or in ranges (which start on window edges).
                last, window = window, math.floor((fr.time_s + _EPS_S) / window_s)
                full = window != last or len(times) >= 2 * cfg.frames_per_message
            else:
                full = len(times) >= cfg.frames_per_message
            if times and full:
                yield ("frames", times, keys, np.stack(rgbs), thumbs)
                times, keys, rgbs, thumbs = [], [], [], []
            times.append(fr.time_s)
            keys.append(fr.is_keyframe)
            rgbs.append(fr.rgb)
            thumbs.append(_thumbnail(fr.rgb, cfg.thumb_height))
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


@dataclass(frozen=True)
class _Task:
    """One unit of decoding: a whole file (``part`` 0, no ``span``) or one range of it."""

    key: str
    path: str
    part: int = 0
    span: tuple[float, float] | None = None
    info: dict[str, Any] | None = None  # the file's probe, for a range


def _worker_main(
    tasks: Any, results: Any, sampling_dict: dict[str, Any], cfg_dict: dict[str, Any]
) -> None:
    """Entry point of a decode worker process (must be importable for ``spawn``).

    Every message it sends is ``(kind, key, part, *payload)``.
    """
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    sampling = SamplingConfig.from_dict(sampling_dict)
    cfg = IngestConfig(**cfg_dict)
    pid = os.getpid()
    while True:
        task: _Task | None = tasks.get()
        if task is None:
            return
        results.put(("begin", task.key, task.part, pid))
        messages = _decode_messages(task.path, sampling, cfg, span=task.span, info_dict=task.info)
        for msg in messages:
            results.put((msg[0], task.key, task.part, *msg[1:]))


# ----------------------------------------------------------------------------- parent side
@dataclass
class _Part:
    """What the workers sent for one time range of a file (the whole file when not cut)."""

    times: list[float] = field(default_factory=list)
    keys: list[bool] = field(default_factory=list)
    vectors: list[np.ndarray] = field(default_factory=list)
    thumbs: list[bytes] = field(default_factory=list)
    shots: list[tuple[float, float]] | None = None  # set when the range is done


@dataclass
class _Pending:
    """A file being decoded: what its workers have sent so far, range by range."""

    path: str
    video_id: str
    size_bytes: int
    mtime_ns: int
    info: dict[str, Any] | None = None
    spans: list[tuple[float, float]] | None = None  # its time ranges, when cut
    parts: dict[int, _Part] = field(default_factory=dict)
    decode_s: float = 0.0
    encode_s: float = 0.0

    def part(self, i: int) -> _Part:
        return self.parts.setdefault(i, _Part())

    def done(self) -> bool:
        n = len(self.spans) if self.spans else 1
        return all(self.part(i).shots is not None for i in range(n))


class _WorkerPool:
    """Spawned decode workers fed from one task queue, answering on one bounded result queue.

    The parent keeps the queue short (:meth:`wants_tasks`), so that the ranges of a file cut
    for several workers go out before files still waiting.
    """

    def __init__(self, n: int, sampling: SamplingConfig, cfg: IngestConfig) -> None:
        self._ctx = mp.get_context("spawn")
        self.tasks = self._ctx.Queue()
        self.results = self._ctx.Queue(maxsize=max(4, 2 * cfg.resolved_workers()))
        self._args = (sampling.to_dict(), dataclasses.asdict(cfg))
        self.procs: list[Any] = []
        self.holding: dict[int, tuple[str, int]] = {}  # worker pid -> (key, part) it decodes
        self.dead: set[int] = set()  # pids of workers that died
        self.queued: set[tuple[str, int]] = set()  # (key, part) given out and not finished
        self.grow(n)

    def _start(self) -> None:
        p = self._ctx.Process(
            target=_worker_main, args=(self.tasks, self.results, *self._args), daemon=True
        )
        with main_not_rerun():  # a script without a __main__ guard is not run again
            p.start()
        self.procs.append(p)

    def grow(self, n: int) -> None:
        """Start workers until there are ``n``."""
        while len(self.procs) < n:
            self._start()

    def wants_tasks(self) -> bool:
        # one task waiting per worker, so none waits for the parent between two tasks
        return len(self.queued) < 2 * len(self.procs)

    def submit(self, task: _Task) -> None:
        self.tasks.put(task)
        self.queued.add((task.key, task.part))

    def finished(self, key: str, part: int) -> None:
        self.queued.discard((key, part))
        for pid, held in list(self.holding.items()):
            if held == (key, part):
                del self.holding[pid]

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
            held = self.holding.pop(p.pid, None)
            if held is not None:
                self.queued.discard(held)
                lost.append((held[0], int(p.exitcode or 0)))
            self._start()  # takes over the dead worker's place
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
    from .media import check_decode_device

    cfg = config or IngestConfig()
    t_start = time.perf_counter()
    report = IndexReport()
    lib._require_writer()
    check_decode_device(cfg.decode_device)
    job = lib.start_job("index " + " ".join(str(p) for p in paths))
    links: list[str] = []
    files, problems = discover(paths, links=links)
    report.failed.extend(problems)
    for problem in problems:  # listed by `vidlens info` too, unless the path does not exist
        if problem.reason != "no such file or folder":
            lib.record_failure(problem.path, problem.reason, None, None)
    lib.forget_failures(links)  # a link that failed before (broken then) and works now
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
    seen: dict[str, str] = {}  # content id -> the first path with it in this run
    for f in files:
        path = str(f)
        try:
            st = f.stat()
        except OSError as exc:
            _fail(lib, report, path, f"cannot read file: {exc.strerror or exc}", None, None)
            continue
        known = lib.known_file(path)
        repair = False
        if (
            known is not None
            and known["size_bytes"] == st.st_size
            and known["mtime_ns"] == st.st_mtime_ns
        ):
            problem = lib.damage(known["id"])
            if problem is None:
                report.skipped += 1
                continue
            logger.warning("%s: %s; indexing it again", path, problem)
            repair = True
        if st.st_size == 0:
            _fail(lib, report, path, "empty file (0 bytes)", st.st_size, st.st_mtime_ns)
            continue
        try:
            vid = content_id(f, st.st_size, full=cfg.full_hash)
        except OSError as exc:
            _fail(lib, report, path, f"cannot read file: {exc.strerror or exc}", None, None)
            continue
        if vid in seen:
            logger.info("%s has the same content as %s; skipped", path, seen[vid])
            report.skipped += 1
            report.duplicates.append((path, seen[vid]))
            continue
        seen[vid] = path
        other = lib.video_by_id(vid)
        if other is not None and not repair:
            if other["path"] != path and os.path.exists(other["path"]):
                logger.info("%s has the same content as %s; skipped", path, other["path"])
                report.duplicates.append((path, other["path"]))
                report.skipped += 1
                continue
            # touched (same bytes, new mtime) or moved here: no need to decode again, unless
            # its files in the library are damaged
            problem = lib.damage(vid)
            if problem is None:
                lib.update_path(vid, path, st.st_size, st.st_mtime_ns)
                report.skipped += 1
                continue
            logger.warning("%s: %s; indexing it again", path, problem)
        todo[vid] = _Pending(path, vid, st.st_size, st.st_mtime_ns)
    return todo


def _fail(
    lib: Library, report: IndexReport, path: str, reason: str, size: int | None, mtime: int | None
) -> None:
    if reason.startswith(path + ": "):  # media errors name the file; the record has it already
        reason = reason[len(path) + 2 :]
    # INFO: the run's report lists every failure (the CLI prints them once, at the end)
    logger.info("could not index %s: %s", path, reason)
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
    backlog: deque[_Task] = deque(_Task(key, p.path) for key, p in todo.items())

    def handle(msg: tuple[Any, ...]) -> None:
        kind, key, part = msg[0], msg[1], int(msg[2])
        p = todo.get(key)
        if p is None or key not in remaining:
            return
        if kind == "info":
            p.info = msg[3]
            event.seconds_total += float(msg[3]["duration_s"])
        elif kind == "spans":
            # the file is cut: its other ranges go out before any file still waiting
            p.spans = [(float(a), float(b)) for a, b in msg[3]]
            logger.info("%s: decoding in %d time ranges at once", p.path, len(p.spans))
            for i in range(len(p.spans) - 1, 0, -1):
                backlog.appendleft(_Task(key, p.path, i, p.spans[i], p.info))
        elif kind == "frames":
            _, _, _, times, keys, rgb, thumbs = msg
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
            got = p.part(part)
            got.times.extend(times)
            got.keys.extend(keys)
            got.vectors.append(vecs)
            got.thumbs.extend(thumbs)
            event.frames += len(times)
        elif kind == "done":
            shots, decode_s = msg[3], float(msg[4])
            stage["decode_s"] += decode_s
            p.decode_s += decode_s
            p.part(part).shots = shots
            if p.done():
                finish(p)
        elif kind == "error":
            remaining.discard(key)
            _fail(lib, report, p.path, msg[3], p.size_bytes, p.mtime_ns)
            step(p.path)

    def finish(p: _Pending) -> None:
        remaining.discard(p.video_id)
        parts = [p.parts[i] for i in sorted(p.parts)]
        times = [t for part in parts for t in part.times]
        if not times or p.info is None:
            _fail(lib, report, p.path, "no frame could be decoded", p.size_bytes, p.mtime_ns)
            step(p.path)
            return
        if any(b <= a for a, b in itertools.pairwise(times)):
            # cannot happen unless the ranges overlap: never store frames out of order
            _fail(
                lib,
                report,
                p.path,
                "its time ranges gave overlapping frames (a vidlens bug); index it again "
                "with split_min_s=0 and report the file",
                p.size_bytes,
                p.mtime_ns,
            )
            step(p.path)
            return
        t0 = time.perf_counter()
        lib.commit_video(
            video_id=p.video_id,
            path=p.path,
            size_bytes=p.size_bytes,
            mtime_ns=p.mtime_ns,
            info=p.info,
            times_s=times,
            keyframes=[k for part in parts for k in part.keys],
            vectors=np.concatenate([v for part in parts for v in part.vectors]),
            thumbs=[t for part in parts for t in part.thumbs],
            shots=p.part(0).shots or [],
            decode_s=p.decode_s,
            encode_s=p.encode_s,
        )
        stage["write_s"] += time.perf_counter() - t0
        report.indexed += 1
        report.frames += len(times)
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
                handle((msg[0], key, 0, *msg[1:]))
    else:
        from .media import SPAN_MODES

        # Workers for the files at hand; more start when a long file is cut into ranges.
        most = cfg.resolved_workers()
        splits = cfg.split_min_s > 0 and lib.sampling.mode in SPAN_MODES
        pool = _WorkerPool(min(most, len(todo)), lib.sampling, cfg)
        clean = False
        try:
            busy = most if splits else len(pool.procs)
            stack.enter_context(_encoder_threads(max(1, (os.cpu_count() or 1) - busy)))
            while remaining:
                while backlog and pool.wants_tasks():
                    task = backlog.popleft()
                    if task.key in remaining:
                        pool.submit(task)
                t0 = time.perf_counter()
                try:
                    msg = pool.results.get(timeout=0.5)
                except queue.Empty:
                    stage["wait_s"] += time.perf_counter() - t0
                    for key, code in pool.reap():
                        lose(key, f"the decoder crashed on this file (worker exit code {code})")
                    continue
                stage["wait_s"] += time.perf_counter() - t0
                kind, key, part = msg[0], msg[1], int(msg[2])
                if kind == "begin":
                    pid = int(msg[3])
                    if pid in pool.dead:  # it died right after taking this file
                        pool.finished(key, part)
                        lose(key, "the decoder crashed on this file")
                    else:
                        pool.holding[pid] = (key, part)
                    continue
                if kind in ("done", "error"):
                    pool.finished(key, part)
                elif kind == "spans":
                    pool.grow(min(most, len(msg[3]) + len(pool.procs) - 1))
                handle(msg)
            clean = True
        finally:
            stack.close()
            if clean:
                pool.close_tasks()
            # ranges of a file that failed may still be decoding: nothing waits for them
            pool.shutdown(force=not clean or bool(pool.queued))
    report.timings.update(stage)
