"""Classification metrics (Kinetics style), tie-safe."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from vidlens.errors import EvaluationError
from vidlens.eval.classification import (
    class_ranks,
    confusion_matrix,
    evaluate_classification,
    predicted_classes,
)


def test_top1_top5_and_mean_class_accuracy() -> None:
    scores = np.array(
        [
            [0.9, 0.1, 0.0, 0.0, 0.0, 0.0, 0.0],  # class 0, right
            [0.9, 0.1, 0.0, 0.0, 0.0, 0.0, 0.0],  # class 1, rank 2
            [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.0],  # class 6, rank 7
            [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.7],  # class 6, right
        ]
    )
    m = evaluate_classification(scores, [0, 1, 6, 6])
    assert m["top1"] == 50.0 and m["top5"] == 75.0
    # classes 0: 1/1, 1: 0/1, 6: 1/2; classes 2-5 have no video and are left out.
    assert m["mean_class_accuracy"] == 50.0
    assert (m["n_videos"], m["n_classes"], m["n_views"]) == (4, 7, 1)


def test_multi_view_scores_are_averaged() -> None:
    views = np.array([[[1.0, 0.0], [0.0, 3.0]], [[2.0, 0.0], [2.0, 1.0]]])  # (2 videos, 2 views, 2)
    m = evaluate_classification(views, [1, 0], ks=(1,))
    assert m["top1"] == 100.0 and m["n_views"] == 2
    assert class_ranks(views, [1, 0]).tolist() == [1, 1]


def test_constant_scores_are_never_right() -> None:
    scores = np.ones((6, 3))
    labels = [0, 1, 2, 0, 1, 2]
    assert evaluate_classification(scores, labels, ks=(1,))["top1"] == 0.0
    assert evaluate_classification(scores, labels, ks=(1,), ties="optimistic")["top1"] == 100.0
    assert np.trace(confusion_matrix(scores, labels)) == 0


def test_confusion_matrix_and_tie_rule() -> None:
    scores = np.array([[0.5, 0.5, 0.0], [0.0, 1.0, 0.0], [0.2, 0.2, 0.2], [0.0, 0.1, 0.9]])
    labels = [0, 1, 2, 2]
    # Row 0 ties 0/1: predicted 1 (against the truth); row 2 all tie: lowest other class, 0.
    assert predicted_classes(scores, labels).tolist() == [1, 1, 0, 2]
    cm = confusion_matrix(scores, labels)
    assert cm.tolist() == [[0, 1, 0], [0, 1, 0], [1, 0, 1]]
    assert np.trace(cm) == round(evaluate_classification(scores, labels)["top1"] * 4 / 100)


@pytest.mark.parametrize(
    ("scores", "labels", "match"),
    [
        (np.ones((2, 3)), [0, 3], r"labels\[1\] = 3 is not a class index"),
        (np.ones((2, 3)), [0], "2 integer class indices"),
        (np.array([[1.0, np.nan]]), [0], "NaN or infinite"),
        (np.ones(3), [0], "must be"),
        (np.ones((2, 0)), [0, 0], "non-empty"),
    ],
)
def test_bad_inputs(scores: np.ndarray, labels: list, match: str) -> None:
    with pytest.raises(EvaluationError, match=match):
        evaluate_classification(scores, np.asarray(labels))


@st.composite
def _problems(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    n, c = draw(st.integers(1, 8)), draw(st.integers(1, 6))
    views = draw(st.sampled_from([0, 1, 3]))
    shape = (n, c) if views == 0 else (n, views, c)
    scores = draw(hnp.arrays(np.int64, shape, elements=st.integers(0, 3))).astype(float)
    labels = draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, c - 1)))
    return scores, labels


@settings(max_examples=150, deadline=None)
@given(problem=_problems())
def test_matches_brute_force(problem: tuple[np.ndarray, np.ndarray]) -> None:
    scores, labels = problem
    flat = scores.mean(axis=1) if scores.ndim == 3 else scores
    n, c = flat.shape
    ranks = []
    for i in range(n):
        true = flat[i, labels[i]]
        ranks.append(1 + sum(1 for k in range(c) if k != labels[i] and flat[i, k] >= true))
    assert class_ranks(scores, labels).tolist() == ranks
    m = evaluate_classification(scores, labels)
    assert m["top1"] == pytest.approx(100 * sum(r == 1 for r in ranks) / n, abs=0.006)
    assert m["top5"] == pytest.approx(100 * sum(r <= 5 for r in ranks) / n, abs=0.006)
    per_class = [
        np.mean([ranks[i] == 1 for i in range(n) if labels[i] == k])
        for k in range(c)
        if k in labels
    ]
    assert m["mean_class_accuracy"] == pytest.approx(100 * np.mean(per_class), abs=0.006)
    cm = confusion_matrix(scores, labels)
    assert cm.sum() == n and np.trace(cm) == sum(r == 1 for r in ranks)
    assert cm.sum(axis=1).tolist() == [int(np.sum(labels == k)) for k in range(c)]
