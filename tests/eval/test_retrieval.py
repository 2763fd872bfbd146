"""Text-video retrieval metrics, tie-safe ranks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from vidlens.errors import EvaluationError
from vidlens.eval.retrieval import (
    evaluate_retrieval,
    rank_metrics,
    text_to_video_ranks,
    video_to_text_ranks,
)


def test_identity_matrix_is_perfect() -> None:
    m = evaluate_retrieval(np.eye(20), np.arange(20))
    assert m["t2v"] == {"R@1": 100.0, "R@5": 100.0, "R@10": 100.0, "MedR": 1.0, "MeanR": 1.0}
    assert m["v2t"] == m["t2v"]
    assert (m["n_texts"], m["n_videos"], m["ties"]) == (20, 20, "pessimistic")


def test_constant_matrix_pessimistic_vs_optimistic() -> None:
    """A model that scores everything the same must not look perfect."""
    sim = np.zeros((10, 10))
    pessimistic = evaluate_retrieval(sim, np.arange(10))
    optimistic = evaluate_retrieval(sim, np.arange(10), ties="optimistic")
    assert pessimistic["t2v"]["R@1"] == 0.0 and pessimistic["t2v"]["MedR"] == 10.0
    assert pessimistic["v2t"]["R@1"] == 0.0 and pessimistic["v2t"]["R@10"] == 100.0
    assert optimistic["t2v"]["R@1"] == 100.0 and optimistic["t2v"]["MedR"] == 1.0


def test_one_tie_costs_one_rank() -> None:
    sim = np.array([[0.5, 0.5, 0.1]])
    assert text_to_video_ranks(sim, [0]).tolist() == [2]
    assert text_to_video_ranks(sim, [1]).tolist() == [2]
    assert text_to_video_ranks(sim, [0], ties="optimistic").tolist() == [1]


def test_video_to_text_uses_the_best_caption_and_ignores_sibling_captions() -> None:
    # texts 0, 1 describe video 0; text 2 describes video 1; video 2 has no caption.
    sim = np.array(
        [
            [0.9, 0.1, 0.0],
            [0.9, 0.2, 0.0],  # ties with its sibling: never counts against video 0
            [0.3, 0.8, 0.0],
        ]
    )
    videos, ranks = video_to_text_ranks(sim, [0, 0, 1])
    assert videos.tolist() == [0, 1] and ranks.tolist() == [1, 1]
    sim[2, 0] = 0.9  # another video's caption ties the best caption: rank 2
    _, ranks = video_to_text_ranks(sim, [0, 0, 1])
    assert ranks.tolist() == [2, 1]
    m = evaluate_retrieval(sim, [0, 0, 1])
    assert m["n_captioned_videos"] == 2 and m["v2t"]["R@1"] == 50.0


def test_rank_metrics() -> None:
    m = rank_metrics([1, 2, 6, 11], ks=(1, 5, 10))
    assert m == {"R@1": 25.0, "R@5": 50.0, "R@10": 75.0, "MedR": 4.0, "MeanR": 5.0}


@pytest.mark.parametrize(
    ("sim", "gt", "match"),
    [
        (np.array([[np.nan, 1.0]]), [0], r"similarity\[0, 0\] is nan"),
        (np.ones((2, 2)), [0], "2 integer video indices"),
        (np.ones((2, 2)), [0, 2], r"text_to_video\[1\] = 2 is not a video column"),
        (np.ones((2, 2)), [0.0, 1.0], "integer"),
        (np.ones((0, 2)), [], "non-empty"),
    ],
)
def test_bad_inputs(sim: np.ndarray, gt: list, match: str) -> None:
    with pytest.raises(EvaluationError, match=match):
        evaluate_retrieval(sim, np.asarray(gt))


def test_unknown_tie_mode() -> None:
    with pytest.raises(EvaluationError, match="choose one of pessimistic, optimistic"):
        text_to_video_ranks(np.eye(2), [0, 1], ties="random")  # type: ignore[arg-type]


@st.composite
def _problems(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    n_texts = draw(st.integers(1, 7))
    n_videos = draw(st.integers(1, 6))
    sim = draw(hnp.arrays(np.int64, (n_texts, n_videos), elements=st.integers(0, 3)))
    gt = draw(hnp.arrays(np.int64, (n_texts,), elements=st.integers(0, n_videos - 1)))
    return sim.astype(float), gt


@settings(max_examples=150, deadline=None)
@given(problem=_problems(), ties=st.sampled_from(["pessimistic", "optimistic"]))
def test_ranks_match_explicit_counting(problem: tuple[np.ndarray, np.ndarray], ties: str) -> None:
    sim, gt = problem
    n_texts, n_videos = sim.shape

    def beats(other: float, correct: float) -> bool:
        return other >= correct if ties == "pessimistic" else other > correct

    t2v = [
        1 + sum(beats(sim[t, v], sim[t, gt[t]]) for v in range(n_videos) if v != gt[t])
        for t in range(n_texts)
    ]
    assert text_to_video_ranks(sim, gt, ties=ties).tolist() == t2v  # type: ignore[arg-type]
    expected_v2t = []
    for v in sorted(set(gt.tolist())):
        captions = [t for t in range(n_texts) if gt[t] == v]
        best = max(sim[t, v] for t in captions)
        wrong = [t for t in range(n_texts) if gt[t] != v]
        expected_v2t.append(1 + sum(beats(sim[t, v], best) for t in wrong))
    videos, v2t = video_to_text_ranks(sim, gt, ties=ties)  # type: ignore[arg-type]
    assert videos.tolist() == sorted(set(gt.tolist()))
    assert v2t.tolist() == expected_v2t
    m = evaluate_retrieval(sim, gt, ties=ties)  # type: ignore[arg-type]
    assert m["t2v"]["R@1"] == pytest.approx(100 * sum(r <= 1 for r in t2v) / n_texts, abs=0.006)
    assert m["t2v"]["MedR"] == float(np.median(t2v))
