"""Moments and highlights from a video's frame-similarity curve (DESIGN.md §6).

Input is one video's curve: the cosine similarity of a text query to each sampled frame, at the
frames' presentation times. Frames may be sampled irregularly; a frame at ``t`` stands for the
*cell* from the midpoint with its previous frame to the midpoint with its next one (the first cell
starts at 0, the last ends at the video's duration), so windows are in seconds and snap to cell
boundaries, and every mean over a window is weighted by the seconds each frame stands for.

:func:`find_moments`:

1. **Proposals.** Sliding windows whose lengths go from the whole video down by ``scale_ratio`` to
   ``min_window_s`` (so the same settings serve a 1-s clip and a 5-hour video), with a stride of
   ``stride_ratio`` of their length; plus threshold grouping (TAG-style): runs of frames whose
   Gaussian-smoothed similarity stays above several levels between the curve's minimum and maximum,
   and pairs of neighbouring runs joined across their gap. Runs give exact boundaries; sliding
   windows guarantee coverage when the curve has no clean runs.
2. **Score.** ``contrast - confidence_z * standard_error + level_weight * inside_mean`` where
   ``contrast`` is the mean similarity inside minus the mean outside. Contrast against the
   *outside* (not the whole video) ranks the right window first both when the video is mostly
   irrelevant and when the relevant part is most of the video. The standard error (frame noise
   estimated from the curve's first differences) times ``confidence_z`` (default ``sqrt(2 ln T)``,
   about the largest value noise alone reaches in ``T`` frames) keeps a lucky noisy frame or
   stretch from beating a real segment, and makes the whole video win — with its low,
   contrast-free score — when nothing stands out. The small ``inside_mean`` term makes moments
   from different videos comparable: a window that matches the text better ranks higher when
   contrasts are equal. Windows whose inside is not above their outside are not moments and are
   dropped (the whole video is always kept).
3. **Suppress, refine, suppress.** Temporal NMS picks a diverse pool; each window's start and end
   are then moved, by up to ``refine_ratio`` of its length per round until they settle, to the
   split that best separates inside from outside (the between-group sum of squares of a
   change-point fit: under noise, mean contrast barely prefers the true edges over a lucky
   sub-window, this criterion does); the pool is re-scored, and NMS returns the top
   ``max_moments``.
4. **Re-rank (encoders with a temporal head).** The curve scores each frame on its own; an
   encoder with a temporal head (vidlens-tiny, ``vidlens train`` exports) can also match each
   returned window *as a clip* with the query, seeing which way things change inside it. The
   library adds ``head_weight * (match - mean match of the video's windows)`` to each score
   and re-sorts (:func:`rerank_moments`); the windows themselves do not change, and a
   whole-video first answer (nothing stands out) stays first. On the synthetic test split this
   lifts vidlens-tiny's R1@0.5 from 0.496 to 0.521 (weight 1, chosen on the validation split:
   0.524 -> 0.559).

Cost is O(T + proposals); there are about ``8 * duration / min_window_s`` proposals (fewer when
frames are sparser than ``min_window_s``), whatever the frame rate. Window means come from
cumulative sums; suppression sorts only the best-ranked proposals it reaches, and refinement moves
the edges of the whole pool in one vectorised pass per round. An hour at 1 fps takes about 7 ms
and 20,000 frames (5.5 hours) about 28 ms of CPU on a shared, busy 2-core box.
:func:`find_moments_batch` takes several videos (a search's hits) with the same results, refining,
scoring and suppressing their pools together: ten hits of the 1M-frame benchmark (median 13
minutes at 1 fps) take about 18 ms, and :func:`saliency_scores_batch` 2 ms. The steps themselves
live in :mod:`vidlens.query._windows`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import ConfigError, QueryError
from . import _windows as w
from ._windows import Float64Array, IntArray

__all__ = [
    "MomentConfig",
    "find_moments",
    "find_moments_batch",
    "moment_to_qvh",
    "rerank_moments",
    "saliency_scores",
    "saliency_scores_batch",
]

logger = logging.getLogger(__name__)

Moment = tuple[float, float, float]

# NMS keeps this many times max_moments candidates for boundary refinement.
_POOL_FACTOR = 3


@dataclass(frozen=True)
class MomentConfig:
    """Settings of :func:`find_moments`; the defaults suit 1-fps sampling of any length."""

    smooth_s: float = 1.0  # Gaussian sigma (s) of the curve used for threshold grouping; 0 = off
    min_window_s: float = 1.0  # shortest sliding window (never shorter than a median frame cell)
    scale_ratio: float = 2.0  # sliding-window lengths: duration, duration/r, ..., >= min_window_s
    stride_ratio: float = 0.25  # sliding-window stride as a fraction of the window's length
    thresholds: tuple[float, ...] = (0.2, 0.35, 0.5, 0.65, 0.8)  # grouping levels, 0=min 1=max
    refine_ratio: float = 0.25  # boundary search radius as a fraction of window length; 0 = off
    confidence_z: float | None = None  # standard errors off the contrast; None: sqrt(2 ln T)
    level_weight: float = 0.1  # weight of the window's own mean similarity in its score
    nms_iou: float = 0.5  # a window overlapping a better one by more than this IoU is dropped
    max_moments: int = 10  # moments returned per video
    # weight of the temporal head's match of each window with the query when the library
    # re-ranks a video's moments (encoders with a head only; 0 = off); see step 4 above
    head_weight: float = 1.0

    def __post_init__(self) -> None:
        _check(self.smooth_s >= 0, "smooth_s", self.smooth_s, ">= 0 seconds")
        _check(self.min_window_s > 0, "min_window_s", self.min_window_s, "> 0 seconds")
        _check(self.scale_ratio > 1, "scale_ratio", self.scale_ratio, "> 1 (2 is a good start)")
        _check(0 < self.stride_ratio <= 1, "stride_ratio", self.stride_ratio, "in (0, 1]")
        _check(0 <= self.refine_ratio <= 1, "refine_ratio", self.refine_ratio, "in [0, 1]")
        if self.confidence_z is not None:
            _check(self.confidence_z >= 0, "confidence_z", self.confidence_z, ">= 0 or None")
        _check(self.level_weight >= 0, "level_weight", self.level_weight, ">= 0")
        _check(self.head_weight >= 0, "head_weight", self.head_weight, ">= 0 (0: off)")
        _check(0 < self.nms_iou <= 1, "nms_iou", self.nms_iou, "in (0, 1]")
        if not (isinstance(self.thresholds, tuple) and self.thresholds) or not all(
            isinstance(r, float | int) and 0 < r < 1 for r in self.thresholds
        ):
            raise ConfigError(
                f"moment thresholds must be a non-empty tuple of numbers in (0, 1) (fractions of "
                f"the way from the curve's minimum to its maximum), got {self.thresholds!r}"
            )
        if isinstance(self.max_moments, bool) or not isinstance(self.max_moments, int):
            raise ConfigError(f"max_moments must be an integer >= 1, got {self.max_moments!r}")
        _check(self.max_moments >= 1, "max_moments", self.max_moments, ">= 1")


def _check(ok: bool, name: str, value: float, rule: str) -> None:
    if not ok or not math.isfinite(value):
        raise ConfigError(f"moment setting {name} must be {rule}, got {value!r}")


def find_moments(
    times_s: NDArray[np.floating],
    sims: NDArray[np.floating],
    duration_s: float,
    config: MomentConfig = MomentConfig(),
) -> list[Moment]:
    """The best-matching windows of one video.

    Args:
        times_s: ``(T,)`` frame times in seconds, ``T >= 1``, any order; frames at the same
            time (to the microsecond) are averaged, times outside ``[0, duration_s]`` are clipped
            to it.
        sims: ``(T,)`` similarity of the query to each frame.
        duration_s: the video's duration in seconds, ``> 0``.
        config: proposal, scoring and suppression settings.

    Returns:
        Up to ``config.max_moments`` ``(start_s, end_s, score)`` tuples of plain floats, best
        first; equal scores put the earlier start (then the longer window) first. Always
        ``0 <= start_s < end_s <= duration_s``; a curve without contrast gives ``[(0, duration,
        low score)]``.
    """
    return find_moments_batch([(times_s, sims, duration_s)], config)[0]


def find_moments_batch(
    videos: Sequence[tuple[NDArray[np.floating], NDArray[np.floating], float]],
    config: MomentConfig = MomentConfig(),
) -> list[list[Moment]]:
    """:func:`find_moments` of several videos, exactly; one list of moments per video, in order.

    Args:
        videos: ``(times_s, sims, duration_s)`` per video, as :func:`find_moments` takes them.
        config: proposal, scoring and suppression settings, shared by all videos.

    The thousands of proposals of a video are made, scored and suppressed one video at a time
    (arrays that fit in cache: stacking all videos' proposals was slower); everything after that,
    on tens of windows per video, runs for all videos at once.

    Raises:
        QueryError: as :func:`find_moments` does, for the first video whose input is invalid.
    """
    if not videos:
        return []
    stack = w.Stack([w.Curve.build(t, s, d) for t, s, d in videos])
    scorer = w.WindowScorer(stack, config)
    pool_size = _POOL_FACTOR * config.max_moments
    pools: list[tuple[IntArray, IntArray]] = []
    for v, curve in enumerate(stack.curves):
        a, b = w.proposals(curve, stack.cell_s[stack.frames(v)], config)
        kept, score = scorer.moments(a, b, v)
        a, b = a[kept], b[kept]
        pool = w.rank_and_suppress(
            curve.edges_s[a], curve.edges_s[b], score, config.nms_iou, pool_size
        )
        pools.append((a[pool], b[pool]))
    video = np.repeat(np.arange(stack.n_videos), [a.size for a, _ in pools])
    a, b = np.concatenate([a for a, _ in pools]), np.concatenate([b for _, b in pools])
    if config.refine_ratio > 0:
        a, b = w.refine(scorer, a, b, video, config.refine_ratio)
        video, a, b = w.unique_stacked_windows(a, b, video, stack.n_frames)
    kept, score = scorer.moments(a, b, video)
    video, a, b = video[kept], a[kept], b[kept]
    at = stack.edge_start[video]
    start, end = stack.edges_s[a + at], stack.edges_s[b + at]
    best = w.suppress(start, end, score, video, stack.n_videos, config.nms_iou, config.max_moments)
    moments = zip(start[best].tolist(), end[best].tolist(), score[best].tolist(), strict=True)
    return stack.split(list(moments), video[best])


def rerank_moments(
    moments: Sequence[Moment],
    match: NDArray[np.floating],
    weight: float,
    duration_s: float | None = None,
) -> list[Moment]:
    """Moments re-scored by a second, independent match of each window with the query.

    Each score becomes ``score + weight * (match - mean(match))`` (the mean over these
    moments, so a video's scores keep their level); best first, equal scores putting the earlier
    start, then the longer window, first, as :func:`find_moments` does. When the first moment
    is the whole video (``0..duration_s``) — the curve's answer when nothing in it stands out —
    it stays first: the second match re-orders the alternatives, it does not overrule that.

    Args:
        moments: ``(start_s, end_s, score)`` of one video, best first.
        match: ``(len(moments),)`` similarity of each window, as a whole, to the query.
        weight: how much the match counts, in units of the moment score; 0 keeps the order.
        duration_s: the video's duration, to recognise the whole-video moment.
    """
    m = np.asarray(match, dtype=np.float64)
    if m.shape != (len(moments),) or not np.all(np.isfinite(m)):
        raise QueryError(f"need one finite match per moment: {m.shape} for {len(moments)}")
    if not moments or weight == 0:
        return list(moments)
    rescored = [(s, e, float(sc + weight * (x - m.mean())))
                for (s, e, sc), x in zip(moments, m.tolist(), strict=True)]  # fmt: skip
    first = moments[0]
    whole = duration_s is not None and first[0] <= 0 and first[1] >= duration_s - 1e-6
    head = rescored[:1] if whole else []
    rest = sorted(rescored[len(head) :], key=lambda w: (-w[2], w[0], -(w[1] - w[0])))
    if head and rest and rest[0][2] > head[0][2]:  # scores stay in the order shown
        shift = rest[0][2] - head[0][2]
        rest = [(s, e, sc - shift) for s, e, sc in rest]
    return head + rest


def saliency_scores(
    times_s: NDArray[np.floating],
    sims: NDArray[np.floating],
    duration_s: float,
    clip_s: float = 2.0,
) -> list[float]:
    """One highlight score per fixed-length clip (QVHighlights: 2-s clips).

    The score of a clip is the time-average over the clip of the curve linearly interpolated
    between frames (constant before the first frame and after the last), so clips without a frame
    get the interpolated value and clips with several frames their average.

    Returns:
        ``ceil(duration_s / clip_s)`` plain floats; the last clip may be shorter than ``clip_s``.
    """
    return saliency_scores_batch([(times_s, sims, duration_s)], clip_s)[0]


def saliency_scores_batch(
    videos: Sequence[tuple[NDArray[np.floating], NDArray[np.floating], float]],
    clip_s: float = 2.0,
) -> list[list[float]]:
    """:func:`saliency_scores` of several videos in one pass, exactly; one list per video.

    Raises:
        ConfigError: when ``clip_s`` is not a number of seconds ``> 0``.
        QueryError: as :func:`find_moments` does, for the first video whose input is invalid.
    """
    if not (math.isfinite(clip_s) and clip_s > 0):
        raise ConfigError(f"clip_s must be a number of seconds > 0, got {clip_s!r}")
    if not videos:
        return []
    stack = w.Stack([w.Curve.build(t, s, d) for t, s, d in videos])
    n_clips = [max(1, math.ceil(c.duration_s / clip_s - 1e-9)) for c in stack.curves]
    clip_video = np.repeat(np.arange(stack.n_videos), n_clips)
    clip_bounds = np.concatenate([[0], np.cumsum(n_clips)])
    lo = (np.arange(clip_bounds[-1]) - clip_bounds[clip_video]) * clip_s
    hi = np.minimum(lo + clip_s, stack.durations[clip_video])
    offset = stack.means()  # integrate the centred curves: smaller sums, less rounding
    t, s = stack.times_s, stack.sims - offset[stack.frame_video]
    first, last = stack.frame_start, stack.frame_start + stack.n_frames - 1
    dt, ds = t[1:] - t[:-1], s[1:] - s[:-1]  # the last of each video's reaches into the next
    slope = np.zeros_like(s)
    np.divide(ds, dt, out=slope[:-1], where=stack.frame_video[1:] == stack.frame_video[:-1])
    head = t[first] * s[first]  # a curve is constant before its first frame
    trapezoids = dt * (s[1:] + s[:-1]) / 2
    at_knots = np.empty_like(s)  # the integral up to each frame, per video
    for v, (f0, f1) in enumerate(zip(first.tolist(), last.tolist(), strict=True)):
        at_knots[f0] = head[v]
        at_knots[f0 + 1 : f1 + 1] = head[v] + np.cumsum(trapezoids[f0:f1])

    def integral(x: Float64Array) -> Float64Array:
        i = stack.searchsorted_times(x, clip_bounds) - 1
        before = i < 0
        g = np.clip(i, 0, stack.n_frames[clip_video] - 1) + first[clip_video]
        dx = x - t[g]
        after = at_knots[g] + dx * s[g] + 0.5 * dx * dx * slope[g]
        return np.where(before, x * s[first[clip_video]], after)

    width = hi - lo
    tiny = width < 1e-6 * clip_s  # a sliver of a last clip: its point value, not 0/0
    scores = (integral(hi) - integral(lo)) / np.where(tiny, 1.0, width)
    for v in np.unique(clip_video[tiny]).tolist():
        clips, frames = slice(clip_bounds[v], clip_bounds[v + 1]), stack.frames(v)
        point = np.interp((lo[clips] + hi[clips]) / 2, t[frames], s[frames])
        scores[clips] = np.where(tiny[clips], point, scores[clips])
    return stack.split((scores + offset[clip_video]).tolist(), clip_video)


def moment_to_qvh(
    times_s: NDArray[np.floating],
    sims: NDArray[np.floating],
    duration_s: float,
    config: MomentConfig = MomentConfig(),
    *,
    clip_s: float = 2.0,
) -> dict[str, Any]:
    """The QVHighlights prediction fields for one (query, video) curve.

    Returns:
        ``{"pred_relevant_windows": [[start_s, end_s, score], ...], "pred_saliency_scores":
        [...]}``; the caller adds ``qid``, ``query`` and ``vid``.
    """
    moments = find_moments(times_s, sims, duration_s, config)
    return {
        "pred_relevant_windows": [[st, ed, sc] for st, ed, sc in moments],
        "pred_saliency_scores": saliency_scores(times_s, sims, duration_s, clip_s),
    }
