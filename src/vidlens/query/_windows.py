"""The window machinery behind :mod:`vidlens.query.moments`: curves, proposals, scores,
suppression and boundary refinement (the steps its docstring lists).

Videos are processed together where that saves numpy calls (a search's ten hits), one at a time
where arrays of thousands of windows per video must stay in cache; every step computes the same
numbers for a video whatever else is in the batch.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import NDArray

from ..errors import QueryError

if TYPE_CHECKING:
    from .moments import MomentConfig

logger = logging.getLogger(__name__)

Float64Array = NDArray[np.float64]
IntArray = NDArray[np.intp]

# Frame times are taken to the microsecond; frames closer than that are one frame.
TIME_DECIMALS = 6
# Gaussian kernels are cut at this many sigmas (the rest weighs < 1.2%).
GAUSS_TRUNCATE = 3.0
# Rows x neighbours per smoothing chunk, to bound memory on dense, long curves.
CHUNK_ELEMENTS = 1 << 20
# Below this many frames, first differences say nothing about noise: the curve is taken as exact.
MIN_FRAMES_FOR_NOISE = 8
# Median absolute deviation -> standard deviation for Gaussian noise.
MAD_TO_SD = 1.4826
# Contrasts at or below this are "no contrast" (cumulative sums leave ~1e-12 of rounding noise).
CONTRAST_TOL = 1e-9
# Scores are rounded so that equal windows tie exactly and the documented tie-break decides.
SCORE_DECIMALS = 10
# NMS first ranks this many windows per window it may keep (it keeps about 1 in 2 of the best),
# and compares ranked windows with each other this many at a time (the first block usually
# holds all the windows it keeps).
NMS_FIRST_CHUNK_FACTOR = 4
NMS_BLOCK = 64
# Boundary refinement searches at least this many frames each way, for at most this many rounds
# (each round may move an edge by refine_ratio of the window's length; 16 rounds is far enough).
MIN_REFINE_FRAMES = 2
MAX_REFINE_ROUNDS = 16


@dataclass(frozen=True)
class Curve:
    times_s: Float64Array  # (T,) strictly increasing, within [0, duration_s]
    sims: Float64Array  # (T,)
    edges_s: Float64Array  # (T + 1,) cell boundaries: 0, midpoints, duration_s
    duration_s: float

    @property
    def n_frames(self) -> int:
        return int(self.sims.size)

    @classmethod
    def build(
        cls, times_s: NDArray[np.floating], sims: NDArray[np.floating], duration_s: float
    ) -> Curve:
        t = np.asarray(times_s, dtype=np.float64)
        s = np.asarray(sims, dtype=np.float64)
        if t.ndim != 1 or s.ndim != 1 or t.size != s.size or t.size == 0:
            raise QueryError(
                f"times_s and sims must be non-empty 1-D arrays of the same length (one entry per "
                f"frame), got shapes {t.shape} and {s.shape}"
            )
        if not (np.all(np.isfinite(t)) and np.all(np.isfinite(s))):
            raise QueryError("times_s or sims contain NaN or infinity; re-index the video")
        duration = float(duration_s)
        if not (math.isfinite(duration) and duration > 0):
            raise QueryError(
                f"duration_s must be a number of seconds > 0, got {duration_s!r}; probe the "
                "video again"
            )
        if t.min() < 0 or t.max() > duration:
            logger.debug(
                "clipping frame times %.3f..%.3f s to [0, %.3f]", t.min(), t.max(), duration
            )
        # Microseconds are finer than any stream's time base; coarser keys keep cells measurable.
        t = np.clip(np.round(np.clip(t, 0.0, duration), TIME_DECIMALS), 0.0, duration)
        if not np.all(t[1:] > t[:-1]):  # stored frames come sorted and distinct: no sort then
            order = np.argsort(t, kind="stable")
            t, s = t[order], s[order]
            unique_t, inverse = np.unique(t, return_inverse=True)
            if unique_t.size < t.size:  # frames at the same time: one frame with their mean
                s = np.bincount(inverse, weights=s) / np.bincount(inverse)
                t = unique_t
        edges = np.concatenate([[0.0], (t[1:] + t[:-1]) / 2, [duration]])
        return cls(times_s=t, sims=s, edges_s=edges, duration_s=duration)


class Stack:
    """The curves of several videos end to end, so that elementwise steps run once for all.

    Video ``v`` owns frames ``frame_start[v] .. + n_frames[v]`` of the frame arrays and cell
    edges ``edge_start[v] .. + n_frames[v] + 1`` of ``edges_s``. Nothing runs across the seam
    between two videos: sums restart per video, and searches stay in one video.
    """

    def __init__(self, curves: Sequence[Curve]) -> None:
        self.curves = list(curves)
        self.n_videos = len(self.curves)
        self.n_frames = np.array([c.n_frames for c in self.curves], dtype=np.intp)
        self.frame_start = np.cumsum(self.n_frames) - self.n_frames
        self.edge_start = self.frame_start + np.arange(self.n_videos)
        self.frame_video = np.repeat(np.arange(self.n_videos), self.n_frames)
        self.durations = np.array([c.duration_s for c in self.curves], dtype=np.float64)
        self.times_s = np.concatenate([c.times_s for c in self.curves])
        self.sims = np.concatenate([c.sims for c in self.curves])
        self.edges_s = np.concatenate([c.edges_s for c in self.curves])
        left = np.arange(self.times_s.size) + self.frame_video  # each frame's first edge
        self.cell_s = self.edges_s[left + 1] - self.edges_s[left]  # seconds a frame stands for

    def frames(self, v: int) -> slice:
        return slice(int(self.frame_start[v]), int(self.frame_start[v] + self.n_frames[v]))

    def means(self) -> Float64Array:
        """``(V,)`` mean similarity per video."""
        return np.array([float(c.sims.mean()) for c in self.curves])

    def searchsorted_times(self, x: Float64Array, bounds: IntArray) -> IntArray:
        """Per value, ``np.searchsorted(..., side="right")`` in its own video's frame times;
        ``x[bounds[v] : bounds[v + 1]]`` are video ``v``'s values."""
        out = np.empty(x.size, dtype=np.intp)
        for v, curve in enumerate(self.curves):
            part = slice(bounds[v], bounds[v + 1])
            out[part] = np.searchsorted(curve.times_s, x[part], side="right")
        return out

    def split(self, values: list[Any], video: IntArray) -> list[list[Any]]:
        """``values`` (grouped by ``video``, in video order) as one list per video."""
        bounds = np.concatenate([[0], np.cumsum(np.bincount(video, minlength=self.n_videos))])
        return [values[bounds[v] : bounds[v + 1]] for v in range(self.n_videos)]


class WindowScorer:
    """Window statistics of the videos of a :class:`Stack` from their own cumulative sums.

    A window is frames ``a .. b-1`` (cells a..b) of video ``video``: one video (an int) for all
    windows, or one per window. The videos' sums lie end to end (never one running sum across
    videos), and every step is the same elementwise arithmetic for every window, so a window's
    numbers do not depend on the other videos.
    """

    def __init__(self, stack: Stack, config: MomentConfig) -> None:
        self.n_frames = stack.n_frames
        self._at = stack.edge_start  # where each video's sums begin
        self._offset = stack.means()
        centred = stack.sims - self._offset[stack.frame_video]  # smaller sums, less rounding
        w = stack.cell_s
        terms = np.stack([w, w * centred, w * w])
        sums = np.zeros((3, stack.edges_s.size))
        for v in range(stack.n_videos):
            f0, n, e0 = int(stack.frame_start[v]), int(stack.n_frames[v]), int(self._at[v])
            np.cumsum(terms[:, f0 : f0 + n], axis=1, out=sums[:, e0 + 1 : e0 + n + 1])
        self._cw, self._cws, self._cww = sums
        self._total_w, self._total_ws, self._total_ww = sums[:, self._at + self.n_frames]
        jumps = np.abs(np.diff(stack.sims))  # the last of each video's reaches into the next
        ends = stack.frame_start + self.n_frames - 1
        self._noise = np.array(
            [noise_sd(jumps[f0:f1]) for f0, f1 in zip(stack.frame_start, ends, strict=True)]
        )
        # sqrt(2 ln T) is about the largest of T independent noise values (in standard
        # deviations): a window must beat what noise alone reaches somewhere in its video.
        auto_z = [math.sqrt(2 * math.log(n)) if n > 1 else 0.0 for n in self.n_frames.tolist()]
        z = auto_z if config.confidence_z is None else [config.confidence_z] * len(auto_z)
        self._z = np.array(z, dtype=np.float64)
        self._level = config.level_weight

    def _sums(
        self, a: IntArray, b: IntArray, video: int | IntArray
    ) -> tuple[Float64Array, Float64Array, Float64Array, Float64Array, NDArray[np.bool_]]:
        at = self._at[video]
        w_in = self._cw[b + at] - self._cw[a + at]
        w_out = self._total_w[video] - w_in
        s_in = self._cws[b + at] - self._cws[a + at]
        m_in = s_in / w_in
        outside = w_out > 0
        m_out = m_in.copy()  # the whole video has no outside, and no contrast
        np.divide(self._total_ws[video] - s_in, w_out, out=m_out, where=outside)
        return w_in, w_out, m_in, m_out, outside

    def moments(
        self, a: IntArray, b: IntArray, video: int | IntArray
    ) -> tuple[IntArray, Float64Array]:
        """Indices of the windows that are moments (inside above outside; the whole video
        always) and their scores."""
        w_in, w_out, m_in, m_out, outside = self._sums(a, b, video)
        contrast = m_in - m_out
        whole = (a == 0) & (b == self.n_frames[video])
        kept = np.flatnonzero((contrast > CONTRAST_TOL) | whole)
        if not isinstance(video, int):
            video = video[kept]
        a, b, outside = a[kept], b[kept], outside[kept]
        w_in, w_out, m_in, contrast = w_in[kept], w_out[kept], m_in[kept], contrast[kept]
        at = self._at[video]
        ww_in = self._cww[b + at] - self._cww[a + at]
        ww_out = self._total_ww[video] - ww_in
        # Variance of a time-weighted mean of iid frame noise: sd^2 * sum(w^2) / sum(w)^2.
        var = ww_in / (w_in * w_in)
        var_out = np.zeros_like(var)
        np.divide(ww_out, w_out * w_out, out=var_out, where=outside)
        stderr = np.where(outside, self._noise[video] * np.sqrt(var + var_out), 0.0)
        score = contrast - self._z[video] * stderr + self._level * (m_in + self._offset[video])
        return kept, np.round(score, SCORE_DECIMALS)

    def split_gain(self, a: IntArray, b: IntArray, video: IntArray) -> Float64Array:
        """Signed between-group sum of squares of windows ``a .. b-1`` of videos ``video``."""
        w_in, w_out, m_in, m_out, _ = self._sums(a, b, video)
        diff = m_in - m_out
        return w_in * w_out / self._total_w[video] * diff * np.abs(diff)


def median(x: Float64Array) -> float:
    """``float(np.median(x))`` without its overhead: the same middle order statistic(s)."""
    k = x.size // 2
    if x.size % 2:
        return float(np.partition(x, k)[k])
    part = np.partition(x, (k - 1, k))
    return float((part[k - 1] + part[k]) / 2)


def noise_sd(jumps: Float64Array) -> float:
    """Frame noise from a curve's absolute first differences."""
    if jumps.size + 1 < MIN_FRAMES_FOR_NOISE:
        return 0.0
    # Differences of neighbours are noise except at the few edges; the median ignores the edges.
    return float(MAD_TO_SD * median(jumps) / math.sqrt(2.0))


def smooth(curve: Curve, cell_s: Float64Array, sigma_s: float) -> Float64Array:
    """Time-aware Gaussian smoothing: neighbours weighted by kernel x seconds (``cell_s``) they
    stand for."""
    t, s = curve.times_s, curve.sims
    if sigma_s <= 0 or t.size == 1:
        return s.copy()
    reach = GAUSS_TRUNCATE * sigma_s
    lo = np.searchsorted(t, t - reach, side="left")
    hi = np.searchsorted(t, t + reach, side="right")
    width = int((hi - lo).max())
    offsets = np.arange(width)[:, None]
    out = np.empty_like(s)
    step = max(1, CHUNK_ELEMENTS // width)
    for r0 in range(0, t.size, step):
        r1 = min(t.size, r0 + step)
        idx = lo[r0:r1] + offsets  # [k, r]: neighbour k of frame r
        valid = idx < hi[r0:r1]
        idx = np.minimum(idx, t.size - 1)
        kernel = np.exp(-0.5 * ((t[idx] - t[r0:r1]) / sigma_s) ** 2) * cell_s[idx] * valid
        out[r0:r1] = neighbour_sums(kernel * s[idx]) / neighbour_sums(kernel)
    return out


def neighbour_sums(x: Float64Array) -> Float64Array:
    """Per frame (column of a ``(neighbours, frames)`` matrix), the sum of its neighbours, to the
    bit what summing them as a row of their own gives: numpy adds fewer than 8 numbers in order,
    as the column sums below do (10x faster than row sums for the usual 7 neighbours), and more
    pairwise."""
    if x.shape[0] < 8:
        return x.sum(axis=0)
    return np.ascontiguousarray(x.T).sum(axis=1)


def proposals(
    curve: Curve, cell_s: Float64Array, config: MomentConfig
) -> tuple[IntArray, IntArray]:
    """One video's sliding windows and threshold runs: distinct windows ``a .. b-1``, sorted by
    start then end; ``cell_s`` is the seconds each frame stands for."""
    n, duration, edges = curve.n_frames, curve.duration_s, curve.edges_s
    starts: list[IntArray] = [np.array([0], dtype=np.intp)]  # the whole video, always
    ends: list[IntArray] = [np.array([n], dtype=np.intp)]

    # Sliding windows: lengths duration / ratio^k, never below one typical frame cell; at each
    # length, starts every stride from 0 plus one window flush with the end. All at once.
    shortest = min(duration, max(config.min_window_s, median(cell_s)))
    lengths, strides, counts = [], [], []
    length = duration
    while length >= shortest * (1 - 1e-9):
        stride = length * config.stride_ratio
        lengths.append(length)
        strides.append(stride)
        counts.append(math.floor((duration - length) / stride + 1e-9) + 2)
        length /= config.scale_ratio
    last = np.cumsum(counts) - 1
    step = np.arange(last[-1] + 1) - np.repeat(last - counts + 1, counts)
    start_s = step * np.repeat(strides, counts)
    start_s[last] = duration - np.array(lengths)
    a = nearest_edge(edges[:-1], start_s)
    starts.append(a)
    ends.append(np.maximum(nearest_edge(edges, start_s + np.repeat(lengths, counts)), a + 1))

    # Threshold grouping on the smoothed curve: runs above each level, and neighbouring pairs
    # (all levels at once; runs come out level by level, in time order).
    smoothed = smooth(curve, cell_s, config.smooth_s)
    low, high = float(smoothed.min()), float(smoothed.max())
    if high - low > CONTRAST_TOL:
        levels = np.array([low + r * (high - low) for r in config.thresholds])
        above = np.zeros((levels.size, n + 1), dtype=np.int8)  # a 0 after each level's row
        above[:, :n] = smoothed >= levels[:, None]
        steps = np.diff(above.ravel(), prepend=0)
        run_a, run_b = np.flatnonzero(steps == 1), np.flatnonzero(steps == -1)
        level = run_a // (n + 1)
        run_a, run_b = run_a - level * (n + 1), run_b - level * (n + 1)
        same_level = level[1:] == level[:-1]
        starts += [run_a, run_a[:-1][same_level]]
        ends += [run_b, run_b[1:][same_level]]
    return unique_windows(np.concatenate(starts), np.concatenate(ends))


def nearest_edge(edges: Float64Array, x: Float64Array) -> IntArray:
    """Per time ``x``, the index of the nearest of the (strictly increasing) ``edges``; the
    earlier one on ties."""
    # i = np.searchsorted(edges, x), 2x faster for the many more times than edges of a video's
    # sliding windows, which come in increasing runs: np.interp's search starts from its last
    # answer, and its position rounded up is i except where rounding crossed an edge, which is
    # checked (and searched outright).
    n = edges.size
    # edges closer than ~1e-308 make interp's slope overflow to NaN; the check below repairs
    # whatever index that casts to, so the cast's warning says nothing
    with np.errstate(invalid="ignore"):
        guess = np.interp(x, edges, np.arange(n, dtype=np.float64), right=n)
        i = np.ceil(guess).astype(np.intp)
    np.clip(i, 0, n, out=i)
    lower, upper = np.append(-np.inf, edges), np.append(edges, np.inf)
    below, above = lower[i], upper[i]  # edges[i - 1] and edges[i], -inf and inf past the ends
    wrong = np.flatnonzero((below >= x) | (above < x))
    if wrong.size:
        i[wrong] = np.searchsorted(edges, x[wrong])
        below[wrong], above[wrong] = lower[i[wrong]], upper[i[wrong]]
    return i - ((x - below) <= (above - x))


def unique_windows(a: IntArray, b: IntArray) -> tuple[IntArray, IntArray]:
    """The distinct windows of a video, sorted by start then end."""
    keys = sorted_distinct(a.astype(np.int64) << 32 | b)  # frame indices are < 2^32
    return (keys >> 32).astype(np.intp, copy=False), (keys & 0xFFFFFFFF).astype(np.intp, copy=False)


def unique_stacked_windows(
    a: IntArray, b: IntArray, video: IntArray, n_frames: IntArray
) -> tuple[IntArray, IntArray, IntArray]:
    """:func:`unique_windows` of windows of several videos (``n_frames`` frames each): their
    ``(video, a, b)``, sorted by video, start, then end."""
    span = n_frames.astype(np.int64) + 1
    base = np.concatenate([[0], np.cumsum(span * span)])  # each video's keys in their own range
    keys = sorted_distinct(base[video] + a * span[video] + b)
    video = np.repeat(np.arange(span.size), np.diff(np.searchsorted(keys, base)))
    a, b = np.divmod(keys - base[video], span[video])
    return video, a.astype(np.intp), b.astype(np.intp)


def sorted_distinct(keys: NDArray[np.int64]) -> NDArray[np.int64]:
    # Sorting and dropping repeats is ~20x faster than np.unique (numpy 2.4) on the ~10^4 keys
    # of an hour of video; the stable sort (timsort) gains from the sorted runs windows come in.
    keys = np.sort(keys, kind="stable")
    return keys[np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]]))]


def suppress(
    start: Float64Array,
    end: Float64Array,
    score: Float64Array,
    video: IntArray,
    n_videos: int,
    iou: float,
    limit: int,
) -> IntArray:
    """:func:`rank_and_suppress` of the windows of each of ``n_videos`` videos (grouped by
    ``video``, in video order): their indices, video by video, best first."""
    bounds = np.searchsorted(video, np.arange(n_videos + 1)).tolist()
    kept: list[int] = []
    for lo, hi in itertools.pairwise(bounds):
        best = rank_and_suppress(start[lo:hi], end[lo:hi], score[lo:hi], iou, limit)
        kept += [lo + i for i in best]
    return np.array(kept, dtype=np.intp)


def rank_and_suppress(
    start: Float64Array, end: Float64Array, score: Float64Array, iou: float, limit: int
) -> list[int]:
    """Greedy temporal NMS in rank order; returns up to ``limit`` indices, best first.

    A window is kept when it overlaps no kept (better) window by more than ``iou``. The greedy
    pass stops after ``limit`` windows, typically within the best ~2 * ``limit`` of thousands, so
    windows are ranked a chunk at a time and only the chunks it reaches are sorted; within a
    chunk, one matrix per block of ranked windows says which of them rule out which, and the
    greedy pass walks its rows as bit sets (Python ints: ~1 us per kept window).
    """
    kept: list[int] = []
    for chunk in ranked_chunks(start, end, score, NMS_FIRST_CHUNK_FACTOR * limit):
        for b0 in range(0, chunk.size, NMS_BLOCK):
            block = chunk[b0 : b0 + NMS_BLOCK]
            s, e = start[block], end[block]
            alive = (1 << block.size) - 1  # bit j: window block[j] may still be kept
            if kept:  # not ruled out by a window kept from earlier blocks
                ok = np.logical_and.reduce(may_stay(start[kept, None], end[kept, None], s, e, iou))
                alive = as_bits(np.packbits(ok, bitorder="little"))
            # row i, bit j: window j may stay if window i is kept
            fits = np.packbits(
                may_stay(s[:, None], e[:, None], s, e, iou), axis=1, bitorder="little"
            )
            while alive and len(kept) < limit:
                i = (alive & -alive).bit_length() - 1  # the best window still alive
                kept.append(int(block[i]))
                alive &= as_bits(fits[i]) >> (i + 1) << (i + 1)  # and only those after it
            if len(kept) == limit:
                return kept
    return kept


def as_bits(packed: NDArray[np.uint8]) -> int:
    """A row of booleans packed little-endian by ``np.packbits`` as an int: bit j = row[j]."""
    return int.from_bytes(packed.tobytes(), "little")


def ranked_chunks(
    start: Float64Array, end: Float64Array, score: Float64Array, first_size: int
) -> Iterator[IntArray]:
    """All indices in rank order, a chunk at a time (each ~4x the last, the first ~first_size).

    Rank: best score first; ties: earlier start, then longer window. A chunk holds every window
    scoring at least its threshold (ties included), so chunks concatenate to the full order.
    """
    remaining = np.arange(score.size)
    size = max(1, first_size)
    while remaining.size:
        if remaining.size > size:
            neg = -score[remaining]
            head = neg <= np.partition(neg, size - 1)[size - 1]
            chunk, remaining = remaining[np.flatnonzero(head)], remaining[np.flatnonzero(~head)]
        else:
            chunk, remaining = remaining, remaining[:0]
        yield chunk[np.lexsort((start[chunk] - end[chunk], start[chunk], -score[chunk]))]
        size *= 4


def may_stay(
    start_kept: Float64Array | np.float64,
    end_kept: Float64Array | np.float64,
    start: Float64Array,
    end: Float64Array,
    iou: float,
) -> NDArray[np.bool_]:
    """Whether windows ``start..end`` overlap the kept window(s) by at most ``iou`` (broadcast)."""
    inter = np.maximum(np.minimum(end_kept, end) - np.maximum(start_kept, start), 0.0)
    union = (end_kept - start_kept) + (end - start) - inter
    return inter <= iou * union


def refine(
    scorer: WindowScorer, a: IntArray, b: IntArray, video: IntArray, ratio: float
) -> tuple[IntArray, IntArray]:
    """The windows' starts and ends moved to the best inside/outside split within their search
    radius.

    Coordinate ascent per window (start, then end, until neither moves), run for all windows at
    once: each round scores every candidate edge of every still-moving window in one pass. A
    window's moves depend on its own video only, so batching videos changes no result.
    """
    n = scorer.n_frames[video]
    a, b = a.copy(), b.copy()
    moving = np.flatnonzero((a != 0) | (b != n))  # the whole video is the no-contrast answer
    for _ in range(MAX_REFINE_ROUNDS):
        if moving.size == 0:
            break
        lo, hi, v = a[moving], b[moving], video[moving]
        radius = np.maximum(MIN_REFINE_FRAMES, np.ceil(ratio * (hi - lo)).astype(np.intp))
        new_lo = best_splits(
            scorer, np.maximum(0, lo - radius), np.minimum(hi - 1, lo + radius), lo, hi, v, "start"
        )
        new_hi = best_splits(
            scorer,
            np.maximum(new_lo + 1, hi - radius),
            np.minimum(n[moving], hi + radius),
            hi,
            new_lo,
            v,
            "end",
        )
        a[moving], b[moving] = new_lo, new_hi
        moving = moving[(new_lo != lo) | (new_hi != hi)]
    return a, b


def best_splits(
    scorer: WindowScorer,
    first: IntArray,
    last: IntArray,
    current: IntArray,
    other: IntArray,
    video: IntArray,
    edge: Literal["start", "end"],
) -> IntArray:
    """Per window, the best position ``first..last`` for its ``edge``, the other edge fixed.

    Candidates of all windows lie end to end in one flat array; per-window maxima come from
    ``reduceat``. An edge moves only for a real gain (so flat stretches and float noise leave it
    where it is), to the first best candidate.
    """
    counts = last - first + 1
    seg_starts = np.cumsum(counts) - counts
    position = np.arange(int(counts.sum()))
    cand = position + np.repeat(first - seg_starts, counts)
    fixed = np.repeat(other, counts)
    of = np.repeat(video, counts)
    if edge == "start":
        gains = scorer.split_gain(cand, fixed, of)
    else:
        gains = scorer.split_gain(fixed, cand, of)
    best_gain = np.maximum.reduceat(gains, seg_starts)
    at_best = np.where(gains == np.repeat(best_gain, counts), position, cand.size)
    best = cand[np.minimum.reduceat(at_best, seg_starts)]
    now = gains[seg_starts + (current - first)]
    tol = 1e-9 * np.maximum.reduceat(np.abs(gains), seg_starts)
    return np.where(best_gain > now + tol, best, current)
