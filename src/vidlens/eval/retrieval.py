"""Text-video retrieval metrics (MSR-VTT 1k-A conventions).

Input: a similarity matrix ``(n_texts, n_videos)`` and, for each text, the index of its one
correct video; several texts may describe the same video, and videos without a text act as
distractors.

- text -> video: a text's rank is the position of its video among all videos.
- video -> text: a video's rank is the position of its *best-placed* caption among all texts:
  ``1 +`` the number of other videos' captions scoring at least as high as the video's best
  caption (its own other captions never count against it). Only videos with at least one caption
  are queries in this direction.

Ties never help the correct item (``ties="pessimistic"``, the default): a rank is ``1 +`` the
number of wrong items scoring *greater than or equal to* the correct one. So a model that gives
every pair the same score has R@1 = 0, not 100. ``ties="optimistic"`` counts only strictly
greater scores; it is what ``argsort``-based code tends to report on ties and is there to compare
with such numbers, never as a default. Real-valued embeddings rarely tie, but fp16 storage,
quantised indexes and degenerate (constant) models do.

Metrics: ``R@k`` (percent of queries with rank <= k, 2 decimals), ``MedR`` (median rank) and
``MeanR`` (mean rank, 2 decimals).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from ..errors import EvaluationError

__all__ = [
    "TIE_MODES",
    "TieMode",
    "evaluate_retrieval",
    "rank_metrics",
    "text_to_video_ranks",
    "video_to_text_ranks",
]

logger = logging.getLogger(__name__)

TieMode = Literal["pessimistic", "optimistic"]
TIE_MODES: tuple[str, ...] = ("pessimistic", "optimistic")


def _check_ties(ties: str) -> None:
    if ties not in TIE_MODES:
        raise EvaluationError(f"unknown ties mode {ties!r}; choose one of {', '.join(TIE_MODES)}")


def _check_inputs(similarity: Any, text_to_video: Any) -> tuple[np.ndarray, np.ndarray]:
    sim = np.asarray(similarity, dtype=np.float64)
    if sim.ndim != 2 or sim.shape[0] == 0 or sim.shape[1] == 0:
        raise EvaluationError(
            f"similarity must be a non-empty (n_texts, n_videos) matrix, got shape {sim.shape}"
        )
    bad = np.argwhere(~np.isfinite(sim))
    if len(bad):
        t, v = bad[0]
        raise EvaluationError(
            f"similarity[{t}, {v}] is {sim[t, v]}; {len(bad)} entries are NaN or infinite; "
            "fix the embeddings (a zero vector normalised to NaN?) before scoring"
        )
    gt = np.asarray(text_to_video)
    if gt.shape != (sim.shape[0],) or not np.issubdtype(gt.dtype, np.integer):
        raise EvaluationError(
            f"text_to_video must be {sim.shape[0]} integer video indices (one per text row), "
            f"got shape {gt.shape} dtype {gt.dtype}"
        )
    out_of_range = np.flatnonzero((gt < 0) | (gt >= sim.shape[1]))
    if out_of_range.size:
        i = out_of_range[0]
        raise EvaluationError(
            f"text_to_video[{i}] = {gt[i]} is not a video column (0..{sim.shape[1] - 1})"
        )
    return sim, gt.astype(np.int64)


def text_to_video_ranks(
    similarity: Any, text_to_video: Any, *, ties: TieMode = "pessimistic"
) -> np.ndarray:
    """1-based rank of each text's correct video among all videos.

    Args:
        similarity: (n_texts, n_videos) finite scores, higher is better.
        text_to_video: (n_texts,) int index of each text's correct video.
        ties: "pessimistic" counts wrong videos scoring >= the correct one, "optimistic" only >.

    Returns:
        (n_texts,) int64 ranks in 1..n_videos.
    """
    _check_ties(ties)
    sim, gt = _check_inputs(similarity, text_to_video)
    correct = sim[np.arange(len(gt)), gt][:, None]
    if ties == "pessimistic":
        return (sim >= correct).sum(axis=1).astype(np.int64)  # includes the correct one itself
    return 1 + (sim > correct).sum(axis=1).astype(np.int64)


def video_to_text_ranks(
    similarity: Any, text_to_video: Any, *, ties: TieMode = "pessimistic"
) -> tuple[np.ndarray, np.ndarray]:
    """1-based rank of each captioned video's best caption among all texts.

    Args:
        similarity: (n_texts, n_videos) finite scores, higher is better.
        text_to_video: (n_texts,) int index of each text's correct video.
        ties: as in :func:`text_to_video_ranks`.

    Returns:
        ``(videos, ranks)``: the (q,) int64 indices of the videos that have at least one caption,
        ascending, and their (q,) int64 ranks in 1..(n_texts - #captions + 1).
    """
    _check_ties(ties)
    sim, gt = _check_inputs(similarity, text_to_video)
    videos = np.unique(gt)
    cols = sim[:, videos]  # (n_texts, q)
    is_caption = gt[:, None] == videos[None, :]
    best = np.where(is_caption, cols, -np.inf).max(axis=0)  # best caption score per video
    beats = cols >= best if ties == "pessimistic" else cols > best
    ranks = 1 + (beats & ~is_caption).sum(axis=0).astype(np.int64)
    uncaptioned = sim.shape[1] - len(videos)
    if uncaptioned:
        logger.info("video->text: %d videos have no caption and are not queries", uncaptioned)
    return videos.astype(np.int64), ranks


def rank_metrics(ranks: Any, ks: Sequence[int] = (1, 5, 10)) -> dict[str, float]:
    """``R@k`` for each k (percent, 2 decimals), ``MedR`` and ``MeanR`` (2 decimals) of ranks."""
    r = np.asarray(ranks)
    if r.ndim != 1 or r.size == 0:
        raise EvaluationError(f"ranks must be a non-empty 1-D array, got shape {r.shape}")
    if not ks or min(ks) < 1:
        raise EvaluationError(f"ks must be positive integers, got {list(ks)}")
    out = {f"R@{k}": float(f"{100 * np.mean(r <= k):.2f}") for k in ks}
    out["MedR"] = float(np.median(r))
    out["MeanR"] = float(f"{np.mean(r):.2f}")
    return out


def evaluate_retrieval(
    similarity: Any,
    text_to_video: Any,
    *,
    ks: Sequence[int] = (1, 5, 10),
    ties: TieMode = "pessimistic",
) -> dict[str, Any]:
    """Text->video and video->text retrieval metrics from a similarity matrix.

    Returns:
        ``{"t2v": {"R@1", "R@5", "R@10", "MedR", "MeanR"}, "v2t": {...}, "n_texts", "n_videos",
        "n_captioned_videos", "ties"}``.
    """
    t2v = text_to_video_ranks(similarity, text_to_video, ties=ties)
    videos, v2t = video_to_text_ranks(similarity, text_to_video, ties=ties)
    n_texts, n_videos = np.shape(similarity)
    return {
        "t2v": rank_metrics(t2v, ks),
        "v2t": rank_metrics(v2t, ks),
        "n_texts": int(n_texts),
        "n_videos": int(n_videos),
        "n_captioned_videos": len(videos),
        "ties": ties,
    }
