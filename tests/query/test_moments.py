"""Moments and highlights from similarity curves: the right seconds, for any video length."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vidlens.errors import ConfigError, QueryError
from vidlens.query import MomentConfig, find_moments, moment_to_qvh, saliency_scores

LOW, HIGH = 0.20, 0.30  # CLIP-like cosines of irrelevant and relevant frames


def step_curve(
    duration_s: float,
    segments_s: list[tuple[float, float]],
    *,
    fps: float = 1.0,
    first_s: float = 0.0,
    noise: float = 0.0,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Frames every 1/fps seconds from first_s; HIGH inside the segments, LOW elsewhere."""
    times = np.arange(first_s, duration_s, 1.0 / fps)
    sims = np.full(times.size, LOW)
    for start, end in segments_s:
        sims[(times >= start) & (times < end)] = HIGH
    return times, sims + np.random.default_rng(seed).normal(0.0, noise, times.size)


def assert_window_near(
    moment: tuple[float, float, float], truth: tuple[float, float], tol_s: float
) -> None:
    start, end, _ = moment
    assert abs(start - truth[0]) <= tol_s and abs(end - truth[1]) <= tol_s, (moment, truth)


@pytest.mark.parametrize("first_s", [0.0, 0.5], ids=["frames-at-whole-seconds", "centred"])
@pytest.mark.parametrize(
    ("duration_s", "truth"),
    [
        (60.0, (10.0, 20.0)),  # middle
        (60.0, (0.0, 10.0)),  # start
        (60.0, (50.0, 60.0)),  # end
        (60.0, (0.0, 50.0)),  # most of the video
        (60.0, (5.0, 55.0)),  # most of the video, in the middle
        (600.0, (300.0, 303.0)),  # a 3-s event in 10 minutes
    ],
)
def test_step_segment_is_the_top_moment(
    duration_s: float, truth: tuple[float, float], first_s: float
) -> None:
    times, sims = step_curve(duration_s, [truth], first_s=first_s)
    moments = find_moments(times, sims, duration_s)
    assert_window_near(moments[0], truth, tol_s=1.0)
    if first_s == 0.5:  # frames in the middle of each second: the cells meet at the true edges
        assert_window_near(moments[0], truth, tol_s=1e-9)


@pytest.mark.parametrize(
    "segments",
    [[(20.0, 35.0), (70.0, 85.0)], [(5.0, 15.0), (50.0, 60.0), (100.0, 110.0)]],
    ids=["two", "three"],
)
def test_separate_segments_are_the_top_moments(segments: list[tuple[float, float]]) -> None:
    times, sims = step_curve(120.0, segments)
    moments = find_moments(times, sims, 120.0)
    top = sorted(moments[: len(segments)])
    for moment, truth in zip(top, segments, strict=True):
        assert_window_near(moment, truth, tol_s=1.0)


def test_flat_curve_gives_the_whole_video_with_a_low_score() -> None:
    times, sims = step_curve(60.0, [])
    moments = find_moments(times, sims, 60.0)
    assert [(s, e) for s, e, _ in moments] == [(0.0, 60.0)]
    found = find_moments(*step_curve(60.0, [(10.0, 20.0)]), 60.0)
    assert moments[0][2] < 0.5 * found[0][2]


@pytest.mark.parametrize("seed", range(5))
def test_noisy_step_still_finds_the_segment(seed: int) -> None:
    times, sims = step_curve(120.0, [(40.0, 60.0)], noise=0.02, seed=seed)  # contrast = 5 sd
    assert_window_near(find_moments(times, sims, 120.0)[0], (40.0, 60.0), tol_s=1.0)


def test_one_frame_video_is_one_whole_moment() -> None:
    moments = find_moments(np.array([3.0]), np.array([0.27]), 7.0)
    assert moments == [(0.0, 7.0, pytest.approx(MomentConfig().level_weight * 0.27))]


def test_two_frame_video_picks_the_better_frame() -> None:
    moments = find_moments(np.array([0.0, 1.0]), np.array([LOW, HIGH]), 2.0)
    assert moments[0][:2] == (0.5, 2.0)  # the second frame stands for [0.5, 2]


def test_one_second_video_sampled_densely() -> None:
    times, sims = step_curve(1.0, [(0.3, 0.6)], fps=20.0, first_s=0.025)
    assert_window_near(find_moments(times, sims, 1.0)[0], (0.3, 0.6), tol_s=0.05)


def test_irregular_times_snap_within_the_local_interval() -> None:
    rng = np.random.default_rng(3)
    times = np.sort(rng.uniform(0.0, 90.0, 80))
    sims = np.where((times >= 30.0) & (times < 50.0), HIGH, LOW)
    start, end, _ = find_moments(times, sims, 90.0)[0]
    for edge, found in ((30.0, start), (50.0, end)):
        i = int(np.searchsorted(times, edge))  # the frames on either side of the true edge
        local_interval = float(times[i] - times[i - 1])
        assert abs(found - edge) <= local_interval


def test_frame_order_and_repeated_times_do_not_matter() -> None:
    times, sims = step_curve(60.0, [(10.0, 20.0)])
    order = np.random.default_rng(0).permutation(times.size)
    shuffled = find_moments(times[order], sims[order], 60.0)
    assert shuffled == find_moments(times, sims, 60.0)
    doubled = find_moments(np.concatenate([times, times]), np.concatenate([sims, sims]), 60.0)
    assert doubled == shuffled


def test_long_video_of_twenty_thousand_frames() -> None:
    duration_s = 20_000.0  # 5.5 hours at 1 fps
    times, sims = step_curve(duration_s, [(12_345.0, 12_400.0)], noise=0.02)
    moments = find_moments(times, sims, duration_s)
    assert_window_near(moments[0], (12_345.0, 12_400.0), tol_s=1.0)
    assert all(0 <= s < e <= duration_s for s, e, _ in moments)


def test_max_moments_and_nms_limit_the_output() -> None:
    times, sims = step_curve(300.0, [], noise=0.02, seed=1)
    config = MomentConfig(max_moments=3, nms_iou=0.3)
    moments = find_moments(times, sims, 300.0, config)
    assert len(moments) <= 3
    for i, (s1, e1, _) in enumerate(moments):
        for s2, e2, _ in moments[i + 1 :]:
            inter = max(0.0, min(e1, e2) - max(s1, s2))
            assert inter / (max(e1, e2) - min(s1, s2)) <= 0.3 + 1e-9


@pytest.mark.parametrize(
    ("field", "value"),
    [("nms_iou", 0.0), ("max_moments", 0), ("scale_ratio", 1.0), ("thresholds", (0.5, 1.5))],
)
def test_bad_config_is_a_config_error_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=field):
        MomentConfig(**{field: value})  # type: ignore[arg-type]


def test_bad_curves_are_query_errors() -> None:
    with pytest.raises(QueryError, match="same length"):
        find_moments(np.arange(3.0), np.zeros(2), 3.0)
    with pytest.raises(QueryError, match="duration_s"):
        find_moments(np.arange(3.0), np.zeros(3), 0.0)
    with pytest.raises(QueryError, match="NaN"):
        find_moments(np.array([0.0, math.nan]), np.zeros(2), 3.0)


curves = st.integers(1, 60).flatmap(
    lambda n: st.tuples(
        st.lists(st.floats(0, 500), min_size=n, max_size=n),
        st.lists(st.floats(-1, 1), min_size=n, max_size=n),
        st.floats(0.5, 500),
    )
)


@settings(max_examples=80, deadline=None)
@given(curves)
def test_moments_are_valid_sorted_and_deterministic(
    curve: tuple[list[float], list[float], float],
) -> None:
    times, sims, duration_s = np.array(curve[0]), np.array(curve[1]), curve[2]
    moments = find_moments(times, sims, duration_s)
    assert 1 <= len(moments) <= MomentConfig().max_moments
    for start, end, score in moments:
        assert 0.0 <= start < end <= duration_s
        assert all(type(v) is float for v in (start, end, score))
    keys = [(-score, start) for start, _, score in moments]
    assert keys == sorted(keys)
    assert find_moments(times, sims, duration_s) == moments
    json.dumps(moments)


@pytest.mark.parametrize(
    ("duration_s", "n_clips"), [(1.0, 1), (2.0, 1), (3.0, 2), (59.5, 30), (150.0, 75)]
)
def test_saliency_has_one_score_per_two_second_clip(duration_s: float, n_clips: int) -> None:
    times, sims = step_curve(duration_s, [])
    assert len(saliency_scores(times, sims, duration_s)) == n_clips == math.ceil(duration_s / 2)


def test_saliency_is_highest_in_the_relevant_clips() -> None:
    times, sims = step_curve(60.0, [(10.0, 20.0)])
    scores = np.array(saliency_scores(times, sims, 60.0))
    relevant = np.zeros(scores.size, dtype=bool)
    relevant[5:10] = True  # clips [10, 12) ... [18, 20)
    assert scores[relevant].min() > scores[~relevant].max()


def test_saliency_interpolates_between_sparse_frames() -> None:
    scores = saliency_scores(np.array([0.0, 10.0]), np.array([0.0, 1.0]), 10.0)
    assert scores == pytest.approx([0.1, 0.3, 0.5, 0.7, 0.9])


def test_qvhighlights_fields_are_json_ready() -> None:
    times, sims = step_curve(150.0, [(30.0, 40.0)])
    pred = moment_to_qvh(times, sims, 150.0)
    assert set(pred) == {"pred_relevant_windows", "pred_saliency_scores"}
    assert len(pred["pred_saliency_scores"]) == 75
    assert all(len(w) == 3 for w in pred["pred_relevant_windows"])
    assert json.loads(json.dumps(pred)) == pred


def test_rerank_moments_adds_the_centred_match() -> None:
    from vidlens.query.moments import rerank_moments

    moments = [(2.0, 6.0, 0.30), (10.0, 12.0, 0.25), (0.0, 20.0, 0.05)]
    match = np.array([0.10, 0.40, 0.10])  # the second window matches best as a clip
    got = rerank_moments(moments, match, 1.0)
    assert [(s, e) for s, e, _ in got] == [(10.0, 12.0), (2.0, 6.0), (0.0, 20.0)]
    assert [sc for _, _, sc in got] == pytest.approx([0.45, 0.2, -0.05])
    assert rerank_moments(moments, match, 0.0) == moments
    assert rerank_moments(moments, match, 0.1)[0] == pytest.approx((2.0, 6.0, 0.29))
    # equal scores: earlier start, then the longer window, first
    tie = rerank_moments([(5.0, 6.0, 0.2), (1.0, 2.0, 0.2), (1.0, 4.0, 0.2)], np.zeros(3), 1.0)
    assert [(s, e) for s, e, _ in tie] == [(1.0, 4.0), (1.0, 2.0), (5.0, 6.0)]
    # the whole video first (nothing stands out in the curve) stays first; the rest re-order
    whole = [(0.0, 20.0, 0.04), (3.0, 9.0, 0.02), (11.0, 14.0, 0.01)]
    got = rerank_moments(whole, np.array([0.30, 0.30, 0.40]), 1.0, duration_s=20.0)
    assert [(s, e) for s, e, _ in got] == [(0.0, 20.0), (11.0, 14.0), (3.0, 9.0)]
    assert [sc for _, _, sc in got] == pytest.approx([0.0067, 0.0067, -0.0833], abs=1e-4)
    assert rerank_moments(whole, np.array([0.30, 0.30, 0.40]), 1.0)[0][:2] == (11.0, 14.0)
    with pytest.raises(QueryError, match="one finite match per moment"):
        rerank_moments(moments, np.zeros(2), 1.0)
    with pytest.raises(ConfigError, match="head_weight"):
        MomentConfig(head_weight=-1.0)
