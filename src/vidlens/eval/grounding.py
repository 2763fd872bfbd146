"""Single-window temporal grounding metrics (Charades-STA, TACoS conventions).

Each query has exactly one ground-truth window; a model returns ranked windows. Records use the
QVHighlights field names (as Lighthouse does for these datasets):

- ground truth: ``{"qid", "relevant_windows": [[start_s, end_s]], ...}`` (exactly one window)
- predictions: ``{"qid", "pred_relevant_windows": [[start_s, end_s, score], ...], ...}``

Metrics, as percentages rounded to 2 decimals:

- ``R1@t``: the top-1 window's IoU with the ground truth is at least ``t``.
- ``R5@t``: one of the top-5 windows reaches IoU ``t`` (papers usually apply NMS before keeping
  five windows; that is the predictor's job, the windows are scored as given).
- ``mIoU``: the mean IoU of the top-1 window.

Rules: windows are ranked by score, descending, stable (file order on ties); a query with no
predicted window counts as IoU 0; missing or unknown qids, duplicates, ``start > end`` and
non-finite numbers are errors, as in :mod:`vidlens.eval.qvhighlights`. IoU is intersection over
union; a zero-length predicted window has IoU 0.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import EvaluationError
from .qvhighlights import _float_matrix, _index_unique, _match_qids, _pct

__all__ = ["DEFAULT_GROUNDING_THRESHOLDS", "evaluate_grounding", "grounding_ious", "temporal_iou"]

logger = logging.getLogger(__name__)

DEFAULT_GROUNDING_THRESHOLDS: tuple[float, ...] = (0.3, 0.5, 0.7)


def temporal_iou(windows: np.ndarray, truth: Sequence[float] | np.ndarray) -> np.ndarray:
    """IoU of each (m, 2+) ``[start_s, end_s, ...]`` window with one ``[start_s, end_s]`` window.

    Returns (m,) float64 in [0, 1]; 0 where the union is empty (two zero-length windows).
    """
    w = np.asarray(windows, dtype=np.float64)
    if w.ndim != 2 or w.shape[1] < 2:
        raise EvaluationError(f"windows must have shape (m, 2) or (m, 3), got {w.shape}")
    t0, t1 = float(truth[0]), float(truth[1])
    inter = np.clip(np.minimum(w[:, 1], t1) - np.maximum(w[:, 0], t0), 0.0, None)
    union = (w[:, 1] - w[:, 0]) + (t1 - t0) - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def grounding_ious(
    predictions: Sequence[Mapping[str, Any]],
    ground_truth: Sequence[Mapping[str, Any]],
    *,
    top_k: int = 5,
    predictions_name: str = "predictions",
    ground_truth_name: str = "ground truth",
) -> dict[Hashable, np.ndarray]:
    """IoU of each query's top ``top_k`` windows (by score) with its ground-truth window.

    Returns:
        qid -> (min(top_k, #windows),) float64 IoUs, best-scored window first, in ground-truth
        order of the qids.

    Raises:
        EvaluationError: unmatched or duplicate qids, a query with other than one ground-truth
            window, or malformed windows.
    """
    if top_k < 1:
        raise EvaluationError(f"top_k must be at least 1, got {top_k}")
    pred_recs = _index_unique(predictions, predictions_name)
    gt_recs = _index_unique(ground_truth, ground_truth_name)
    qids = _match_qids(pred_recs, gt_recs, predictions_name, ground_truth_name)
    out: dict[Hashable, np.ndarray] = {}
    for q in qids:
        gt = gt_recs[q]
        if "relevant_windows" not in gt:
            raise EvaluationError(f"{ground_truth_name}: qid {q!r} has no 'relevant_windows'")
        truth = _float_matrix(gt["relevant_windows"], 2, "relevant_windows", q, ground_truth_name)
        if len(truth) != 1:
            raise EvaluationError(
                f"{ground_truth_name}: qid {q!r} has {len(truth)} ground-truth windows; grounding "
                "metrics need exactly one (use `vidlens eval moments` for multi-window queries)"
            )
        if "pred_relevant_windows" not in pred_recs[q]:
            raise EvaluationError(
                f"{predictions_name}: qid {q!r} has no 'pred_relevant_windows'; give ranked "
                "[start_s, end_s, score] windows"
            )
        windows = _float_matrix(
            pred_recs[q]["pred_relevant_windows"], 3, "pred_relevant_windows", q, predictions_name
        )
        windows = windows[np.argsort(-windows[:, 2], kind="stable")][:top_k]
        out[q] = temporal_iou(windows, truth[0])
    return out


def evaluate_grounding(
    predictions: Sequence[Mapping[str, Any]],
    ground_truth: Sequence[Mapping[str, Any]],
    thresholds: Sequence[float] = DEFAULT_GROUNDING_THRESHOLDS,
    *,
    ks: Sequence[int] = (1, 5),
    predictions_name: str = "predictions",
    ground_truth_name: str = "ground truth",
) -> dict[str, float]:
    """Recall@k at IoU thresholds and mean top-1 IoU, as percentages with 2 decimals.

    Returns:
        ``{"R1@0.3", "R1@0.5", "R1@0.7", "R5@0.3", "R5@0.5", "R5@0.7", "mIoU"}`` for the
        defaults (one ``R{k}@{t}`` per k and threshold, k-major, then ``mIoU``).
    """
    if not thresholds or not all(0 < t <= 1 for t in thresholds):
        raise EvaluationError(f"IoU thresholds must be within (0, 1], got {list(thresholds)}")
    if not ks or min(ks) < 1:
        raise EvaluationError(f"ks must be positive integers, got {list(ks)}")
    ious = grounding_ious(
        predictions,
        ground_truth,
        top_k=max(ks),
        predictions_name=predictions_name,
        ground_truth_name=ground_truth_name,
    )
    best_in_k = {k: np.array([v[:k].max() if len(v) else 0.0 for v in ious.values()]) for k in ks}
    top1 = np.array([v[0] if len(v) else 0.0 for v in ious.values()])
    metrics: dict[str, float] = {}
    for k in ks:
        for t in thresholds:
            metrics[f"R{k}@{t:g}"] = _pct(float(np.mean(best_in_k[k] >= t)))
    metrics["mIoU"] = _pct(float(np.mean(top1)))
    logger.info("grounding: %d queries, %s", len(top1), metrics)
    return metrics
