"""Single-window grounding metrics (Charades-STA style)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vidlens.errors import EvaluationError
from vidlens.eval.grounding import evaluate_grounding, grounding_ious, temporal_iou


def _gt(qid: int, start: float, end: float) -> dict:
    return {"qid": qid, "relevant_windows": [[start, end]]}


def _pred(qid: int, windows: list[list[float]]) -> dict:
    return {"qid": qid, "pred_relevant_windows": windows}


def test_hand_example() -> None:
    truth = [_gt(1, 0, 10), _gt(2, 0, 10), _gt(3, 0, 10)]
    preds = [
        _pred(1, [[0, 10, 0.9]]),  # IoU 1
        _pred(2, [[0, 6, 0.9]]),  # IoU 0.6
        _pred(3, [[20, 30, 0.9], [15, 25, 0.8], [12, 14, 0.7], [11, 12, 0.6], [0, 4, 0.5]]),
    ]
    m = evaluate_grounding(preds, truth)
    assert list(m) == ["R1@0.3", "R1@0.5", "R1@0.7", "R5@0.3", "R5@0.5", "R5@0.7", "mIoU"]
    assert m["R1@0.5"] == 66.67 and m["R1@0.7"] == 33.33
    assert m["R5@0.3"] == 100.0 and m["R5@0.5"] == 66.67  # query 3's 5th window has IoU 0.4
    assert m["mIoU"] == pytest.approx(round(100 * 1.6 / 3, 2))


def test_windows_are_ranked_by_score_not_file_order() -> None:
    m = evaluate_grounding([_pred(1, [[20, 30, 0.1], [0, 10, 0.9]])], [_gt(1, 0, 10)])
    assert m["R1@0.7"] == 100.0 and m["mIoU"] == 100.0


def test_only_top_five_count_for_r5() -> None:
    windows = [[20.0, 30.0, 0.9]] * 5 + [[0.0, 10.0, 0.1]]
    m = evaluate_grounding([_pred(1, windows)], [_gt(1, 0, 10)])
    assert m["R5@0.3"] == 0.0


def test_no_window_counts_as_iou_zero() -> None:
    m = evaluate_grounding([_pred(1, []), _pred(2, [[0, 10, 1]])], [_gt(1, 0, 10), _gt(2, 0, 10)])
    assert m["R1@0.3"] == 50.0 and m["mIoU"] == 50.0


def test_custom_thresholds_and_ks() -> None:
    m = evaluate_grounding([_pred(1, [[0, 5, 1]])], [_gt(1, 0, 10)], (0.1, 0.55), ks=(1,))
    assert m == {"R1@0.1": 100.0, "R1@0.55": 0.0, "mIoU": 50.0}


def test_temporal_iou_zero_length() -> None:
    assert temporal_iou(np.array([[2.0, 2.0]]), [0, 10]).tolist() == [0.0]
    assert temporal_iou(np.array([[2.0, 2.0]]), [2, 2]).tolist() == [0.0]


@pytest.mark.parametrize(
    ("preds", "truth", "match"),
    [
        (
            [_pred(1, [[0, 1, 1]])],
            [{"qid": 1, "relevant_windows": [[0, 1], [2, 3]]}],
            "exactly one",
        ),
        ([_pred(1, [[3, 1, 1]])], [_gt(1, 0, 10)], "starts after it ends"),
        ([_pred(1, [[0, 1, math.inf]])], [_gt(1, 0, 10)], "not finite"),
        ([_pred(2, [[0, 1, 1]])], [_gt(1, 0, 10)], r"have no prediction: \[1\]"),
        ([{"qid": 1}], [_gt(1, 0, 10)], "has no 'pred_relevant_windows'"),
    ],
)
def test_bad_inputs(preds: list[dict], truth: list[dict], match: str) -> None:
    with pytest.raises(EvaluationError, match=match):
        evaluate_grounding(preds, truth)


def _brute_iou(a: list[float], b: list[float]) -> float:
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0]) if inter > 0 else (a[1] - a[0]) + (b[1] - b[0])
    return inter / union if union > 0 else 0.0


_window = st.tuples(st.integers(0, 10), st.integers(0, 5)).map(lambda t: [t[0], t[0] + t[1]])


@settings(max_examples=100, deadline=None)
@given(
    queries=st.lists(
        st.tuples(
            _window.filter(lambda w: w[1] > w[0]),
            st.lists(st.tuples(_window, st.integers(0, 3)), max_size=7),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_matches_brute_force(queries: list) -> None:
    truth = [_gt(q, *gt) for q, (gt, _) in enumerate(queries)]
    preds = [_pred(q, [[*w, s] for w, s in ws]) for q, (_, ws) in enumerate(queries)]
    m = evaluate_grounding(preds, truth)
    ranked = [sorted(ws, key=lambda p: -p[1]) for _, ws in queries]  # stable on ties
    top_ious = [
        [_brute_iou(w, gt) for w, _ in r] for (gt, _), r in zip(queries, ranked, strict=True)
    ]
    for t in (0.3, 0.5, 0.7):
        r1 = sum(1 for ious in top_ious if ious and ious[0] >= t) / len(queries)
        r5 = sum(1 for ious in top_ious if any(i >= t for i in ious[:5])) / len(queries)
        assert m[f"R1@{t}"] == pytest.approx(100 * r1, abs=0.006)
        assert m[f"R5@{t}"] == pytest.approx(100 * r5, abs=0.006)
    miou = sum(ious[0] if ious else 0.0 for ious in top_ious) / len(queries)
    assert m["mIoU"] == pytest.approx(100 * miou, abs=0.006)
    per_query = grounding_ious(preds, truth)
    assert list(per_query) == list(range(len(queries)))
