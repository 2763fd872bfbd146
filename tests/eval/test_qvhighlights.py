"""QVHighlights moment retrieval / highlight detection metrics."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vidlens.errors import EvaluationError
from vidlens.eval.qvhighlights import (
    IOU_THRESHOLDS,
    MomentEvalConfig,
    evaluate_moments,
    highlight_average_precision,
    load_jsonl,
    moment_average_precision,
)

QVH_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "qvhighlights"


def _golden(name: str) -> Path:
    path = QVH_DIR / name
    if not path.exists():
        pytest.skip(f"QVHighlights golden file {path} is absent (see ../shared/data/qvhighlights)")
    return path


@pytest.fixture(scope="module")
def golden() -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    preds = load_jsonl(_golden("sample_val_preds.jsonl"))
    truth = load_jsonl(_golden("highlight_val_release.jsonl"))
    expected = json.loads(_golden("sample_metrics_raw.json").read_text())
    return preds, truth, expected


def test_golden_reproduces_every_official_number(golden: Any) -> None:
    preds, truth, expected = golden
    metrics = evaluate_moments(preds, truth)
    assert metrics == expected
    # Same key order too, so that our metrics.json reads like the official one.
    assert json.dumps(metrics) == json.dumps(expected)


def test_golden_is_independent_of_window_order_in_the_file(golden: Any) -> None:
    preds, truth, expected = golden
    # Worst case for the official evaluator: ascending scores. Tied windows keep their order.
    ascending = [
        {**rec, "pred_relevant_windows": sorted(rec["pred_relevant_windows"], key=lambda w: w[2])}
        for rec in preds
    ]
    assert evaluate_moments(ascending, truth) == expected


# --- small hand-checked inputs ------------------------------------------------------------------


def _gt(qid: int, windows: list[list[float]], duration: float = 20, **extra: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {"qid": qid, "vid": f"v{qid}", "duration": duration}
    rec["relevant_windows"] = windows
    rec["relevant_clip_ids"] = extra.get("clip_ids", [0])
    rec["saliency_scores"] = extra.get("scores", [[4, 4, 4]])
    return rec


def _pred(qid: int, windows: list[list[float]], saliency: list[float] | None = None) -> dict:
    rec: dict[str, Any] = {"qid": qid, "pred_relevant_windows": windows}
    if saliency is not None:
        rec["pred_saliency_scores"] = saliency
    return rec


def test_perfect_and_second_place_predictions() -> None:
    truth = [_gt(1, [[0, 10]]), _gt(2, [[0, 10]])]
    preds = [_pred(1, [[0, 10, 0.9], [12, 20, 0.1]]), _pred(2, [[12, 20, 0.9], [0, 10, 0.5]])]
    m = evaluate_moments(preds, truth)
    assert m["full"]["MR-mAP"]["average"] == 75.0  # AP 1 and AP 1/2
    assert m["full"]["MR-R1"]["0.5"] == 50.0
    assert set(m) == {"brief", "full", "short", "middle", "long"}


def test_length_buckets_keep_only_windows_in_range() -> None:
    truth = [_gt(1, [[0, 5], [10, 50]], duration=60)]
    preds = [_pred(1, [[10, 50, 0.9], [0, 5, 0.8]])]
    m = evaluate_moments(preds, truth)
    # short keeps only the 5 s window, matched by the second prediction: precision 1/2.
    assert m["short"]["MR-mAP"]["average"] == 50.0
    assert m["short"]["MR-R1"]["0.5"] == 0.0  # top-1 is the 40 s window
    assert m["long"]["MR-mAP"]["average"] == 100.0
    assert m["middle"]["MR-mAP"]["average"] == 0.0  # no 10-30 s window: reported as 0
    assert m["full"]["MR-mAP"]["average"] == 100.0


def test_length_bucket_bounds_are_exclusive_below_inclusive_above() -> None:
    truth = [_gt(1, [[0, 10]]), _gt(2, [[0, 30]], duration=40)]
    preds = [_pred(1, [[0, 10, 1.0]]), _pred(2, [[0, 30, 1.0]])]
    m = evaluate_moments(preds, truth)
    assert m["short"]["MR-R1"]["0.5"] == 100.0  # 10 s is short
    assert m["middle"]["MR-R1"]["0.5"] == 100.0  # 30 s is middle
    assert m["long"]["MR-mAP"]["average"] == 0.0


def test_unsorted_windows_are_sorted_by_score_before_top1_and_truncation() -> None:
    truth = [_gt(1, [[0, 10]])]
    wrong = [[12.0, 20.0, 0.5 - i / 100] for i in range(10)]
    preds = [_pred(1, [*wrong, [0, 10, 0.99]])]  # the best window is 11th in the file
    m = evaluate_moments(preds, truth)
    assert m["full"]["MR-R1"]["0.7"] == 100.0
    assert m["full"]["MR-mAP"]["average"] == 100.0


def test_max_windows_keeps_the_top_scored_windows() -> None:
    truth = [_gt(1, [[0, 10]])]
    windows = [[12.0, 20.0, 0.9 - i / 100] for i in range(10)] + [[0.0, 10.0, 0.01]]
    m10 = evaluate_moments([_pred(1, windows)], truth)
    m11 = evaluate_moments([_pred(1, windows)], truth, max_windows=11)
    assert m10["full"]["MR-mAP"]["average"] == 0.0
    assert m11["full"]["MR-mAP"]["average"] == pytest.approx(100 / 11, abs=0.01)


def test_empty_window_list_scores_zero_not_skipped() -> None:
    truth = [_gt(1, [[0, 10]]), _gt(2, [[0, 10]])]
    m = evaluate_moments([_pred(1, [[0, 10, 1.0]]), _pred(2, [])], truth)
    assert m["full"]["MR-mAP"]["average"] == 50.0
    assert m["full"]["MR-R1"]["0.5"] == 50.0


def test_duplicate_predicted_window_is_a_false_positive() -> None:
    ap = moment_average_precision(np.array([[0, 10, 0.9], [0, 10, 0.8]]), np.array([[0.0, 10.0]]))
    assert ap.tolist() == [1.0] * 10  # the copy comes after full recall: no effect
    ap = moment_average_precision(
        np.array([[0, 10, 0.9], [0, 10, 0.8], [20, 30, 0.7]]), np.array([[0.0, 10], [20, 30]])
    )
    assert ap[0] == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)


def test_highlight_metrics_hand_example() -> None:
    # 5 clips of 2 s; clips 1 and 3 are relevant. Annotator scores per relevant clip.
    truth = [_gt(1, [[2, 4]], duration=10, clip_ids=[1, 3], scores=[[4, 2, 1], [3, 1, 1]])]
    preds = [_pred(1, [[2, 4, 1.0]], saliency=[0.1, 0.9, 0.2, 0.8, 0.0])]
    m = evaluate_moments(preds, truth)
    # Fair (>= 2): annotator 1 positives {1, 3} -> AP 1; annotator 2 {1} -> 1; annotator 3 none -> 0
    assert m["HL-min-Fair"] == {"HL-mAP": pytest.approx(200 / 3, abs=0.01), "HL-Hit1": 100.0}
    # VeryGood (>= 4): only annotator 1 on clip 1 -> AP 1, others 0.
    assert m["HL-min-VeryGood"]["HL-mAP"] == pytest.approx(100 / 3, abs=0.01)
    assert m["brief"]["HL-min-Good-Hit1"] == 100.0


def test_highlight_ap_groups_tied_scores() -> None:
    assert highlight_average_precision(np.array([1, 0, 1, 0]), np.array([0.9, 0.8, 0.7, 0.1])) == (
        pytest.approx((1 + 2 / 3) / 2)
    )
    # Tied clips enter together: one precision point 2/3 (not 1 and 2/3 in some order).
    tied = highlight_average_precision(np.array([1, 0, 1, 0]), np.array([0.5, 0.5, 0.5, 0.1]))
    assert tied == pytest.approx(2 / 3)
    assert highlight_average_precision(np.ones(3), np.zeros(3)) == 1.0
    assert highlight_average_precision(np.zeros(3), np.arange(3.0)) == 0.0


def test_moments_only_and_highlights_only() -> None:
    truth = [_gt(1, [[0, 10]])]
    mr = evaluate_moments([_pred(1, [[0, 10, 1]])], truth)
    assert "HL-min-Fair" not in mr and "MR-full-mAP" in mr["brief"]
    hl = evaluate_moments([{"qid": 1, "pred_saliency_scores": [1.0] * 10}], truth)
    assert set(hl) == {"brief", "HL-min-Fair", "HL-min-Good", "HL-min-VeryGood"}


def test_saliency_one_clip_short_is_padded_like_the_official_evaluator() -> None:
    truth = [_gt(1, [[0, 4]], duration=10, clip_ids=[4], scores=[[4, 4, 4]])]
    m = evaluate_moments([_pred(1, [[0, 4, 1]], saliency=[0.5, 0.4, 0.3, 0.2])], truth)
    # Missing clip 4 scores 0.0: ranked last, precision 1/5.
    assert m["HL-min-Fair"]["HL-mAP"] == 20.0
    assert m["HL-min-Fair"]["HL-Hit1"] == 0.0


# --- bad inputs ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("preds", "match"),
    [
        ([_pred(1, [[5, 2, 0.9]])], r"qid 1: 'pred_relevant_windows'\[0\].*starts after it ends"),
        ([_pred(1, [[0, 2, math.nan]])], r"qid 1: .*not finite"),
        ([_pred(1, [[0, 2]])], r"qid 1: 'pred_relevant_windows'\[0\] is \[0, 2\]"),
        ([_pred(1, [[0, 2, 1]]), _pred(1, [[0, 2, 1]])], r"duplicate qids \[1\]"),
        (
            [_pred(1, [[0, 2, 1]], saliency=[0.1] * 7)],
            r"7 'pred_saliency_scores' for a video of 10",
        ),
        ([_pred(1, [[0, 2, 1]], saliency=[0.1, math.nan] + [0.0] * 8)], r"\[1\] is nan"),
        ([{"query": "x"}], r"record 1 has no 'qid'"),
        ([{"qid": 1.5, "pred_relevant_windows": []}], r"integer or a string"),
        ([{"qid": 1}], r"neither 'pred_relevant_windows' nor 'pred_saliency_scores'"),
    ],
)
def test_bad_predictions_are_errors(preds: list[dict], match: str) -> None:
    with pytest.raises(EvaluationError, match=match):
        evaluate_moments(preds, [_gt(1, [[0, 10]])])


def test_missing_and_unknown_qids_are_listed() -> None:
    truth = [_gt(q, [[0, 10]]) for q in range(8)]
    preds = [_pred(q, [[0, 10, 1]]) for q in (0, 99)]
    with pytest.raises(EvaluationError) as err:
        evaluate_moments(preds, truth, predictions_name="p.jsonl", ground_truth_name="gt.jsonl")
    message = str(err.value)
    assert "7 ground-truth qids have no prediction: [1, 2, 3, 4, 5] and 2 more" in message
    assert "1 predicted qids are not in gt.jsonl: [99]" in message
    assert message.startswith("p.jsonl vs gt.jsonl")


def test_int_vs_str_qids_get_a_hint() -> None:
    with pytest.raises(EvaluationError, match="123 and '123' differ"):
        evaluate_moments([_pred(123, [[0, 1, 1]])], [{**_gt(1, [[0, 10]]), "qid": "123"}])


def test_partial_saliency_is_an_error() -> None:
    truth = [_gt(1, [[0, 10]]), _gt(2, [[0, 10]])]
    preds = [_pred(1, [[0, 10, 1]], saliency=[0.0] * 10), _pred(2, [[0, 10, 1]])]
    with pytest.raises(EvaluationError, match=r"'pred_saliency_scores' is missing for qids \[2\]"):
        evaluate_moments(preds, truth)


def test_saliency_tolerance_zero_rejects_one_missing_clip() -> None:
    truth = [_gt(1, [[0, 10]])]
    preds = [_pred(1, [[0, 10, 1]], saliency=[0.0] * 9)]
    evaluate_moments(preds, truth)  # default tolerance 1
    with pytest.raises(EvaluationError, match="tolerance 0"):
        evaluate_moments(preds, truth, config=MomentEvalConfig(saliency_length_tolerance=0))


@pytest.mark.parametrize(
    ("truth", "match"),
    [
        ([_gt(1, [[3, 3]])], "zero-length ground-truth window"),
        ([_gt(1, [])], "empty 'relevant_windows'"),
        ([_gt(1, [[0, 10]], clip_ids=[10])], r"clip ids \[10\] are outside the video's 10 clips"),
        ([_gt(1, [[0, 10]], clip_ids=[0, 1])], "one row per relevant clip id"),
        ([{"qid": 1, "relevant_windows": [[0, 2]]}], "no 'duration', needed for highlight"),
        ([_gt(1, [[0, 1]], duration=1.5, clip_ids=[])], "shorter than one 2.0 s saliency clip"),
    ],
)
def test_bad_ground_truth_is_an_error(truth: list[dict], match: str) -> None:
    with pytest.raises(EvaluationError, match=match):
        evaluate_moments([_pred(1, [[0, 10, 1]], saliency=[0.0] * 10)], truth)


def test_load_jsonl_reports_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text('{"qid": 1}\n\n{"qid": 2,}\n')
    with pytest.raises(EvaluationError, match=r"p.jsonl:3: invalid JSON"):
        load_jsonl(path)
    path.write_text('{"qid": 1}\n\n[1, 2]\n')
    with pytest.raises(EvaluationError, match=r"p.jsonl:3: expected a JSON object, got list"):
        load_jsonl(path)
    path.write_text('{"qid": 1}\n\n{"qid": 2}\n')
    assert load_jsonl(path) == [{"qid": 1}, {"qid": 2}]
    with pytest.raises(EvaluationError, match="cannot read"):
        load_jsonl(tmp_path / "missing.jsonl")


def test_nan_in_a_file_is_caught(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text('{"qid": 1, "pred_relevant_windows": [[0, 10, NaN]]}\n')
    with pytest.raises(EvaluationError, match="not finite"):
        evaluate_moments(load_jsonl(path), [_gt(1, [[0, 10]])])


# --- properties against brute-force definitions -------------------------------------------------


def _iou(a: list[float], b: list[float]) -> float:
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    return inter / ((a[1] - a[0]) + (b[1] - b[0]) - inter)


def _brute_moment_ap(preds: list[list[float]], gts: list[list[float]], thr: float) -> float:
    """Greedy matching in ranked order, then the area under max-precision-at-higher-recall."""
    taken: set[int] = set()
    hits = []
    for p in preds:
        candidates = [(_iou(p, g), j) for j, g in enumerate(gts) if j not in taken]
        candidates = [c for c in candidates if c[0] >= thr]
        if candidates:
            taken.add(max(candidates)[1])
        hits.append(bool(candidates))
    precisions = [sum(hits[: i + 1]) / (i + 1) for i in range(len(hits))]
    return sum(max(precisions[i:]) / len(gts) for i, hit in enumerate(hits) if hit)


_window = st.tuples(st.integers(0, 8), st.integers(1, 4)).map(lambda t: [t[0], t[0] + t[1]])


@settings(max_examples=150, deadline=None)
@given(
    gts=st.lists(_window, min_size=1, max_size=4),
    preds=st.lists(
        st.tuples(_window, st.sampled_from([0.1, 0.5, 0.9])).map(lambda t: [*t[0], t[1]]),
        max_size=8,
    ),
)
def test_moment_ap_matches_brute_force(gts: list[list[float]], preds: list[list[float]]) -> None:
    ranked = sorted(preds, key=lambda p: -p[2])  # stable, as the evaluator
    ap = moment_average_precision(
        np.array(ranked, dtype=float).reshape(-1, 3), np.array(gts, float)
    )
    for t, thr in enumerate(IOU_THRESHOLDS):
        assert ap[t] == pytest.approx(_brute_moment_ap(ranked, gts, thr), abs=1e-12)


def _brute_highlight_ap(labels: list[int], scores: list[float]) -> float:
    """Mean over distinct recall levels of the best precision at that recall or above."""
    positives = sum(labels)
    if positives in (0, len(labels)):
        return float(labels[0])
    points = []
    for t in sorted(set(scores), reverse=True):
        chosen = [y for y, s in zip(labels, scores, strict=True) if s >= t]
        points.append((sum(chosen) / positives, sum(chosen) / len(chosen)))
    levels = sorted({r for r, _ in points if r > 0})
    return sum(max(p for r, p in points if r >= level) for level in levels) / len(levels)


@settings(max_examples=200, deadline=None)
@given(
    data=st.lists(st.tuples(st.integers(0, 1), st.integers(0, 4)), min_size=1, max_size=12),
)
def test_highlight_ap_matches_brute_force(data: list[tuple[int, int]]) -> None:
    labels = [y for y, _ in data]
    scores = [s / 4 for _, s in data]  # few distinct values: many ties
    ours = highlight_average_precision(np.array(labels), np.array(scores))
    assert ours == pytest.approx(_brute_highlight_ap(labels, scores), abs=1e-12)
