"""Generate a synthetic set: sample specs, render videos (worker processes), write annotations."""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from .._spawn import main_not_rerun
from ..errors import ConfigError
from .annotations import write_annotations
from .render import write_video
from .world import SPLITS, VideoSpec, WorldConfig, sample_video

__all__ = ["GenerateReport", "generate", "sample_split"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class GenerateReport:
    out: str
    split: str
    seed: int
    count: int
    rendered: int  # videos written by this run (the others were already there)
    seconds: float
    videos_per_s: float  # rendering + encoding speed of this run

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def sample_split(
    seed: int, split: str, count: int, cfg: WorldConfig | None = None, start: int = 0
) -> list[VideoSpec]:
    """Specs of videos ``start .. start + count - 1`` of ``split``."""
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    if count < 0:
        raise ConfigError(f"count must be >= 0, got {count}")
    return [sample_video(seed, split, i, cfg) for i in range(start, start + count)]


def _render_one(args: tuple[VideoSpec, str]) -> str:
    video, path = args
    write_video(video, path)
    return path


def generate(
    out: str | os.PathLike[str],
    *,
    count: int,
    seed: int = 0,
    split: str = "train",
    config: WorldConfig | None = None,
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> GenerateReport:
    """Write ``count`` videos of ``split`` to ``out/videos/<vid>.mp4`` and their annotations.

    Re-running with the same arguments only renders the videos that are missing (files are
    written atomically), so an interrupted run can simply be repeated.
    """
    cfg = config or WorldConfig()
    root = Path(out)
    videos = sample_split(seed, split, count, cfg)
    (root / "videos").mkdir(parents=True, exist_ok=True)
    todo = [(v, str(root / "videos" / f"{v.vid}.mp4")) for v in videos]
    todo = [(v, p) for v, p in todo if not Path(p).is_file()]
    started = time.perf_counter()
    done = 0
    if workers > 1 and len(todo) > 1:
        with main_not_rerun():  # a script without a __main__ guard is not run again
            pool = mp.get_context("spawn").Pool(workers)
        with pool:
            for _ in pool.imap_unordered(_render_one, todo, chunksize=4):
                done += 1
                if progress:
                    progress(done, len(todo))
    else:
        for item in todo:
            _render_one(item)
            done += 1
            if progress:
                progress(done, len(todo))
    seconds = time.perf_counter() - started
    write_annotations(root, videos)
    meta = {"seed": seed, "split": split, "count": count, "world": asdict(cfg)}
    (root / "annotations" / "synth.json").write_text(json.dumps(meta, indent=2) + "\n")
    return GenerateReport(
        out=str(root),
        split=split,
        seed=seed,
        count=count,
        rendered=len(todo),
        seconds=round(seconds, 3),
        videos_per_s=round(len(todo) / seconds, 3) if seconds > 0 and todo else 0.0,
    )
