"""Video classification metrics (Kinetics conventions): top-k, mean class accuracy, confusion.

Scores are ``(n_videos, n_classes)``, or ``(n_videos, n_views, n_classes)`` for multi-view
testing, in which case the views are averaged (pass probabilities if you want probabilities
averaged, logits if logits). Labels are class indices.

Ties never help the true class (``ties="pessimistic"``, the default, as in
:mod:`vidlens.eval.retrieval`): its rank is ``1 +`` the number of other classes scoring at least as
high. A model that scores every class the same is right 0 % of the time, not 100 %.

- ``top{k}``: percent of videos whose true class has rank <= k (k >= n_classes gives 100).
- ``mean_class_accuracy``: top-1 accuracy of each class that has at least one video, averaged
  over those classes (classes absent from the labels are left out).
- confusion matrix ``(n_classes, n_classes)``: rows are true classes, columns the predicted
  class. The prediction is the top-scoring class; when the true class ties for the top with
  others, the prediction is the lowest-index *other* tied class, so the diagonal is exactly the
  top-1 count.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import EvaluationError
from .retrieval import TieMode, _check_ties

__all__ = [
    "average_views",
    "class_ranks",
    "confusion_matrix",
    "evaluate_classification",
    "predicted_classes",
]

logger = logging.getLogger(__name__)


def average_views(scores: Any) -> np.ndarray:
    """(n_videos, n_classes) scores: given 2-D scores, or 3-D per-view scores averaged over views.

    Raises:
        EvaluationError: other shapes, empty input, or NaN / infinite scores.
    """
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim not in (2, 3) or 0 in s.shape:
        raise EvaluationError(
            "scores must be (n_videos, n_classes) or (n_videos, n_views, n_classes) and "
            f"non-empty, got shape {s.shape}"
        )
    bad = np.argwhere(~np.isfinite(s))
    if len(bad):
        raise EvaluationError(
            f"scores{list(bad[0])} is {s[tuple(bad[0])]}; {len(bad)} scores are NaN or infinite; "
            "fix the model outputs before scoring"
        )
    return s.mean(axis=1) if s.ndim == 3 else s


def _check_labels(labels: Any, n_videos: int, n_classes: int) -> np.ndarray:
    y = np.asarray(labels)
    if y.shape != (n_videos,) or not np.issubdtype(y.dtype, np.integer):
        raise EvaluationError(
            f"labels must be {n_videos} integer class indices (one per video), got shape "
            f"{y.shape} dtype {y.dtype}"
        )
    bad = np.flatnonzero((y < 0) | (y >= n_classes))
    if bad.size:
        raise EvaluationError(
            f"labels[{bad[0]}] = {y[bad[0]]} is not a class index (0..{n_classes - 1}); "
            "map class names to the score columns' order"
        )
    return y.astype(np.int64)


def class_ranks(scores: Any, labels: Any, *, ties: TieMode = "pessimistic") -> np.ndarray:
    """1-based rank of each video's true class among all classes.

    Args:
        scores: (n_videos, n_classes) or (n_videos, n_views, n_classes) finite scores.
        labels: (n_videos,) int true class indices.
        ties: "pessimistic" counts other classes scoring >= the true one, "optimistic" only >.

    Returns:
        (n_videos,) int64 ranks in 1..n_classes.
    """
    _check_ties(ties)
    s = average_views(scores)
    y = _check_labels(labels, *s.shape)
    true = s[np.arange(len(y)), y][:, None]
    if ties == "pessimistic":
        return (s >= true).sum(axis=1).astype(np.int64)
    return 1 + (s > true).sum(axis=1).astype(np.int64)


def predicted_classes(scores: Any, labels: Any) -> np.ndarray:
    """(n_videos,) int64 predicted class: the top score, a tie going against the true class."""
    s = average_views(scores)
    y = _check_labels(labels, *s.shape)
    top = s.max(axis=1, keepdims=True)
    at_top = s == top
    others = at_top.copy()
    others[np.arange(len(y)), y] = False
    # If any other class ties for the top, the lowest-index one is the prediction.
    return np.where(others.any(axis=1), others.argmax(axis=1), at_top.argmax(axis=1)).astype(
        np.int64
    )


def confusion_matrix(scores: Any, labels: Any) -> np.ndarray:
    """(n_classes, n_classes) int64 counts: row = true class, column = predicted class."""
    s = average_views(scores)
    y = _check_labels(labels, *s.shape)
    pred = predicted_classes(s, y)
    matrix = np.zeros((s.shape[1], s.shape[1]), dtype=np.int64)
    np.add.at(matrix, (y, pred), 1)
    return matrix


def evaluate_classification(
    scores: Any,
    labels: Any,
    *,
    ks: Sequence[int] = (1, 5),
    ties: TieMode = "pessimistic",
) -> dict[str, Any]:
    """Top-k accuracy and mean class accuracy, percentages with 2 decimals.

    Returns:
        ``{"top1", "top5", "mean_class_accuracy", "n_videos", "n_classes", "n_views", "ties"}``
        (one ``top{k}`` per k).
    """
    if not ks or min(ks) < 1:
        raise EvaluationError(f"ks must be positive integers, got {list(ks)}")
    raw = np.asarray(scores)
    s = average_views(raw)
    ranks = class_ranks(s, labels, ties=ties)
    y = _check_labels(labels, *s.shape)
    out: dict[str, Any] = {f"top{k}": float(f"{100 * np.mean(ranks <= k):.2f}") for k in ks}
    correct = (ranks == 1).astype(np.float64)
    present = np.unique(y)
    per_class = np.array([correct[y == c].mean() for c in present])
    out["mean_class_accuracy"] = float(f"{100 * per_class.mean():.2f}")
    out["n_videos"] = int(s.shape[0])
    out["n_classes"] = int(s.shape[1])
    out["n_views"] = int(raw.shape[1]) if raw.ndim == 3 else 1
    out["ties"] = ties
    if len(present) < s.shape[1]:
        logger.info(
            "%d classes have no video and are left out of mean class accuracy",
            s.shape[1] - len(present),
        )
    return out
