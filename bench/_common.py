"""Helpers shared by the benchmark scripts: machine facts, timers, memory, cached media, output.

The machines we benchmark on are shared, so every figure is printed with the load average at the
time it was taken, and CPU seconds are recorded next to wall seconds: ``video-s per CPU-s`` does
not depend on how many other processes share the cores, wall throughput does.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
OUT_DIR = BENCH_DIR / "out"  # gitignored
OUT_HELP = "where the figures go: NAME (bench/out/NAME.json) or a path ending in .json"
MEDIA_DIR = OUT_DIR / "media"  # generated videos, reused between runs (delete to regenerate)


def set_out_dir(path: str | os.PathLike[str]) -> None:
    """Write figures, generated media and cached libraries under ``path`` instead."""
    global OUT_DIR, MEDIA_DIR
    OUT_DIR = Path(path).resolve()
    MEDIA_DIR = OUT_DIR / "media"


def shown(path: Path) -> str:
    """``path`` relative to the repository when it is inside it."""
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


if str(REPO_ROOT / "tests") not in sys.path:  # videogen lives with the tests
    sys.path.insert(0, str(REPO_ROOT / "tests"))


def loadavg() -> list[float]:
    """The 1, 5 and 15 minute load averages, rounded."""
    return [round(x, 2) for x in os.getloadavg()]


def load_note() -> str:
    """``load 1.23/1.50/1.10 on 2 cores`` for a printed figure."""
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f}/{five:.2f}/{fifteen:.2f} on {os.cpu_count()} cores"


def machine_info() -> dict[str, Any]:
    """What the figures were measured on."""
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "loadavg": loadavg(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        info["mem_total_gb"] = round(int(Path("/proc/meminfo").read_text().split()[1]) / 2**20, 1)
    except OSError:
        pass
    return info


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and its waited-for children."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


@dataclass
class Measure:
    """Wall and CPU seconds of one timed block, with the load average at its end."""

    wall_s: float = 0.0
    cpu_s: float = 0.0
    load: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"wall_s": round(self.wall_s, 4), "cpu_s": round(self.cpu_s, 4), "load": self.load}


@contextmanager
def measure() -> Iterator[Measure]:
    """Time a block: wall seconds and CPU seconds (this process and waited-for children)."""
    m = Measure()
    wall0, cpu0 = time.perf_counter(), cpu_seconds()
    try:
        yield m
    finally:
        m.wall_s = time.perf_counter() - wall0
        m.cpu_s = cpu_seconds() - cpu0
        m.load = loadavg()


def best_seconds(jobs: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Best wall seconds of each job over ``repeats`` rounds (after one warm-up call each: kernel
    selection, allocator); the jobs take turns within each round so that a burst of load from
    another process hits all of them alike."""
    for job in jobs.values():
        job()
    best = dict.fromkeys(jobs, float("inf"))
    for _ in range(repeats):
        for name, job in jobs.items():
            started = time.perf_counter()
            job()
            best[name] = min(best[name], time.perf_counter() - started)
    return best


# ----------------------------------------------------------------------------- memory
def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _descendants(root: int) -> list[int]:
    """Pids of every process below ``root`` (from each process's parent pid in /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # the command name may hold spaces and parentheses: fields start after the last ')'
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 1:
            children.setdefault(int(fields[1]), []).append(int(entry))
    out, todo = [], [root]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


class RssMonitor:
    """Peak of (RSS of this process + RSS of all its descendants), sampled every ``interval_s``.

    A sampled sum can miss a spike shorter than the interval; the kernel's own high-water marks
    (``VmHWM`` of this process, ``RUSAGE_CHILDREN`` maxrss of the largest waited-for child) are
    recorded too, as a cross-check.
    """

    def __init__(self, interval_s: float = 0.1) -> None:
        self.interval_s = interval_s
        self.peak_total_kb = 0
        self.peak_self_kb = 0
        self.peak_children_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _sample(self) -> None:
        me = os.getpid()
        own = _rss_kb(me)
        kids = sum(_rss_kb(p) for p in _descendants(me))
        self.peak_self_kb = max(self.peak_self_kb, own)
        self.peak_children_kb = max(self.peak_children_kb, kids)
        self.peak_total_kb = max(self.peak_total_kb, own + kids)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval_s)

    def __enter__(self) -> RssMonitor:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def to_dict(self) -> dict[str, Any]:
        return {
            "peak_total_mb": round(self.peak_total_kb / 1024, 1),
            "peak_parent_mb": round(self.peak_self_kb / 1024, 1),
            "peak_children_mb": round(self.peak_children_kb / 1024, 1),
            "parent_hwm_mb": round(_hwm_kb() / 1024, 1),
            "largest_child_maxrss_mb": round(
                resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1
            ),
        }


def _hwm_kb() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


# ----------------------------------------------------------------------------- media
def benchmark_video(
    seconds: float,
    size: tuple[int, int] = (1280, 720),
    fps: int = 30,
    *,
    seed: int = 0,
    folder: Path | None = None,
    gop: int = 250,
) -> Path:
    """A cached :func:`videogen.write_benchmark_video` clip (written once, then reused).

    ``gop``: frames between keyframes (x264's default 250; cameras write about one second).
    """
    from videogen import write_benchmark_video

    folder = folder or MEDIA_DIR
    folder.mkdir(parents=True, exist_ok=True)
    gop_part = "" if gop == 250 else f"-gop{gop}"
    name = f"bench-{seconds:g}s-{size[0]}x{size[1]}-{fps}fps{gop_part}-seed{seed}-pan10.mp4"
    path = folder / name
    if path.exists():
        return path
    started = time.perf_counter()
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".mp4", dir=folder)
    os.close(fd)
    try:
        write_benchmark_video(tmp, seconds, size=size, fps=fps, seed=seed, gop=gop)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    print(
        f"# generated {path.name} in {time.perf_counter() - started:.1f} s ({load_note()})",
        flush=True,
    )
    return path


# ----------------------------------------------------------------------------- output
def out_path(name: str, out_dir: Path | None = None) -> Path:
    """Where ``--out NAME`` writes: ``bench/out/NAME.json``, or NAME itself when it is a path.

    A path is a name with a folder in it or ending in ``.json`` (relative to the current folder).
    """
    if os.sep in name or "/" in name or name.endswith(".json"):
        return Path(name).expanduser().resolve()
    return (out_dir or OUT_DIR) / f"{name}.json"


def check_out(name: str) -> Path:
    """Fail now, not after a long run, when ``--out NAME`` cannot be written; returns the path."""
    path = out_path(name)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = exc.strerror or exc
        raise SystemExit(f"--out {name}: cannot create {path.parent}: {reason}") from exc
    if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise SystemExit(f"--out {name}: {path} is not writable")
    return path


def write_json(name: str, data: dict[str, Any], out_dir: Path | None = None) -> Path:
    """Write the figures of a run where ``--out NAME`` says (see :func:`out_path`)."""
    path = out_path(name, out_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    return path


def finish(name: str, results: dict[str, Any]) -> int:
    """End a run: note the load at the end, write the JSON (:func:`out_path`), say where."""
    results["loadavg_end"] = loadavg()
    path = write_json(name, results)
    print(f"\n# wrote {shown(path)}  ({load_note()})")
    return 0


def ratio_line(name: str, value: float, goal: str, detail: str = "") -> str:
    """One ``ratio ...`` line, the form the smoke test looks for."""
    met = _goal_met(value, goal)
    verdict = "" if met is None else ("  [goal met]" if met else "  [goal NOT met]")
    extra = f"  ({detail})" if detail else ""
    return f"ratio {name}: {value:.3f} (goal {goal}){verdict}{extra}"


def _goal_met(value: float, goal: str) -> bool | None:
    goal = goal.strip().rstrip("x")
    for op in (">=", "<=", ">", "<"):
        if goal.startswith(op):
            try:
                bound = float(goal[len(op) :])
            except ValueError:
                return None
            return {
                ">=": value >= bound,
                "<=": value <= bound,
                ">": value > bound,
                "<": value < bound,
            }[op]
    return None
