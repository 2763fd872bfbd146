"""Video scores from frame similarities: each method's value, its purpose, and its errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from vidlens.errors import ConfigError, QueryError
from vidlens.query import AGGREGATIONS, AggregationConfig, score_video, score_videos

SIMS = np.array([0.1, 0.4, 0.2, 0.3])


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def random_video(rng: np.random.Generator, n_frames: int, dim: int = 8) -> np.ndarray:
    return unit(rng.normal(size=(n_frames, dim)))


@pytest.mark.parametrize(
    ("method", "k", "expected"),
    [
        ("max", 3, 0.4),
        ("topk-mean", 1, 0.4),
        ("topk-mean", 3, (0.4 + 0.3 + 0.2) / 3),
        ("topk-mean", 10, 0.25),  # k is clipped to the 4 frames
        ("mean", 3, 0.25),  # no embeddings: the mean of the similarities
    ],
)
def test_similarity_only_methods(method: str, k: int, expected: float) -> None:
    score = score_video(SIMS, AggregationConfig(method=method, k=k))
    assert type(score) is float
    assert score == pytest.approx(expected, abs=1e-12)


def test_mean_pooling_is_cosine_with_the_renormalised_mean_frame() -> None:
    frames = np.eye(3)[:2]  # two orthogonal frames
    query = np.array([1.0, 0.0, 0.0])
    score = score_video(
        frames @ query, AggregationConfig(method="mean"), frame_vectors=frames, query=query
    )
    assert score == pytest.approx(1 / math.sqrt(2))


def test_xpool_weights_frames_by_softmax_of_similarity() -> None:
    frames = np.eye(3)[:2]
    query = np.array([2.0, 0.0, 0.0])  # not unit length: the query is re-normalised
    sims = unit(frames) @ unit(query)  # [1, 0]
    w = np.exp([1.0, 0.0]) / np.exp([1.0, 0.0]).sum()
    expected = w[0] / math.hypot(w[0], w[1])
    score = score_video(
        sims, AggregationConfig(method="xpool", temperature=1.0), frame_vectors=frames, query=query
    )
    assert score == pytest.approx(expected)


def test_xpool_with_sharp_temperature_selects_the_best_frame() -> None:
    rng = np.random.default_rng(0)
    frames, query = random_video(rng, 12), unit(rng.normal(size=8))
    sims = frames @ query
    sharp = AggregationConfig(method="xpool", temperature=1e-4)
    assert score_video(sims, sharp, frame_vectors=frames, query=query) == pytest.approx(
        sims.max(), abs=1e-6
    )


def test_xpool_with_flat_temperature_is_mean_pooling() -> None:
    rng = np.random.default_rng(1)
    frames, query = random_video(rng, 12), unit(rng.normal(size=8))
    sims = frames @ query
    flat = AggregationConfig(method="xpool", temperature=1e6)
    mean = AggregationConfig(method="mean")
    assert score_video(sims, flat, frame_vectors=frames, query=query) == pytest.approx(
        score_video(sims, mean, frame_vectors=frames, query=query), abs=1e-6
    )


def test_brief_event_wins_under_max_and_steady_match_under_mean() -> None:
    brief = np.array([0.1] * 19 + [0.4])  # one strongly matching frame in a long video
    steady = np.full(20, 0.25)  # the whole video matches moderately
    by_max = score_videos([brief, steady], AggregationConfig(method="max"))
    by_mean = score_videos([brief, steady], AggregationConfig(method="mean"))
    assert by_max[0] > by_max[1]
    assert by_mean[1] > by_mean[0]


def test_xpool_needs_embeddings() -> None:
    with pytest.raises(ConfigError, match=r"frame_vectors.*max, topk-mean or mean"):
        score_video(SIMS, AggregationConfig(method="xpool"))


def test_temporal_is_the_cosine_with_the_heads_video_embedding() -> None:
    rng = np.random.default_rng(3)
    query = rng.normal(size=8)
    frames = [random_video(rng, n) for n in (3, 5)]
    pooled = np.stack([frames[0][0] * 2.0, -frames[1].mean(axis=0)])  # any scale: normalised
    sims = [f @ unit(query) for f in frames]
    got = score_videos(sims, AggregationConfig(method="temporal"), query=query,
                       video_embeddings=pooled)  # fmt: skip
    np.testing.assert_allclose(got, unit(pooled) @ unit(query), atol=1e-12)
    assert got[0] == pytest.approx(sims[0][0]) and got[1] < 0  # not a function of the sims
    with pytest.raises(ConfigError, match=r"temporal-head embedding.*choose mean otherwise"):
        score_videos(sims, AggregationConfig(method="temporal"), query=query)
    with pytest.raises(QueryError, match="do not fit 2 videos"):
        score_videos(sims, AggregationConfig(method="temporal"), query=query,
                     video_embeddings=pooled[:1])  # fmt: skip


def test_unknown_method_lists_the_choices() -> None:
    with pytest.raises(ConfigError, match=r"'median'.*max, topk-mean, mean, xpool, temporal"):
        AggregationConfig(method="median")


@pytest.mark.parametrize(
    ("field", "value"), [("k", 0), ("k", 2.5), ("temperature", 0.0), ("temperature", math.nan)]
)
def test_bad_numbers_are_config_errors(field: str, value: float) -> None:
    with pytest.raises(ConfigError, match=field):
        AggregationConfig(**{field: value})  # type: ignore[arg-type]


def test_bad_inputs_are_query_errors() -> None:
    with pytest.raises(QueryError, match="non-empty"):
        score_video(np.array([]), AggregationConfig())
    with pytest.raises(QueryError, match="NaN"):
        score_video(np.array([0.1, math.nan]), AggregationConfig())
    with pytest.raises(QueryError, match=r"expected \(2, 3\)"):
        score_video(
            np.array([0.1, 0.2]),
            AggregationConfig(method="xpool"),
            frame_vectors=np.ones((3, 3)),
            query=np.ones(3),
        )


def test_empty_batch_gives_no_scores() -> None:
    assert score_videos([], AggregationConfig()).shape == (0,)


sims_lists = st.lists(
    arrays(np.float64, st.integers(1, 12), elements=st.floats(-1, 1, allow_nan=False)),
    min_size=1,
    max_size=6,
)


@settings(max_examples=60, deadline=None)
@given(sims_lists, st.integers(1, 5))
def test_max_bounds_topk_bounds_mean(videos: list[np.ndarray], k: int) -> None:
    top = score_videos(videos, AggregationConfig(method="max"))
    topk = score_videos(videos, AggregationConfig(method="topk-mean", k=k))
    mean = score_videos(videos, AggregationConfig(method="mean"))
    assert np.all(top >= topk - 1e-12)
    assert np.all(topk >= mean - 1e-12)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(1, 9), min_size=1, max_size=5),
    st.sampled_from(AGGREGATIONS),
    st.integers(0, 2**32 - 1),
)
def test_batch_scores_equal_one_video_at_a_time(lengths: list[int], method: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    query = unit(rng.normal(size=8))
    vectors = [random_video(rng, n) for n in lengths]
    sims = [v @ query for v in vectors]
    pooled = rng.normal(size=(len(lengths), 8))  # the temporal head's, for `temporal`
    config = AggregationConfig(method=method, k=2, temperature=0.05)
    batch = score_videos(sims, config, vectors, query, pooled)
    single = [
        score_video(s, config, frame_vectors=v, query=query, video_embedding=e)
        for s, v, e in zip(sims, vectors, pooled, strict=True)
    ]
    np.testing.assert_allclose(batch, single, atol=1e-12)
    assert np.all(np.abs(batch) <= 1 + 1e-9)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        arrays(
            np.float64,
            st.integers(1, 15),
            elements=st.sampled_from([0.2, 0.25, 0.3]) | st.floats(-1, 1, allow_nan=False),
        ),
        min_size=1,
        max_size=8,
    ),
    st.integers(1, 12),  # both the per-video-max passes (k <= 8) and the sorting path
)
def test_topk_mean_is_exactly_the_mean_of_the_best_frames_added_best_first(
    videos: list[np.ndarray], k: int
) -> None:
    got = score_videos(videos, AggregationConfig(method="topk-mean", k=k))
    want = [sum(sorted(v.tolist(), reverse=True)[:k]) / min(k, v.size) for v in videos]
    assert got.tolist() == want
