"""find_moments and saliency_scores against a plain reference of every step.

The module runs these steps vectorised (all scales of sliding windows at once, NMS that sorts only
the ranks it reaches, boundary refinement of every window in one pass per round) and batched (the
hits of a search share their scores, refinement, suppression and saliency passes). The reference
below is the straightforward version they replaced, one video and one window at a time; both must
return exactly the same floats, in the same order.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vidlens.query import _windows as w
from vidlens.query import moments as m
from vidlens.query.moments import (
    MomentConfig,
    find_moments,
    find_moments_batch,
    saliency_scores,
    saliency_scores_batch,
)

Video = tuple[np.ndarray, np.ndarray, float]


# ----------------------------------------------------------------------------- the reference
def reference_curve(times_s: np.ndarray, sims: np.ndarray, duration_s: float) -> w.Curve:
    t = np.clip(np.round(np.clip(np.asarray(times_s, float), 0.0, duration_s), 6), 0, duration_s)
    order = np.argsort(t, kind="stable")
    t, s = t[order], np.asarray(sims, float)[order]
    unique_t, inverse = np.unique(t, return_inverse=True)
    s = np.bincount(inverse, weights=s) / np.bincount(inverse)  # repeated times: their mean
    edges = np.concatenate([[0.0], (unique_t[1:] + unique_t[:-1]) / 2, [duration_s]])
    return w.Curve(times_s=unique_t, sims=s, edges_s=edges, duration_s=float(duration_s))


class ReferenceScorer:
    """One video's window statistics from its cumulative sums, window ``a .. b-1``."""

    def __init__(self, curve: w.Curve, config: MomentConfig) -> None:
        self.n_frames = curve.n_frames
        self.offset = float(curve.sims.mean())
        cell = np.diff(curve.edges_s)
        centred = curve.sims - self.offset
        self.cw = np.concatenate([[0.0], np.cumsum(cell)])
        self.cws = np.concatenate([[0.0], np.cumsum(cell * centred)])
        self.cww = np.concatenate([[0.0], np.cumsum(cell * cell)])
        n = curve.n_frames
        self.noise = 0.0
        if n >= 8:
            self.noise = float(1.4826 * np.median(np.abs(np.diff(curve.sims))) / math.sqrt(2.0))
        auto_z = math.sqrt(2 * math.log(n)) if n > 1 else 0.0
        self.z = auto_z if config.confidence_z is None else config.confidence_z
        self.level = config.level_weight

    def sums(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, ...]:
        w_in = self.cw[b] - self.cw[a]
        w_out = self.cw[-1] - w_in
        s_in = self.cws[b] - self.cws[a]
        m_in = s_in / w_in
        outside = w_out > 0
        m_out = m_in.copy()
        np.divide(self.cws[-1] - s_in, w_out, out=m_out, where=outside)
        return w_in, w_out, m_in, m_out, outside

    def score(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        w_in, w_out, m_in, m_out, outside = self.sums(a, b)
        contrast = m_in - m_out
        ww_in = self.cww[b] - self.cww[a]
        ww_out = self.cww[-1] - ww_in
        var = ww_in / (w_in * w_in)
        var_out = np.zeros_like(var)
        np.divide(ww_out, w_out * w_out, out=var_out, where=outside)
        stderr = np.where(outside, self.noise * np.sqrt(var + var_out), 0.0)
        score = contrast - self.z * stderr + self.level * (m_in + self.offset)
        return np.round(score, 10), contrast

    def is_whole(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return (a == 0) & (b == self.n_frames)

    def split_gain(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Signed between-group sum of squares of inside vs outside (0 for the whole video)."""
        w_in, w_out, m_in, m_out, _ = self.sums(a, b)
        diff = m_in - m_out
        return w_in * w_out / self.cw[-1] * diff * np.abs(diff)


def reference_find_moments(
    times_s: np.ndarray, sims: np.ndarray, duration_s: float, config: MomentConfig
) -> list[tuple[float, float, float]]:
    curve = reference_curve(times_s, sims, duration_s)
    scorer = ReferenceScorer(curve, config)
    a, b = reference_proposals(curve, config)
    score, contrast = scorer.score(a, b)
    keep = (contrast > w.CONTRAST_TOL) | scorer.is_whole(a, b)
    a, b, score = a[keep], b[keep], score[keep]
    pool = reference_nms(curve, a, b, score, config.nms_iou, m._POOL_FACTOR * config.max_moments)
    a, b = a[pool], b[pool]
    if config.refine_ratio > 0:
        a, b = reference_refine(scorer, a, b, config.refine_ratio)
        a, b = reference_unique(a, b, curve.n_frames)
    score, contrast = scorer.score(a, b)
    keep = (contrast > w.CONTRAST_TOL) | scorer.is_whole(a, b)
    a, b, score = a[keep], b[keep], score[keep]
    best = reference_nms(curve, a, b, score, config.nms_iou, config.max_moments)
    edges = curve.edges_s
    return [(float(edges[a[i]]), float(edges[b[i]]), float(score[i])) for i in best]


def reference_proposals(curve: w.Curve, config: MomentConfig) -> tuple[np.ndarray, np.ndarray]:
    n, duration, edges = curve.n_frames, curve.duration_s, curve.edges_s
    starts = [np.array([0], dtype=np.intp)]
    ends = [np.array([n], dtype=np.intp)]
    shortest = min(duration, max(config.min_window_s, float(np.median(np.diff(edges)))))
    length = duration
    while length >= shortest * (1 - 1e-9):  # one scale at a time
        stride = length * config.stride_ratio
        n_pos = math.floor((duration - length) / stride + 1e-9) + 1
        start_s = np.append(np.arange(n_pos) * stride, duration - length)
        a = reference_nearest_edge(edges[:-1], start_s)
        starts.append(a)
        ends.append(np.maximum(reference_nearest_edge(edges, start_s + length), a + 1))
        length /= config.scale_ratio
    smoothed = reference_smooth(curve, config.smooth_s)
    low, high = float(smoothed.min()), float(smoothed.max())
    if high - low > w.CONTRAST_TOL:
        for r in config.thresholds:
            above = (smoothed >= low + r * (high - low)).astype(np.int8)
            steps = np.diff(np.concatenate([[0], above, [0]]))
            run_a, run_b = np.flatnonzero(steps == 1), np.flatnonzero(steps == -1)
            starts += [run_a, run_a[:-1]]
            ends += [run_b, run_b[1:]]
    return reference_unique(np.concatenate(starts), np.concatenate(ends), n)


def reference_nearest_edge(edges: np.ndarray, x: np.ndarray) -> np.ndarray:
    if edges.size == 1:
        return np.zeros(x.shape, dtype=np.intp)
    i = np.clip(np.searchsorted(edges, x), 1, edges.size - 1)
    left_closer = (x - edges[i - 1]) <= (edges[i] - x)
    return np.where(left_closer, i - 1, i).astype(np.intp)


def reference_smooth(curve: w.Curve, sigma_s: float) -> np.ndarray:
    """Each frame's neighbours within 3 sigma in a row of their own, summed along the row."""
    t, s = curve.times_s, curve.sims
    if sigma_s <= 0 or t.size == 1:
        return s.copy()
    cell = np.diff(curve.edges_s)
    lo = np.searchsorted(t, t - 3.0 * sigma_s, side="left")
    hi = np.searchsorted(t, t + 3.0 * sigma_s, side="right")
    idx = lo[:, None] + np.arange(int((hi - lo).max()))
    valid = idx < hi[:, None]
    idx = np.minimum(idx, t.size - 1)
    kernel = np.exp(-0.5 * ((t[idx] - t[:, None]) / sigma_s) ** 2) * cell[idx] * valid
    return (kernel * s[idx]).sum(axis=1) / kernel.sum(axis=1)


def reference_unique(a: np.ndarray, b: np.ndarray, n_frames: int) -> tuple[np.ndarray, np.ndarray]:
    keys = np.unique(a.astype(np.int64) * (n_frames + 1) + b)
    return (keys // (n_frames + 1)).astype(np.intp), (keys % (n_frames + 1)).astype(np.intp)


def reference_nms(
    curve: w.Curve, a: np.ndarray, b: np.ndarray, score: np.ndarray, iou: float, limit: int
) -> list[int]:
    start, end = curve.edges_s[a], curve.edges_s[b]
    remaining = np.lexsort((start - end, start, -score))  # every window ranked up front
    kept: list[int] = []
    while remaining.size and len(kept) < limit:
        i = int(remaining[0])
        kept.append(i)
        rest = remaining[1:]
        inter = np.clip(np.minimum(end[i], end[rest]) - np.maximum(start[i], start[rest]), 0, None)
        union = (end[i] - start[i]) + (end[rest] - start[rest]) - inter
        remaining = rest[inter <= iou * union]
    return kept


def reference_refine(
    scorer: ReferenceScorer, a: np.ndarray, b: np.ndarray, ratio: float
) -> tuple[np.ndarray, np.ndarray]:
    n = scorer.n_frames
    a, b = a.copy(), b.copy()
    for j in range(a.size):  # one window at a time, one edge at a time
        lo, hi = int(a[j]), int(b[j])
        if lo == 0 and hi == n:
            continue
        for _ in range(w.MAX_REFINE_ROUNDS):
            before = (lo, hi)
            radius = max(w.MIN_REFINE_FRAMES, math.ceil(ratio * (hi - lo)))
            cand = np.arange(max(0, lo - radius), min(hi - 1, lo + radius) + 1)
            gains = scorer.split_gain(cand, np.full_like(cand, hi))
            lo = reference_best_split(cand, gains, lo)
            cand = np.arange(max(lo + 1, hi - radius), min(n, hi + radius) + 1)
            gains = scorer.split_gain(np.full_like(cand, lo), cand)
            hi = reference_best_split(cand, gains, hi)
            if (lo, hi) == before:
                break
        a[j], b[j] = lo, hi
    return a, b


def reference_best_split(candidates: np.ndarray, gains: np.ndarray, current: int) -> int:
    best = int(np.argmax(gains))
    now = float(gains[candidates == current][0])
    tol = 1e-9 * float(np.abs(gains).max())
    return int(candidates[best]) if gains[best] > now + tol else current


def reference_saliency(
    times_s: np.ndarray, sims: np.ndarray, duration_s: float, clip_s: float = 2.0
) -> list[float]:
    curve = reference_curve(times_s, sims, duration_s)
    n_clips = max(1, math.ceil(curve.duration_s / clip_s - 1e-9))
    lo = np.arange(n_clips, dtype=np.float64) * clip_s
    hi = np.minimum(lo + clip_s, curve.duration_s)
    offset = float(curve.sims.mean())
    t, s = curve.times_s, curve.sims - offset
    slope = np.zeros_like(s)
    slope[:-1] = np.diff(s) / np.diff(t)
    head = t[0] * s[0]
    at_knots = np.concatenate([[head], head + np.cumsum(np.diff(t) * (s[1:] + s[:-1]) / 2)])

    def integral(x: np.ndarray) -> np.ndarray:
        i = np.searchsorted(t, x, side="right") - 1
        before = i < 0
        i = np.clip(i, 0, t.size - 1)
        dx = x - t[i]
        return np.where(before, x * s[0], at_knots[i] + dx * s[i] + 0.5 * dx * dx * slope[i])

    width = hi - lo
    tiny = width < 1e-6 * clip_s
    mean = (integral(hi) - integral(lo)) / np.where(tiny, 1.0, width)
    point = np.interp((lo + hi) / 2, t, s)
    return (np.where(tiny, point, mean) + offset).tolist()


def bits(values: list[float]) -> list[str]:
    """Floats as their exact bit patterns (so -0.0 != 0.0 and equal means identical)."""
    return [float(v).hex() for v in values]


def moment_bits(moments: list[list[tuple[float, float, float]]]) -> list[list[list[str]]]:
    return [[bits(list(mo)) for mo in video] for video in moments]


# ----------------------------------------------------------------------------- inputs
def clip_like_curve(n_frames: int, seed: int, *, noise: float) -> np.ndarray:
    """A CLIP-like similarity curve: scene plateaus, a slow drift, frame noise, one event."""
    rng = np.random.default_rng(seed)
    cuts = np.sort(rng.choice(np.arange(1, n_frames), size=min(n_frames - 1, n_frames // 20)))
    levels = rng.normal(0.22, 0.02, cuts.size + 1)
    curve = levels[np.searchsorted(cuts, np.arange(n_frames), side="right")]
    curve = curve + np.cumsum(rng.normal(0.0, 0.002, n_frames))
    start = int(rng.integers(0, n_frames))
    curve[start : start + int(rng.integers(1, max(2, n_frames // 10)))] += 0.06
    return curve + rng.normal(0.0, noise, n_frames)


CONFIGS = {
    "default": MomentConfig(),
    "wide-refine": MomentConfig(refine_ratio=1.0, max_moments=20),
    "narrow-refine": MomentConfig(refine_ratio=0.05, nms_iou=0.3),
    "one-moment": MomentConfig(max_moments=1, nms_iou=1.0),
    "no-refine": MomentConfig(refine_ratio=0.0),
    "fine-scales": MomentConfig(scale_ratio=1.3, stride_ratio=0.1, smooth_s=0.0),
    "wide-smoothing": MomentConfig(smooth_s=3.0, confidence_z=2),
}


def search_hits(seed: int) -> list[Video]:
    """Videos like a search's hits: 1-60 s clips, a few long ones, one- and two-frame videos,
    irregular and duplicate frame times, a densely sampled one; in random order."""
    rng = np.random.default_rng(seed)
    videos = [
        (np.array([0.4]), np.array([0.25]), 0.8),
        (np.array([0.0, 0.5]), np.array([0.2, 0.3]), 1.0),
        (np.array([1.0, 1.0, 2.0]), np.array([0.2, 0.3, 0.1]), 3.0),
        (np.arange(240) / 4 + 0.125, clip_like_curve(240, seed, noise=0.01), 60.0),  # 4 fps
    ]
    for n in [*rng.integers(3, 61, 8).tolist(), 600, 1800]:
        times = np.sort(rng.uniform(0.0, n, n)) if rng.random() < 0.3 else np.arange(n) + 0.5
        videos.append((times, clip_like_curve(n, int(rng.integers(2**32)), noise=0.01), float(n)))
    order = rng.permutation(len(videos))
    return [videos[i] for i in order]


one_video = st.integers(1, 60).flatmap(
    lambda n: st.tuples(
        st.lists(st.floats(0, 100), min_size=n, max_size=n),
        st.lists(st.sampled_from([0.2, 0.25, 0.3]) | st.floats(-1, 1), min_size=n, max_size=n),
        st.floats(0.5, 100),
    )
)


# ----------------------------------------------------------------------------- whole outputs
@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
@pytest.mark.parametrize(
    ("n_frames", "seed", "fps"), [(30, 0, 1), (400, 1, 1), (1800, 2, 1), (3600, 3, 1), (600, 4, 5)]
)
def test_realistic_curves_match_the_reference(
    n_frames: int, seed: int, fps: int, config: MomentConfig
) -> None:
    sims = clip_like_curve(n_frames, seed, noise=0.01)
    times = (np.arange(n_frames) + 0.5) / fps  # at 5 fps a frame has 31 neighbours to smooth
    duration = n_frames / fps
    assert find_moments(times, sims, duration, config) == reference_find_moments(
        times, sims, duration, config
    )


def test_tied_scores_match_the_reference() -> None:
    # A periodic curve: many windows score exactly the same, so rank ties decide everything.
    times = np.arange(240) + 0.5
    sims = np.where((np.arange(240) // 10) % 2 == 0, 0.3, 0.2)
    for config in CONFIGS.values():
        assert find_moments(times, sims, 240.0, config) == reference_find_moments(
            times, sims, 240.0, config
        )


curves = st.integers(1, 120).flatmap(
    lambda n: st.tuples(
        st.lists(st.floats(0, 300), min_size=n, max_size=n),
        st.lists(st.sampled_from([0.2, 0.25, 0.3]) | st.floats(-1, 1), min_size=n, max_size=n),
        st.floats(0.5, 300),
        st.sampled_from(list(CONFIGS.values())),
    )
)


@settings(max_examples=150, deadline=None)
@given(curves)
def test_random_curves_match_the_reference(
    curve: tuple[list[float], list[float], float, MomentConfig],
) -> None:
    times, sims, duration_s, config = np.array(curve[0]), np.array(curve[1]), curve[2], curve[3]
    assert find_moments(times, sims, duration_s, config) == reference_find_moments(
        times, sims, duration_s, config
    )


@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
@pytest.mark.parametrize("seed", [0, 1])
def test_batch_matches_per_video_and_the_reference(seed: int, config: MomentConfig) -> None:
    videos = search_hits(seed)
    got = moment_bits(find_moments_batch(videos, config))
    assert got == moment_bits([find_moments(t, s, d, config) for t, s, d in videos])
    assert got == moment_bits([reference_find_moments(t, s, d, config) for t, s, d in videos])


def test_batch_of_no_videos_is_empty() -> None:
    assert find_moments_batch([]) == []
    assert saliency_scores_batch([]) == []


@settings(max_examples=100, deadline=None)
@given(st.lists(one_video, min_size=1, max_size=6), st.sampled_from(list(CONFIGS.values())))
def test_random_batches_match_per_video_calls(
    videos: list[tuple[list[float], list[float], float]], config: MomentConfig
) -> None:
    arrays = [(np.array(t), np.array(s), d) for t, s, d in videos]
    got = moment_bits(find_moments_batch(arrays, config))
    assert got == moment_bits([reference_find_moments(t, s, d, config) for t, s, d in arrays])
    assert got == moment_bits([find_moments(t, s, d, config) for t, s, d in arrays])


@pytest.mark.parametrize("clip_s", [2.0, 0.7, 30.0])
@pytest.mark.parametrize("seed", [0, 1])
def test_saliency_batch_matches_per_video_and_the_reference(seed: int, clip_s: float) -> None:
    videos = search_hits(seed)
    got = [bits(s) for s in saliency_scores_batch(videos, clip_s)]
    assert got == [bits(saliency_scores(t, s, d, clip_s)) for t, s, d in videos]
    assert got == [bits(reference_saliency(t, s, d, clip_s)) for t, s, d in videos]


@settings(max_examples=100, deadline=None)
@given(st.lists(one_video, min_size=1, max_size=6), st.sampled_from([2.0, 0.3, 7.0]))
def test_random_saliency_batches_match_the_reference(
    videos: list[tuple[list[float], list[float], float]], clip_s: float
) -> None:
    arrays = [(np.array(t), np.array(s), d) for t, s, d in videos]
    assert [bits(s) for s in saliency_scores_batch(arrays, clip_s)] == [
        bits(reference_saliency(t, s, d, clip_s)) for t, s, d in arrays
    ]


def test_saliency_of_a_sliver_last_clip_matches_the_reference() -> None:
    times, sims = np.arange(10) + 0.5, np.linspace(0.1, 0.3, 10)
    videos = [(times, sims, 10.0 + 1e-7), (times, sims[::-1], 10.0), (times, sims, 10.0 + 2e-7)]
    assert [bits(s) for s in saliency_scores_batch(videos)] == [
        bits(reference_saliency(t, s, d)) for t, s, d in videos
    ]


# ----------------------------------------------------------------------------- single steps
windows = st.integers(2, 300).flatmap(
    lambda n: st.tuples(
        st.just(n),
        st.integers(0, 2**32 - 1),
        st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), min_size=1, max_size=40),
        st.sampled_from([0.01, 0.1, 0.25, 0.5, 1.0]),
    )
)


def as_windows(pairs: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Frame pairs -> windows ``a .. b-1`` with ``a < b``."""
    a = np.array([min(x, y) for x, y in pairs], dtype=np.intp)
    b = np.array([max(x, y) + 1 for x, y in pairs], dtype=np.intp)
    return a, b


@settings(max_examples=150, deadline=None)
@given(windows)
def test_refine_moves_every_window_like_the_reference(
    case: tuple[int, int, list[tuple[int, int]], float],
) -> None:
    n, seed, pairs, ratio = case
    sims = clip_like_curve(n, seed, noise=0.02)
    curve = reference_curve(np.arange(n) + 0.5, sims, float(n))
    scorer = w.WindowScorer(w.Stack([curve]), MomentConfig())
    a, b = as_windows(pairs)
    video = np.zeros(a.shape, dtype=np.intp)
    got_a, got_b = w.refine(scorer, a, b, video, ratio)
    want_a, want_b = reference_refine(ReferenceScorer(curve, MomentConfig()), a, b, ratio)
    assert (got_a.tolist(), got_b.tolist()) == (want_a.tolist(), want_b.tolist())


stacked_windows = st.lists(
    st.tuples(
        st.integers(1, 80),
        st.integers(0, 2**32 - 1),
        st.lists(st.tuples(st.integers(0, 79), st.integers(0, 79)), min_size=1, max_size=30),
    ),
    min_size=1,
    max_size=5,
)


def stacked(
    videos: list[tuple[int, int, list[tuple[int, int]]]],
) -> tuple[list[w.Curve], np.ndarray, np.ndarray, np.ndarray]:
    """Curves of ``n`` frames (CLIP-like, irregular times) and windows of each, end to end."""
    curves, video, a, b = [], [], [], []
    for v, (n, seed, pairs) in enumerate(videos):
        times = np.sort(np.random.default_rng(seed).uniform(0.0, n, n))
        curves.append(reference_curve(times, clip_like_curve(n, seed, noise=0.02), float(n)))
        a_v, b_v = as_windows(
            [(x % curves[-1].n_frames, y % curves[-1].n_frames) for x, y in pairs]
        )
        video += [v] * a_v.size
        a.append(a_v)
        b.append(b_v)
    return curves, np.array(video), np.concatenate(a), np.concatenate(b)


@settings(max_examples=100, deadline=None)
@given(stacked_windows, st.sampled_from(list(CONFIGS.values())))
def test_scores_of_several_videos_match_each_videos_reference(
    videos: list[tuple[int, int, list[tuple[int, int]]]], config: MomentConfig
) -> None:
    curves, video, a, b = stacked(videos)
    scorer = w.WindowScorer(w.Stack(curves), config)
    kept, score = scorer.moments(a, b, video)
    want_kept, want_score = [], []
    for v, curve in enumerate(curves):
        at = np.flatnonzero(video == v)
        reference = ReferenceScorer(curve, config)
        s, contrast = reference.score(a[at], b[at])
        keep = (contrast > w.CONTRAST_TOL) | reference.is_whole(a[at], b[at])
        want_kept += at[keep].tolist()
        want_score += s[keep].tolist()
        one_kept, one_score = scorer.moments(a[at], b[at], v)  # one video's windows, by index
        assert (at[one_kept].tolist(), bits(one_score.tolist())) == (
            at[keep].tolist(),
            bits(s[keep].tolist()),
        )
    assert (kept.tolist(), bits(score.tolist())) == (want_kept, bits(want_score))


@settings(max_examples=100, deadline=None)
@given(stacked_windows, st.sampled_from([0.01, 0.25, 1.0]))
def test_refine_of_several_videos_matches_each_videos_reference(
    videos: list[tuple[int, int, list[tuple[int, int]]]], ratio: float
) -> None:
    curves, video, a, b = stacked(videos)
    got_a, got_b = w.refine(w.WindowScorer(w.Stack(curves), MomentConfig()), a, b, video, ratio)
    for v, curve in enumerate(curves):
        at = video == v
        want_a, want_b = reference_refine(
            ReferenceScorer(curve, MomentConfig()), a[at], b[at], ratio
        )
        assert (got_a[at].tolist(), got_b[at].tolist()) == (want_a.tolist(), want_b.tolist())


pairs_60 = st.lists(st.tuples(st.integers(0, 59), st.integers(0, 59)), min_size=1, max_size=200)


@settings(deadline=None)
@given(pairs_60)
def test_unique_windows_match_the_reference(pairs: list[tuple[int, int]]) -> None:
    a, b = as_windows(pairs)
    got, want = w.unique_windows(a, b), reference_unique(a, b, 60)
    assert [x.tolist() for x in got] == [x.tolist() for x in want]


@settings(deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), pairs_60), min_size=1, max_size=6))
def test_unique_windows_of_several_videos_match_per_video(
    parts: list[tuple[int, list[tuple[int, int]]]],
) -> None:
    n_frames = np.array([60 + 7 * v for v in range(4)])  # videos of different lengths
    video = np.concatenate([np.full(len(p), v) for v, p in parts])
    a, b = (np.concatenate(x) for x in zip(*(as_windows(p) for _, p in parts), strict=True))
    want: list[list[int]] = [[], [], []]
    for v in range(4):
        a_v, b_v = reference_unique(a[video == v], b[video == v], int(n_frames[v]))
        want[0] += [v] * a_v.size
        want[1] += a_v.tolist()
        want[2] += b_v.tolist()
    assert [x.tolist() for x in w.unique_stacked_windows(a, b, video, n_frames)] == want


@settings(max_examples=200, deadline=None)
@given(
    pairs_60,
    st.lists(st.sampled_from([0.0, 0.1, 0.2]) | st.floats(-1, 1), min_size=1, max_size=50),
    st.sampled_from([0.1, 0.5, 1.0]),
    st.integers(1, 40),
)
def test_nms_keeps_what_the_reference_keeps(
    pairs: list[tuple[int, int]], scores: list[float], iou: float, limit: int
) -> None:
    curve = reference_curve(np.arange(60) + 0.5, np.zeros(60), 60.0)
    a, b = reference_unique(*as_windows(pairs), curve.n_frames)
    score = np.resize(np.array(scores), a.size)  # few distinct values: many rank ties
    start, end = curve.edges_s[a], curve.edges_s[b]
    assert w.rank_and_suppress(start, end, score, iou, limit) == reference_nms(
        curve, a, b, score, iou, limit
    )


edge_cases = st.lists(st.floats(0, 50), min_size=1, max_size=40, unique=True).flatmap(
    lambda e: st.tuples(
        st.just(np.sort(np.array(e))),
        st.lists(st.floats(-5, 55) | st.sampled_from(e), min_size=1, max_size=60),
    )
)


@settings(max_examples=300, deadline=None)
@given(edge_cases)
def test_nearest_edge_matches_the_reference(case: tuple[np.ndarray, list[float]]) -> None:
    edges, picks = case
    x = np.array(picks)
    near = np.concatenate([x, (edges[1:] + edges[:-1]) / 2, np.nextafter(edges, 99)])
    near = np.concatenate([near, np.nextafter(edges, -99), np.sort(near)])  # runs and ties
    assert w.nearest_edge(edges, near).tolist() == reference_nearest_edge(edges, near).tolist()


@pytest.mark.parametrize("fps", [0.3, 1.0, 2.5, 4.0, 30.0])
def test_smoothing_matches_row_sums(fps: float) -> None:
    # 1 fps gives 7 neighbours (summed in order), 2.5 fps 15 and 30 fps 181 (summed pairwise)
    rng = np.random.default_rng(int(fps * 10))
    times = np.sort(rng.uniform(0.0, 200.0 / fps, 200)) if fps < 1 else np.arange(200) / fps
    curve = reference_curve(times, clip_like_curve(200, 0, noise=0.01), 200.0 / fps + 1.0)
    got = w.smooth(curve, np.diff(curve.edges_s), 1.0)
    assert bits(got.tolist()) == bits(reference_smooth(curve, 1.0).tolist())


@settings(deadline=None)
@given(st.lists(st.floats(0, 1e3), min_size=1, max_size=30))
def test_median_is_numpys(values: list[float]) -> None:
    x = np.array(values)
    assert bits([w.median(x)]) == bits([float(np.median(x))])


@settings(deadline=None)
@given(one_video)
def test_curves_build_like_the_reference(video: tuple[list[float], list[float], float]) -> None:
    times, sims, duration = np.array(video[0]), np.array(video[1]), video[2]
    got, want = w.Curve.build(times, sims, duration), reference_curve(times, sims, duration)
    for field in ("times_s", "sims", "edges_s"):
        assert bits(getattr(got, field).tolist()) == bits(getattr(want, field).tolist())
