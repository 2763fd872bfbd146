"""find_moments against a plain reference of its proposal, suppression and refinement steps.

The module runs these steps vectorised (all scales of sliding windows at once, NMS that sorts only
the ranks it reaches, boundary refinement of every window in one pass per round). The reference
below is the straightforward version they replaced, one window at a time; both must return exactly
the same moments.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vidlens.query import moments as m
from vidlens.query.moments import MomentConfig, find_moments, find_moments_batch


def reference_find_moments(
    times_s: np.ndarray, sims: np.ndarray, duration_s: float, config: MomentConfig
) -> list[tuple[float, float, float]]:
    curve = m._Curve.build(times_s, sims, duration_s)
    scorer = m._WindowScorer(curve, config)
    a, b = reference_proposals(curve, config)
    score, contrast = scorer.score(a, b)
    keep = (contrast > m._CONTRAST_TOL) | scorer.is_whole(a, b)
    a, b, score = a[keep], b[keep], score[keep]
    pool = reference_nms(curve, a, b, score, config.nms_iou, m._POOL_FACTOR * config.max_moments)
    a, b = a[pool], b[pool]
    if config.refine_ratio > 0:
        a, b = reference_refine(scorer, a, b, config.refine_ratio)
        a, b = reference_unique(a, b, curve.n_frames)
    score, contrast = scorer.score(a, b)
    keep = (contrast > m._CONTRAST_TOL) | scorer.is_whole(a, b)
    a, b, score = a[keep], b[keep], score[keep]
    best = reference_nms(curve, a, b, score, config.nms_iou, config.max_moments)
    edges = curve.edges_s
    return [(float(edges[a[i]]), float(edges[b[i]]), float(score[i])) for i in best]


def reference_proposals(curve: m._Curve, config: MomentConfig) -> tuple[np.ndarray, np.ndarray]:
    n, duration, edges = curve.n_frames, curve.duration_s, curve.edges_s
    starts = [np.array([0], dtype=np.intp)]
    ends = [np.array([n], dtype=np.intp)]
    shortest = min(duration, max(config.min_window_s, float(np.median(np.diff(edges)))))
    length = duration
    while length >= shortest * (1 - 1e-9):  # one scale at a time
        stride = length * config.stride_ratio
        n_pos = math.floor((duration - length) / stride + 1e-9) + 1
        start_s = np.append(np.arange(n_pos) * stride, duration - length)
        a = m._nearest_edge(edges[:-1], start_s)
        starts.append(a)
        ends.append(np.maximum(m._nearest_edge(edges, start_s + length), a + 1))
        length /= config.scale_ratio
    smoothed = m._smooth(curve, config.smooth_s)
    low, high = float(smoothed.min()), float(smoothed.max())
    if high - low > m._CONTRAST_TOL:
        for r in config.thresholds:
            above = (smoothed >= low + r * (high - low)).astype(np.int8)
            steps = np.diff(np.concatenate([[0], above, [0]]))
            run_a, run_b = np.flatnonzero(steps == 1), np.flatnonzero(steps == -1)
            starts += [run_a, run_a[:-1]]
            ends += [run_b, run_b[1:]]
    return reference_unique(np.concatenate(starts), np.concatenate(ends), n)


def reference_unique(a: np.ndarray, b: np.ndarray, n_frames: int) -> tuple[np.ndarray, np.ndarray]:
    keys = np.unique(a.astype(np.int64) * (n_frames + 1) + b)
    return (keys // (n_frames + 1)).astype(np.intp), (keys % (n_frames + 1)).astype(np.intp)


def reference_nms(
    curve: m._Curve, a: np.ndarray, b: np.ndarray, score: np.ndarray, iou: float, limit: int
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


def reference_split_gain(scorer: m._WindowScorer, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Signed between-group sum of squares of inside vs outside (0 for the whole video)."""
    w_in, w_out, m_in, m_out, _ = scorer._sums(a, b)
    diff = m_in - m_out
    return w_in * w_out / scorer._cw[-1] * diff * np.abs(diff)


def reference_refine(
    scorer: m._WindowScorer, a: np.ndarray, b: np.ndarray, ratio: float
) -> tuple[np.ndarray, np.ndarray]:
    n = scorer.n_frames
    a, b = a.copy(), b.copy()
    for j in range(a.size):  # one window at a time, one edge at a time
        lo, hi = int(a[j]), int(b[j])
        if lo == 0 and hi == n:
            continue
        for _ in range(m._MAX_REFINE_ROUNDS):
            before = (lo, hi)
            radius = max(m._MIN_REFINE_FRAMES, math.ceil(ratio * (hi - lo)))
            cand = np.arange(max(0, lo - radius), min(hi - 1, lo + radius) + 1)
            gains = reference_split_gain(scorer, cand, np.full_like(cand, hi))
            lo = reference_best_split(cand, gains, lo)
            cand = np.arange(max(lo + 1, hi - radius), min(n, hi + radius) + 1)
            gains = reference_split_gain(scorer, np.full_like(cand, lo), cand)
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
}


@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
@pytest.mark.parametrize(("n_frames", "seed"), [(30, 0), (400, 1), (1800, 2), (3600, 3)])
def test_realistic_curves_match_the_reference(
    n_frames: int, seed: int, config: MomentConfig
) -> None:
    sims = clip_like_curve(n_frames, seed, noise=0.01)
    times = np.arange(n_frames) + 0.5
    duration = float(n_frames)
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


def search_hits(seed: int) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """Videos like a search's hits: 1-60 s clips, a few long ones, one- and two-frame videos,
    irregular and duplicate frame times."""
    rng = np.random.default_rng(seed)
    videos = [
        (np.array([0.4]), np.array([0.25]), 0.8),
        (np.array([0.0, 0.5]), np.array([0.2, 0.3]), 1.0),
        (np.array([1.0, 1.0, 2.0]), np.array([0.2, 0.3, 0.1]), 3.0),
    ]
    for n in [*rng.integers(3, 61, 8).tolist(), 600, 1800]:
        times = np.sort(rng.uniform(0.0, n, n)) if rng.random() < 0.3 else np.arange(n) + 0.5
        videos.append((times, clip_like_curve(n, int(rng.integers(2**32)), noise=0.01), float(n)))
    order = rng.permutation(len(videos))
    return [videos[i] for i in order]


@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
@pytest.mark.parametrize("seed", [0, 1])
def test_batch_matches_per_video_and_the_reference(seed: int, config: MomentConfig) -> None:
    videos = search_hits(seed)
    got = find_moments_batch(videos, config)
    assert got == [find_moments(t, s, d, config) for t, s, d in videos]
    assert got == [reference_find_moments(t, s, d, config) for t, s, d in videos]


def test_batch_of_no_videos_is_empty() -> None:
    assert find_moments_batch([]) == []


one_video = st.integers(1, 60).flatmap(
    lambda n: st.tuples(
        st.lists(st.floats(0, 100), min_size=n, max_size=n),
        st.lists(st.sampled_from([0.2, 0.25, 0.3]) | st.floats(-1, 1), min_size=n, max_size=n),
        st.floats(0.5, 100),
    )
)


@settings(max_examples=100, deadline=None)
@given(st.lists(one_video, min_size=1, max_size=6), st.sampled_from(list(CONFIGS.values())))
def test_random_batches_match_per_video_calls(
    videos: list[tuple[list[float], list[float], float]], config: MomentConfig
) -> None:
    arrays = [(np.array(t), np.array(s), d) for t, s, d in videos]
    assert find_moments_batch(arrays, config) == [
        reference_find_moments(t, s, d, config) for t, s, d in arrays
    ]


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
    scorer = m._WindowScorer(m._Curve.build(np.arange(n) + 0.5, sims, float(n)), MomentConfig())
    a, b = as_windows(pairs)
    video = np.zeros(a.shape, dtype=np.intp)
    got_a, got_b = m._refine_stacked(m._StackedScorer([scorer]), a, b, video, ratio)
    want_a, want_b = reference_refine(scorer, a, b, ratio)
    assert (got_a.tolist(), got_b.tolist()) == (want_a.tolist(), want_b.tolist())


pairs_60 = st.lists(st.tuples(st.integers(0, 59), st.integers(0, 59)), min_size=1, max_size=200)


@settings(deadline=None)
@given(pairs_60)
def test_unique_windows_match_the_reference(pairs: list[tuple[int, int]]) -> None:
    a, b = as_windows(pairs)
    got, want = m._unique_windows(a, b, 60), reference_unique(a, b, 60)
    assert [x.tolist() for x in got] == [x.tolist() for x in want]


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
    curve = m._Curve.build(np.arange(60) + 0.5, np.zeros(60), 60.0)
    a, b = reference_unique(*as_windows(pairs), curve.n_frames)
    score = np.resize(np.array(scores), a.size)  # few distinct values: many rank ties
    assert m._rank_and_suppress(curve, a, b, score, iou, limit) == reference_nms(
        curve, a, b, score, iou, limit
    )
