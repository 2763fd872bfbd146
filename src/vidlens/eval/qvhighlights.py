"""QVHighlights moment retrieval (MR) and highlight detection (HL) metrics.

Reproduces the official QVHighlights evaluator (Moment-DETR's ``standalone_eval``) number for
number, with its output dict (same keys, nesting and 2-decimal rounding), and turns the inputs it
silently mishandles into errors or documented rules.

Inputs are the community's JSONL records:

- ground truth: ``{"qid", "query", "vid", "duration", "relevant_windows": [[st, ed], ...],
  "relevant_clip_ids": [...], "saliency_scores": [[a1, a2, a3], ...]}``
- predictions: ``{"qid", "query", "vid", "pred_relevant_windows": [[st, ed, score], ...],
  "pred_saliency_scores": [one per 2-s clip]}``

Metrics, as the official evaluator computes them:

- ``MR-mAP``: per query, average precision at each IoU threshold 0.50:0.05:0.95 over the top
  ``max_windows`` predicted windows (greedy matching in score order, each ground-truth window
  taken once, the VOC precision envelope); averaged over queries, then over thresholds.
- ``MR-R1``: IoU of the top-1 window with the ground-truth window it overlaps most, >= threshold.
- Length buckets keep only the ground-truth windows whose length ``l`` falls in the bucket
  (short ``0 < l <= 10``, middle ``10 < l <= 30``, long ``l > 30`` seconds) and only the queries
  left with at least one window; ``full`` keeps everything.
- ``HL-min-{Fair,Good,VeryGood}``: a clip is positive for one annotator when that annotator's score
  is at least 2 / 3 / 4 ("min" is that minimum score). ``HL-mAP`` is the AP of the predicted
  saliency ranking of the video's clips, per annotator, averaged over annotators and queries.
  ``HL-Hit1`` is whether the top-scoring clip is positive for at least one annotator.

Rules where the official evaluator is silent or wrong (each is tested):

- Predicted windows are sorted by score, descending and stable, *before* the top ``max_windows``
  are kept and before the top-1 window is taken (the official code truncates and takes the top-1
  in file order, so unsorted files get wrong numbers). Sorted files give the official numbers.
- A query with an empty ``pred_relevant_windows`` list scores AP 0 and an R1 miss (the official
  code drops it from the average, which inflates mAP, or crashes).
- Every ground-truth qid needs exactly one prediction and every prediction a ground-truth qid;
  otherwise an error lists up to 5 offending qids. Duplicate qids on either side are errors.
- ``start > end``, non-finite numbers, a non-finite score, ground-truth windows of zero length,
  and clip ids outside the video are errors naming the qid.
- ``pred_saliency_scores`` must have ``int(duration / clip_length_s)`` entries. Off by at most
  ``saliency_length_tolerance`` clips (default 1: feature extractors often drop the last partial
  clip, as 13 queries of the official sample predictions do) is handled as the official evaluator
  does: for AP missing clips score 0.0 and extra ones are dropped; Hit@1 uses the argmax of the
  scores as given and misses when it points past the video. A larger mismatch is an error.
- Ties among clip saliency scores: AP groups tied clips (one precision/recall point per distinct
  score, as the official evaluator via scikit-learn); Hit@1 takes the first top-scoring clip.
- Ties among predicted windows' scores keep file order (stable sort), as the official evaluator.
  A predicted window that ties in IoU with two untaken ground-truth windows takes the later one:
  the official code orders them with numpy's unstable default sort, which gives this order with
  numpy < 1.25 but may not on AVX-512 CPUs with newer numpy; we fix the older behaviour.
- Duplicate predicted windows are not merged: a second copy is a false positive once its
  ground-truth window is taken.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import EvaluationError

__all__ = [
    "HL_SALIENCY_LEVELS",
    "IOU_THRESHOLDS",
    "LENGTH_BUCKETS",
    "MomentEvalConfig",
    "evaluate_moments",
    "highlight_average_precision",
    "load_jsonl",
    "moment_average_precision",
]

logger = logging.getLogger(__name__)

# IoU thresholds 0.50:0.05:0.95, written as the official evaluator does (via "%.2f").
IOU_THRESHOLDS: tuple[float, ...] = tuple(float(f"{0.5 + 0.05 * i:.2f}") for i in range(10))
# (name, lower bound exclusive, upper bound inclusive) of a ground-truth window's length, seconds.
# The official code bounds "long" at 150 s, the longest QVHighlights video; we leave it open so
# that longer windows of other datasets are not silently dropped (same numbers on QVHighlights).
LENGTH_BUCKETS: tuple[tuple[str, float, float], ...] = (
    ("short", 0.0, 10.0),
    ("middle", 10.0, 30.0),
    ("long", 30.0, math.inf),
)
# Minimum annotator score (0..4) for a clip to count as a highlight, by level name.
HL_SALIENCY_LEVELS: tuple[tuple[str, int], ...] = (("Fair", 2), ("Good", 3), ("VeryGood", 4))
_MAX_LISTED = 5


@dataclass(frozen=True)
class MomentEvalConfig:
    """Settings of the QVHighlights evaluation (recorded in every metrics file)."""

    max_windows: int = 10  # predicted windows per query kept for MR-mAP (top by score)
    clip_length_s: float = 2.0  # saliency clip length; a video has int(duration / this) clips
    saliency_length_tolerance: int = 1  # allowed |#pred saliency scores - #clips|; see module doc
    iou_thresholds: tuple[float, ...] = field(default=IOU_THRESHOLDS)

    def __post_init__(self) -> None:
        if self.max_windows < 1:
            raise EvaluationError(f"max_windows must be at least 1, got {self.max_windows}")
        if not self.clip_length_s > 0:
            raise EvaluationError(f"clip_length_s must be positive, got {self.clip_length_s}")
        if self.saliency_length_tolerance < 0:
            raise EvaluationError(
                f"saliency_length_tolerance must be >= 0, got {self.saliency_length_tolerance}"
            )
        if not self.iou_thresholds or not all(0 < t <= 1 for t in self.iou_thresholds):
            raise EvaluationError(
                f"iou_thresholds must be non-empty and within (0, 1], got {self.iou_thresholds}"
            )

    def to_dict(self) -> dict[str, Any]:
        """The settings as plain JSON types."""
        d = asdict(self)
        d["iou_thresholds"] = list(self.iou_thresholds)
        d["length_buckets_s"] = {
            name: [lo, None if math.isinf(hi) else hi] for name, lo, hi in LENGTH_BUCKETS
        }
        d["hl_min_scores"] = dict(HL_SALIENCY_LEVELS)
        return d


# --------------------------------------------------------------------------------------------
# Reading files


def load_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Read a JSON Lines file: one JSON object per line; blank lines are skipped.

    Raises:
        EvaluationError: the file cannot be read, or a line is not a JSON object (the message
            gives the path and the 1-based line number).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as err:
        raise EvaluationError(f"cannot read {path}: {err.strerror or err}") from err
    except UnicodeDecodeError as err:
        raise EvaluationError(f"{path} is not UTF-8 text ({err}); give a JSONL file") from err
    records: list[dict[str, Any]] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise EvaluationError(
                f"{path}:{lineno}: invalid JSON ({err.msg} at column {err.colno}); "
                "each line must be one JSON object"
            ) from err
        if not isinstance(obj, dict):
            raise EvaluationError(
                f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}; "
                "each line must be one JSON object"
            )
        records.append(obj)
    return records


# --------------------------------------------------------------------------------------------
# Validation into arrays


@dataclass(frozen=True)
class _Truth:
    qid: Hashable
    windows: np.ndarray  # (k, 2) float64, start < end
    saliency: np.ndarray  # (n_clips, n_annotators) float64 scores 0..4, 0 outside relevant
    # clips; (0, 0) when highlights are not evaluated


@dataclass(frozen=True)
class _Prediction:
    qid: Hashable
    windows: np.ndarray  # (m, 3) float64 [start, end, score], sorted by score desc (stable)
    saliency: np.ndarray  # (n,) float64 as given; empty when highlights are not evaluated


def _qid_of(record: Mapping[str, Any], index: int, source: str) -> Hashable:
    if "qid" not in record:
        raise EvaluationError(f"{source}: record {index + 1} has no 'qid'; every record needs one")
    qid = record["qid"]
    if isinstance(qid, bool) or not isinstance(qid, int | str):
        raise EvaluationError(
            f"{source}: record {index + 1} has qid {qid!r}; a qid must be an integer or a string"
        )
    return qid


def _float_matrix(value: Any, width: int, what: str, qid: Hashable, source: str) -> np.ndarray:
    """A list of ``width``-long number lists as an (n, width) float64 array of finite numbers."""
    fix = f"give a list of [{', '.join(['start_s', 'end_s', 'score'][:width])}] lists"
    if not isinstance(value, list | tuple):
        raise EvaluationError(f"{source}: qid {qid!r}: '{what}' is not a list; {fix}")
    rows = []
    for i, row in enumerate(value):
        if (
            not isinstance(row, list | tuple)
            or len(row) < width
            or not all(isinstance(x, int | float) and not isinstance(x, bool) for x in row[:width])
        ):
            raise EvaluationError(f"{source}: qid {qid!r}: '{what}'[{i}] is {row!r}; {fix}")
        rows.append([float(x) for x in row[:width]])
    arr = np.array(rows, dtype=np.float64).reshape(len(rows), width)
    bad = np.flatnonzero(~np.isfinite(arr).all(axis=1))
    if bad.size:
        raise EvaluationError(
            f"{source}: qid {qid!r}: '{what}'[{bad[0]}] = {value[bad[0]]!r} is not finite "
            "(NaN or infinity); replace it with a real number or drop the window"
        )
    inverted = np.flatnonzero(arr[:, 0] > arr[:, 1])
    if inverted.size:
        raise EvaluationError(
            f"{source}: qid {qid!r}: '{what}'[{inverted[0]}] = {value[inverted[0]]!r} starts after "
            "it ends; windows are [start_s, end_s] with start_s <= end_s"
        )
    return arr


def _float_vector(value: Any, what: str, qid: Hashable, source: str) -> np.ndarray:
    if not isinstance(value, list | tuple) or not all(
        isinstance(x, int | float) and not isinstance(x, bool) for x in value
    ):
        raise EvaluationError(f"{source}: qid {qid!r}: '{what}' must be a list of numbers")
    arr = np.array(value, dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise EvaluationError(
            f"{source}: qid {qid!r}: '{what}'[{bad[0]}] is {value[bad[0]]!r}, not a finite number; "
            "give every clip a real score"
        )
    return arr


def _index_unique(
    records: Sequence[Mapping[str, Any]], source: str
) -> dict[Hashable, Mapping[str, Any]]:
    if not records:
        raise EvaluationError(f"{source}: no records; give at least one query")
    by_qid: dict[Hashable, Mapping[str, Any]] = {}
    dups: list[Hashable] = []
    for i, rec in enumerate(records):
        if not isinstance(rec, Mapping):
            raise EvaluationError(f"{source}: record {i + 1} is not a JSON object")
        qid = _qid_of(rec, i, source)
        if qid in by_qid:
            dups.append(qid)
        by_qid[qid] = rec
    if dups:
        raise EvaluationError(
            f"{source}: duplicate qids {_listed(dups)}; give each query exactly one record"
        )
    return by_qid


def _listed(qids: Iterable[Hashable]) -> str:
    items = list(qids)
    shown = ", ".join(repr(q) for q in items[:_MAX_LISTED])
    more = f" and {len(items) - _MAX_LISTED} more" if len(items) > _MAX_LISTED else ""
    return f"[{shown}]{more} ({len(items)} in all)"


def _match_qids(
    preds: Mapping[Hashable, Any], truth: Mapping[Hashable, Any], pred_src: str, gt_src: str
) -> list[Hashable]:
    """The ground-truth qids in order; an error unless both sides have exactly the same qids."""
    missing = [q for q in truth if q not in preds]
    unknown = [q for q in preds if q not in truth]
    if not missing and not unknown:
        return list(truth)
    parts = []
    if missing:
        parts.append(f"{len(missing)} ground-truth qids have no prediction: {_listed(missing)}")
    if unknown:
        parts.append(f"{len(unknown)} predicted qids are not in {gt_src}: {_listed(unknown)}")
    hint = "predict every query of the annotation file, and only those"
    if {str(q) for q in missing} & {str(q) for q in unknown}:
        hint += "; note qids are compared as given: 123 and '123' differ"
    raise EvaluationError(f"{pred_src} vs {gt_src}: {'; '.join(parts)}; {hint}")


def _parse_truth(rec: Mapping[str, Any], cfg: MomentEvalConfig, src: str, hl: bool) -> _Truth:
    qid = rec["qid"]
    if "relevant_windows" not in rec:
        raise EvaluationError(f"{src}: qid {qid!r} has no 'relevant_windows'")
    windows = _float_matrix(rec["relevant_windows"], 2, "relevant_windows", qid, src)
    if len(windows) == 0:
        raise EvaluationError(
            f"{src}: qid {qid!r} has an empty 'relevant_windows'; a query needs at least one "
            "ground-truth window (remove the query)"
        )
    if np.any(windows[:, 1] <= windows[:, 0]):
        raise EvaluationError(
            f"{src}: qid {qid!r} has a zero-length ground-truth window; it can never be matched "
            "(give end_s > start_s)"
        )
    saliency = _parse_truth_saliency(rec, cfg, src) if hl else np.zeros((0, 0))
    return _Truth(qid, windows, saliency)


def _parse_truth_saliency(rec: Mapping[str, Any], cfg: MomentEvalConfig, src: str) -> np.ndarray:
    qid = rec["qid"]
    for key in ("duration", "relevant_clip_ids", "saliency_scores"):
        if key not in rec:
            raise EvaluationError(
                f"{src}: qid {qid!r} has no '{key}', needed for highlight metrics; use full "
                "QVHighlights annotations or predict no 'pred_saliency_scores'"
            )
    duration = rec["duration"]
    if not isinstance(duration, int | float) or not math.isfinite(duration) or duration <= 0:
        raise EvaluationError(f"{src}: qid {qid!r}: 'duration' must be a positive number")
    n_clips = int(duration / cfg.clip_length_s)
    if n_clips == 0:
        raise EvaluationError(
            f"{src}: qid {qid!r}: duration {duration} s is shorter than one {cfg.clip_length_s} s "
            "saliency clip; drop the query or predict no 'pred_saliency_scores'"
        )
    clip_ids = rec["relevant_clip_ids"]
    scores = rec["saliency_scores"]
    if not isinstance(clip_ids, list) or not all(
        isinstance(c, int) and not isinstance(c, bool) for c in clip_ids
    ):
        raise EvaluationError(f"{src}: qid {qid!r}: 'relevant_clip_ids' must be integers")
    bad_ids = [c for c in clip_ids if not 0 <= c < n_clips]
    if bad_ids:
        raise EvaluationError(
            f"{src}: qid {qid!r}: clip ids {bad_ids[:_MAX_LISTED]} are outside the video's "
            f"{n_clips} clips (duration {duration} s / {cfg.clip_length_s} s)"
        )
    if len(set(clip_ids)) != len(clip_ids):
        raise EvaluationError(f"{src}: qid {qid!r}: 'relevant_clip_ids' has duplicates")
    if not isinstance(scores, list) or len(scores) != len(clip_ids):
        raise EvaluationError(
            f"{src}: qid {qid!r}: 'saliency_scores' needs one row per relevant clip id "
            f"({len(clip_ids)})"
        )
    widths = {len(r) if isinstance(r, list) else -1 for r in scores}
    if len(widths) > 1 or -1 in widths or 0 in widths:
        raise EvaluationError(
            f"{src}: qid {qid!r}: every 'saliency_scores' row needs one score per annotator"
        )
    n_annotators = widths.pop() if widths else 1
    full = np.zeros((n_clips, n_annotators), dtype=np.float64)
    if clip_ids:
        rows = np.array(scores, dtype=np.float64)
        if not np.isfinite(rows).all():
            raise EvaluationError(f"{src}: qid {qid!r}: 'saliency_scores' has non-finite values")
        full[np.array(clip_ids)] = rows
    return full


def _parse_prediction(
    rec: Mapping[str, Any], truth: _Truth, cfg: MomentEvalConfig, src: str, mr: bool, hl: bool
) -> _Prediction:
    qid = rec["qid"]
    windows = np.zeros((0, 3))
    if mr:
        windows = _float_matrix(rec["pred_relevant_windows"], 3, "pred_relevant_windows", qid, src)
        # Stable sort on the negated score: equal scores keep file order, as the official code.
        windows = windows[np.argsort(-windows[:, 2], kind="stable")]
    saliency = np.zeros(0)
    if hl:
        saliency = _float_vector(rec["pred_saliency_scores"], "pred_saliency_scores", qid, src)
        n_clips = len(truth.saliency)
        if abs(len(saliency) - n_clips) > cfg.saliency_length_tolerance:
            raise EvaluationError(
                f"{src}: qid {qid!r}: {len(saliency)} 'pred_saliency_scores' for a video of "
                f"{n_clips} clips of {cfg.clip_length_s} s; give one score per clip (tolerance "
                f"{cfg.saliency_length_tolerance}, see MomentEvalConfig.saliency_length_tolerance)"
            )
        if len(saliency) == 0:
            raise EvaluationError(f"{src}: qid {qid!r}: 'pred_saliency_scores' is empty")
    return _Prediction(qid, windows, saliency)


def _present_everywhere(records: Mapping[Hashable, Mapping[str, Any]], key: str, src: str) -> bool:
    without = [q for q, r in records.items() if key not in r]
    if len(without) == len(records):
        return False
    if without:
        raise EvaluationError(
            f"{src}: '{key}' is missing for qids {_listed(without)} but present for others; "
            "give it for every query or for none"
        )
    return True


# --------------------------------------------------------------------------------------------
# Moment retrieval


def _iou_with_truth(window: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """IoU of [start, end] window(s) (..., 2) with each of the (k, 2) ground-truth windows."""
    start, end = window[..., 0], window[..., 1]
    inter = np.clip(np.minimum(end, truth[:, 1]) - np.maximum(start, truth[:, 0]), 0, None)
    union = (end - start) + (truth[:, 1] - truth[:, 0]) - inter
    return inter / union  # union > 0: ground-truth windows have positive length


def _voc_envelope_ap(precision: np.ndarray, recall: np.ndarray) -> float:
    """Area under the precision envelope (max precision at any higher recall), VOC 2011 style."""
    p = np.concatenate([[0.0], precision, [0.0]])
    r = np.concatenate([[0.0], recall, [1.0]])
    p = np.maximum.accumulate(p[::-1])[::-1]
    steps = np.flatnonzero(r[1:] != r[:-1]) + 1
    return float(np.sum((r[steps] - r[steps - 1]) * p[steps]))


def moment_average_precision(
    pred_windows: np.ndarray,
    truth_windows: np.ndarray,
    iou_thresholds: Sequence[float] = IOU_THRESHOLDS,
) -> np.ndarray:
    """Average precision of one query's ranked windows at each IoU threshold.

    Args:
        pred_windows: (m, 2+) float [start_s, end_s, ...], already in ranking order (best first).
        truth_windows: (k, 2) float [start_s, end_s], k >= 1, end_s > start_s.
        iou_thresholds: thresholds in (0, 1].

    Returns:
        (len(iou_thresholds),) float64 AP in [0, 1]. Predictions are matched greedily in order,
        each to the untaken ground-truth window it overlaps most (ties: the later one) when that
        IoU reaches the threshold; AP is the area under the precision envelope.
    """
    n_thr = len(iou_thresholds)
    m, k = len(pred_windows), len(truth_windows)
    if m == 0:
        return np.zeros(n_thr)
    ious = _iou_with_truth(pred_windows[:, None, :2], truth_windows)  # (m, k)
    # Per prediction, the ground truth by decreasing IoU; equal IoU: the later window first.
    later_first = -np.arange(k)
    orders = [np.lexsort((later_first, -ious[i])) for i in range(m)]
    tp = np.zeros((n_thr, m))
    for t, thr in enumerate(iou_thresholds):
        taken = np.zeros(k, dtype=bool)
        for i in range(m):
            for j in orders[i]:
                if ious[i, j] < thr:
                    break
                if not taken[j]:
                    taken[j] = True
                    tp[t, i] = 1.0
                    break
    tp_cum = np.cumsum(tp, axis=1)
    fp_cum = np.cumsum(1.0 - tp, axis=1)
    recall = tp_cum / float(k)
    precision = tp_cum / (tp_cum + fp_cum)
    return np.array([_voc_envelope_ap(precision[t], recall[t]) for t in range(n_thr)])


def _top1_iou(window: np.ndarray, truth: np.ndarray) -> float:
    """The official R1 IoU: against the ground-truth window of highest IoU (first on ties).

    The official evaluator then recomputes the IoU with the span of both windows as the union;
    that equals the true union whenever the windows overlap, and we keep its arithmetic so that
    threshold comparisons agree to the last bit.
    """
    best = truth[int(np.argmax(_iou_with_truth(window, truth)))]
    inter = max(0.0, min(window[1], best[1]) - max(window[0], best[0]))
    span = max(window[1], best[1]) - min(window[0], best[0])
    return inter / span if span != 0 else 0.0


def _pct(value: float) -> float:
    """A fraction as a percentage rounded to 2 decimals, exactly as the official evaluator."""
    return float(f"{100 * value:.2f}")


def _moment_metrics(
    qids: Sequence[Hashable],
    truths: Mapping[Hashable, np.ndarray],
    preds: Mapping[Hashable, _Prediction],
    cfg: MomentEvalConfig,
) -> dict[str, dict[str, float]]:
    thresholds = list(cfg.iou_thresholds)
    aps = np.array(
        [
            moment_average_precision(preds[q].windows[: cfg.max_windows], truths[q], thresholds)
            for q in qids
        ]
    )  # (n_queries, n_thresholds)
    per_thr = aps.mean(0)
    mr_map = {str(t): _pct(v) for t, v in zip(thresholds, per_thr, strict=True)}
    mr_map["average"] = _pct(float(np.mean(per_thr)))
    top1 = np.array(
        [_top1_iou(preds[q].windows[0], truths[q]) if len(preds[q].windows) else 0.0 for q in qids]
    )
    mr_r1 = {str(t): _pct(float(np.mean(top1 >= t))) for t in thresholds}
    return {"MR-mAP": mr_map, "MR-R1": mr_r1}


def _bucket_truths(
    truths: Mapping[Hashable, _Truth], lo: float, hi: float
) -> dict[Hashable, np.ndarray]:
    kept: dict[Hashable, np.ndarray] = {}
    for qid, truth in truths.items():
        length = truth.windows[:, 1] - truth.windows[:, 0]
        inside = truth.windows[(length > lo) & (length <= hi)]
        if len(inside):
            kept[qid] = inside
    return kept


def _evaluate_mr(
    qids: Sequence[Hashable],
    truths: Mapping[Hashable, _Truth],
    preds: Mapping[Hashable, _Prediction],
    cfg: MomentEvalConfig,
) -> dict[str, dict[str, dict[str, float]]]:
    out: dict[str, dict[str, dict[str, float]]] = {}
    for name, lo, hi in LENGTH_BUCKETS:
        bucket = _bucket_truths(truths, lo, hi)
        logger.info("MR bucket %s: %d of %d queries", name, len(bucket), len(qids))
        if not bucket:
            out[name] = {
                "MR-mAP": {**{str(t): 0.0 for t in cfg.iou_thresholds}, "average": 0.0},
                "MR-R1": {str(t): 0.0 for t in cfg.iou_thresholds},
            }
            logger.warning("no ground-truth window is %s; its MR metrics are reported as 0", name)
            continue
        out[name] = _moment_metrics([q for q in qids if q in bucket], bucket, preds, cfg)
    out["full"] = _moment_metrics(qids, {q: truths[q].windows for q in qids}, preds, cfg)
    return out


# --------------------------------------------------------------------------------------------
# Highlight detection


def highlight_average_precision(is_positive: np.ndarray, scores: np.ndarray) -> float:
    """AP of ranking a video's clips by ``scores`` against binary labels, as QVHighlights.

    Args:
        is_positive: (n,) 0/1 labels of the clips.
        scores: (n,) finite predicted saliency scores.

    Returns:
        1.0 if every clip is positive, 0.0 if none is; otherwise the mean, over the distinct
        scores that admit at least one new positive clip (tied clips enter together), of the
        highest precision reached at that recall or beyond.
    """
    labels = np.asarray(is_positive, dtype=np.float64)
    if labels.min() == labels.max():
        return float(labels[0])
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    ranked_scores = np.asarray(scores, dtype=np.float64)[order]
    ranked_labels = labels[order]
    # The last clip of each run of equal scores closes a precision/recall point.
    ends = np.flatnonzero(np.append(ranked_scores[1:] != ranked_scores[:-1], True))
    tp = np.cumsum(ranked_labels)[ends]
    precision = tp / (ends + 1.0)
    envelope = np.maximum.accumulate(precision[::-1])  # best precision at this recall or beyond
    gained = np.diff(np.concatenate([[0.0], tp]))[::-1] > 0
    # Reversed (highest recall first) to sum in the official evaluator's order.
    return float(np.mean(envelope[gained]))


def _evaluate_hl(
    qids: Sequence[Hashable],
    truths: Mapping[Hashable, _Truth],
    preds: Mapping[Hashable, _Prediction],
) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    n_annotators = {truths[q].saliency.shape[1] for q in qids}
    if len(n_annotators) != 1:
        raise EvaluationError(
            f"ground truth: queries have different numbers of annotators {sorted(n_annotators)}; "
            "every 'saliency_scores' row must have the same length"
        )
    for level, min_score in HL_SALIENCY_LEVELS:
        aps = []
        hits = []
        for q in qids:
            gt = truths[q].saliency
            pred = preds[q].saliency
            positive = (gt >= min_score).astype(np.float64)  # (n_clips, n_annotators)
            n = len(gt)
            aligned = np.zeros(n)  # missing clips score 0.0, extra clips dropped (official)
            aligned[: min(n, len(pred))] = pred[:n]
            aps.append(
                [
                    highlight_average_precision(positive[:, a], aligned)
                    for a in range(positive.shape[1])
                ]
            )
            top = int(np.argmax(pred))
            hits.append(float(positive[top].max()) if top < n else 0.0)
        out[f"HL-min-{level}"] = {
            "HL-mAP": _pct(float(np.mean(np.array(aps)))),
            "HL-Hit1": _pct(float(np.mean(hits))),
        }
    return out


# --------------------------------------------------------------------------------------------
# Entry point


def evaluate_moments(
    predictions: Sequence[Mapping[str, Any]],
    ground_truth: Sequence[Mapping[str, Any]],
    *,
    max_windows: int | None = None,
    config: MomentEvalConfig | None = None,
    predictions_name: str = "predictions",
    ground_truth_name: str = "ground truth",
) -> dict[str, Any]:
    """Score QVHighlights-format predictions against ground truth, as the official evaluator.

    Args:
        predictions: one record per query (``qid``, ``pred_relevant_windows`` and/or
            ``pred_saliency_scores``).
        ground_truth: one record per query (``qid``, ``relevant_windows``, and for highlights
            ``duration``, ``relevant_clip_ids``, ``saliency_scores``).
        max_windows: shorthand for ``config.max_windows`` (windows per query kept for mAP).
        config: evaluation settings; defaults to :class:`MomentEvalConfig`.
        predictions_name, ground_truth_name: how error messages name the two inputs (file paths).

    Returns:
        The official nested dict: ``brief`` (MR keys sorted, then HL keys), then ``HL-min-Fair``,
        ``HL-min-Good``, ``HL-min-VeryGood``, ``full``, ``long``, ``middle``, ``short`` (sorted);
        MR parts only when predictions have windows, HL parts only when they have saliency.
        Values are percentages rounded to 2 decimals.

    Raises:
        EvaluationError: inputs that cannot be scored as given (see the module docstring).
    """
    cfg = config or MomentEvalConfig()
    if max_windows is not None:
        cfg = dataclasses.replace(cfg, max_windows=max_windows)
    pred_src, gt_src = predictions_name, ground_truth_name
    pred_recs = _index_unique(predictions, pred_src)
    gt_recs = _index_unique(ground_truth, gt_src)
    qids = _match_qids(pred_recs, gt_recs, pred_src, gt_src)
    mr = _present_everywhere(pred_recs, "pred_relevant_windows", pred_src)
    hl = _present_everywhere(pred_recs, "pred_saliency_scores", pred_src)
    if not mr and not hl:
        raise EvaluationError(
            f"{pred_src}: records have neither 'pred_relevant_windows' nor 'pred_saliency_scores';"
            " give QVHighlights-format predictions"
        )
    truths = {q: _parse_truth(gt_recs[q], cfg, gt_src, hl) for q in qids}
    preds = {q: _parse_prediction(pred_recs[q], truths[q], cfg, pred_src, mr, hl) for q in qids}

    brief: dict[str, float] = {}
    details: dict[str, Any] = {}
    if mr:
        mr_metrics = _evaluate_mr(qids, truths, preds, cfg)
        details.update(mr_metrics)
        mr_brief = {
            "MR-full-mAP": mr_metrics["full"]["MR-mAP"]["average"],
            "MR-full-mAP@0.5": mr_metrics["full"]["MR-mAP"].get("0.5"),
            "MR-full-mAP@0.75": mr_metrics["full"]["MR-mAP"].get("0.75"),
            "MR-short-mAP": mr_metrics["short"]["MR-mAP"]["average"],
            "MR-middle-mAP": mr_metrics["middle"]["MR-mAP"]["average"],
            "MR-long-mAP": mr_metrics["long"]["MR-mAP"]["average"],
            "MR-full-R1@0.5": mr_metrics["full"]["MR-R1"].get("0.5"),
            "MR-full-R1@0.7": mr_metrics["full"]["MR-R1"].get("0.7"),
        }
        # Thresholds missing from a custom config are left out rather than reported as None.
        brief.update(sorted((k, v) for k, v in mr_brief.items() if v is not None))
    if hl:
        hl_metrics = _evaluate_hl(qids, truths, preds)
        details.update(hl_metrics)
        for level, values in hl_metrics.items():
            for key, value in values.items():
                brief[f"{level}-{key.split('-')[1]}"] = value
    return {"brief": brief, **dict(sorted(details.items()))}
