"""Cut one long video into time ranges that separate processes can decode at once.

FFmpeg's own threads make one decoder at 1 fps sampling little faster (it decodes few frames,
each depending on the last: 1.3x on 2 cores in bench/ingest.py), so a two-hour lecture would
keep about one core busy while the others wait. :class:`~vidlens.media.FrameSampler` can decode
one time range (``span``) and give exactly the frames a whole pass gives there; this module
chooses the ranges.

A range is cheapest when it starts just after a keyframe: the sampler starts decoding at the
last keyframe before a range's start, so nothing before that keyframe is decoded twice. Keyframe
times come from the container's index (MP4/MOV read it with the header), not from decoding.
Ranges may instead start on a time grid (ingest cuts its frame batches on one, so that a video
cut into ranges is encoded in the very same batches as in one piece); then the reference frames
between the last keyframe and the grid line are decoded by both neighbours (at most one GOP).
"""

from __future__ import annotations

import bisect
import itertools
import logging
import math
import os
from fractions import Fraction

import av

from .media import VideoInfo, _check_file, _open_input, _path_str, _video_stream, probe_video

__all__ = ["keyframe_spans", "keyframe_times", "spans_from_keyframes"]

logger = logging.getLogger(__name__)

# A range starts this fraction of a frame interval after its keyframe: after the keyframe and
# before the next frame, so the keyframe belongs to the range before (a frame given twice or
# lost is impossible wherever a range starts; this only keeps the work from overlapping).
_AFTER_KEYFRAME_FRAMES = 0.25


def keyframe_times(path: str | os.PathLike[str], *, info: VideoInfo | None = None) -> list[float]:
    """Presentation times (seconds from the stream's start, ascending) of the video's keyframes.

    Read from the container's index without decoding; an empty list when the container has no
    usable index (MPEG-TS, raw streams, Matroska whose cues are not loaded yet). Raises
    :class:`~vidlens.errors.MediaError` for a file that cannot be opened.
    """
    spath = _path_str(path)
    _check_file(spath)
    info = info if info is not None else probe_video(spath)
    container = _open_input(spath)
    try:
        stream = _video_stream(container, spath)
        index = stream.index_entries
        if len(index) < 2:
            return []
        time_base = stream.time_base or Fraction(1, 90000)
        if stream.start_time is not None:
            start_pts = stream.start_time
        else:
            start_pts = round(Fraction(info.start_s) / time_base)
        # Index timestamps are decode times; keyframes are shown a fixed delay later when the
        # stream has B-frames (the first packet tells by how much).
        offset = 0
        try:
            for packet in container.demux(stream):
                if packet.pts is not None and packet.dts is not None and packet.is_keyframe:
                    offset = packet.pts - packet.dts
                if packet.size > 0:
                    break
        except (av.error.FFmpegError, OSError) as exc:
            logger.debug("%s: reading the first packet failed: %s", spath, exc)
        times = sorted(
            float((e.timestamp + offset - start_pts) * time_base)
            for e in index
            if e.is_keyframe and not e.is_discard
        )
        return times
    finally:
        container.close()


def spans_from_keyframes(
    keyframes_s: list[float],
    duration_s: float,
    count: int,
    *,
    fps: float,
    grid_s: float | None = None,
) -> list[tuple[float, float]]:
    """Up to ``count`` consecutive ranges ``[start_s, end_s)`` covering the whole time line.

    The ranges are about ``duration_s / count`` long; each but the first starts a quarter frame
    interval (``1 / fps``) after a keyframe of ``keyframes_s`` (ascending seconds), or with
    ``grid_s`` at the first multiple of ``grid_s`` after that keyframe. The first starts at 0.0
    and the last ends at ``math.inf``, so no frame falls outside them. Fewer ranges come back
    when there are too few keyframes; one (``[(0.0, inf)]``) when there are none.
    """
    bounds: list[float] = []
    if count > 1 and duration_s > 0:
        after_s = _AFTER_KEYFRAME_FRAMES / fps if fps > 0 else 1e-3
        usable = [k for k in keyframes_s if k > 0]
        for j in range(1, count):
            ideal = duration_s * j / count
            i = bisect.bisect_left(usable, ideal)
            near = [usable[n] for n in (i - 1, i) if 0 <= n < len(usable)]
            if not near:
                continue
            start = min(near, key=lambda k: abs(k - ideal)) + after_s
            if grid_s:
                start = math.ceil(start / grid_s) * grid_s
            if start < duration_s and (not bounds or start > bounds[-1]):
                bounds.append(start)
    edges = [0.0, *bounds, math.inf]
    return list(itertools.pairwise(edges))


def keyframe_spans(
    path: str | os.PathLike[str],
    count: int,
    *,
    info: VideoInfo | None = None,
    grid_s: float | None = None,
) -> list[tuple[float, float]]:
    """:func:`spans_from_keyframes` for a file: up to ``count`` ranges of about equal duration.

    One range (the whole video) when the container has no keyframe index.
    """
    spath = _path_str(path)
    info = info if info is not None else probe_video(spath)
    keyframes = keyframe_times(spath, info=info) if count > 1 else []
    return spans_from_keyframes(keyframes, info.duration_s, count, fps=info.fps, grid_s=grid_s)
