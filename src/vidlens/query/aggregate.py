"""Video scores from frame scores: how well a whole video matches a text query.

A query is scored against a video from the cosine similarities of the query to each sampled frame
(and, for the pooling methods, the frame embeddings themselves). The methods, and what each is for:

``max``
    The best single frame. Finds short events in long videos (one matching frame is enough), but
    one noisy frame can lift an irrelevant video.
``topk-mean`` (default)
    The mean of the ``k`` best frames. Nearly as good as ``max`` at short events and much less
    sensitive to a single outlier frame; the sensible default for search over mixed-length videos.
``mean``
    ViFi-CLIP mean pooling: the cosine between the query and the re-normalised mean frame
    embedding (the mean of the similarities when no embeddings are given). Answers "is this video
    *about* X"; it penalises videos where X fills only a small part, which is what you want for
    whole-clip retrieval and recognition (MSR-VTT-style clips), not for finding brief events.
``xpool``
    Training-free, text-conditioned pooling in the spirit of X-Pool: frames are weighted by
    ``softmax(sims / temperature)``, the weighted mean embedding is re-normalised and compared with
    the query. The query decides which frames form the video's embedding, so it behaves like
    ``max`` as ``temperature -> 0`` and like ``mean`` as ``temperature -> inf``; in between it
    rewards videos whose several relevant frames agree with each other.
``temporal``
    The cosine between the query and the video embedding that the encoder's *temporal head*
    pools from the frames in time order (vidlens-tiny and ``vidlens train`` exports have one; see
    :func:`vidlens.encoders.tiny.temporal_video_embeddings`). Like ``mean`` it answers "is this
    video about X", and it also sees which way things change ("moves left" vs "moves right"),
    which no pooling of frames can. It needs those embeddings (``video_embeddings``): the library
    computes them once per video; an encoder without a head cannot use it.

Everything here is pure numpy and works in float64.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ..errors import ConfigError, QueryError

__all__ = ["AGGREGATIONS", "AggregationConfig", "score_video", "score_videos"]

logger = logging.getLogger(__name__)

AGGREGATIONS = ("max", "topk-mean", "mean", "xpool", "temporal")

# Methods that can use frame embeddings; ``xpool`` cannot work without them.
_POOLING_METHODS = ("mean", "xpool")

# Below this norm a pooled embedding is treated as zero (frames that cancel out): its cosine is 0.
_MIN_NORM = 1e-12
# topk-mean finds each video's best frames by k passes of a per-video max up to this k (a pass
# is a few O(frames) steps; 200k frames in 111 videos: ~5x faster than sorting), beyond it by
# sorting every video's frames. Both add a video's best frames best first: the same sums.
_TOPK_BY_PASSES = 8

Float64Array = NDArray[np.float64]


@dataclass(frozen=True)
class AggregationConfig:
    """How a video's frame similarities become one video score (see the module docstring)."""

    method: str = "topk-mean"  # one of AGGREGATIONS
    k: int = 3  # frames averaged by topk-mean (clipped to the number of frames of each video)
    temperature: float = 0.01  # xpool softmax temperature, in units of cosine similarity

    def __post_init__(self) -> None:
        if self.method not in AGGREGATIONS:
            choices = ", ".join(AGGREGATIONS)
            raise ConfigError(
                f"unknown aggregation method {self.method!r}; choose one of {choices}"
            )
        if isinstance(self.k, bool) or not isinstance(self.k, int) or self.k < 1:
            raise ConfigError(f"aggregation k must be an integer >= 1 (frames), got {self.k!r}")
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            raise ConfigError(
                f"aggregation temperature must be a finite number > 0, got {self.temperature!r}; "
                "0.01 is a good start for CLIP cosines"
            )


def score_video(
    sims: NDArray[np.floating],
    config: AggregationConfig,
    *,
    frame_vectors: NDArray[np.floating] | None = None,
    query: NDArray[np.floating] | None = None,
    video_embedding: NDArray[np.floating] | None = None,
) -> float:
    """Score one video for one query.

    Args:
        sims: ``(T,)`` cosine similarities of the query to each frame, ``T >= 1``.
        config: the aggregation to apply.
        frame_vectors: ``(T, D)`` frame embeddings (re-normalised here). Used by ``mean`` and
            required by ``xpool``; ignored by ``max`` and ``topk-mean``.
        query: ``(D,)`` text embedding (re-normalised here); given together with ``frame_vectors``
            or ``video_embedding``.
        video_embedding: ``(D,)`` the video's temporal-head embedding; required by
            ``temporal``.

    Returns:
        The video score as a plain float.
    """
    vectors = None if frame_vectors is None else [frame_vectors]
    pooled = None if video_embedding is None else np.asarray(video_embedding)[None, :]
    return float(score_videos([sims], config, vectors, query, pooled)[0])


def score_videos(
    sims_per_video: Sequence[NDArray[np.floating]],
    config: AggregationConfig,
    frame_vectors_per_video: Sequence[NDArray[np.floating]] | None = None,
    query: NDArray[np.floating] | None = None,
    video_embeddings: NDArray[np.floating] | None = None,
) -> Float64Array:
    """Score many videos for one query at once (segment reductions, no Python loop per video).

    Args:
        sims_per_video: one ``(T_i,)`` similarity array per video, each ``T_i >= 1``.
        config: the aggregation to apply.
        frame_vectors_per_video: one ``(T_i, D)`` array per video, or ``None``; see
            :func:`score_video`.
        query: ``(D,)`` text embedding, given together with ``frame_vectors_per_video`` (or
            with ``video_embeddings``).
        video_embeddings: ``(V, D)`` pooled video embeddings (the temporal head's), one per
            video in input order; required by ``temporal``, ignored by the others.

    Returns:
        ``(V,)`` float64 scores, one per video, in input order. A video's score never depends on
        the other videos in the batch.
    """
    n_videos = len(sims_per_video)
    if n_videos == 0:
        return np.zeros(0, dtype=np.float64)
    sims, starts, lengths = _concatenate_sims(sims_per_video)
    video_of_frame = np.repeat(np.arange(n_videos), lengths)

    use_vectors = config.method in _POOLING_METHODS and (
        frame_vectors_per_video is not None or query is not None
    )
    if config.method == "xpool" and not use_vectors:
        raise ConfigError(
            "aggregation 'xpool' needs the frame embeddings and the query embedding: pass "
            "frame_vectors=(T, D) and query=(D,), or choose max, topk-mean or mean, which work "
            "from similarities alone"
        )

    if config.method == "temporal":
        return _cosines(video_embeddings, query, n_videos)
    if config.method == "max":
        return np.maximum.reduceat(sims, starts)
    if config.method == "topk-mean":
        return _topk_mean(sims, video_of_frame, starts, lengths, config.k)
    if not use_vectors:  # mean of the similarities
        return np.add.reduceat(sims, starts) / lengths

    vectors, unit_query = _check_vectors(frame_vectors_per_video, query, lengths)
    if config.method == "mean":
        weights = 1.0 / lengths[video_of_frame]
    else:
        weights = _segment_softmax(sims, config.temperature, video_of_frame, starts)
    pooled = np.add.reduceat(vectors * weights[:, None], starts, axis=0)
    norms = np.linalg.norm(pooled, axis=1)
    dots = pooled @ unit_query
    out = np.zeros(n_videos, dtype=np.float64)
    np.divide(dots, norms, out=out, where=norms > _MIN_NORM)
    return out


def _cosines(
    video_embeddings: NDArray[np.floating] | None,
    query: NDArray[np.floating] | None,
    n_videos: int,
) -> Float64Array:
    if video_embeddings is None or query is None:
        raise ConfigError(
            "aggregation 'temporal' needs each video's temporal-head embedding and the query "
            "embedding (video_embeddings=(V, D), query=(D,)); only an encoder with a temporal "
            "head (vidlens-tiny, a `vidlens train` export) gives them: choose mean otherwise"
        )
    v = np.asarray(video_embeddings, dtype=np.float64)
    q = np.asarray(query, dtype=np.float64)
    if v.ndim != 2 or v.shape[0] != n_videos or q.shape != (v.shape[1],):
        raise QueryError(
            f"video embeddings of shape {v.shape} and a query of shape {q.shape} do not fit "
            f"{n_videos} videos: pass one (D,) embedding per video and a (D,) query"
        )
    if not (np.all(np.isfinite(v)) and np.all(np.isfinite(q))):
        raise QueryError("video embeddings or query contain NaN or infinity; re-encode them")
    return _unit_rows(v) @ _unit_rows(q[None, :])[0]


def _concatenate_sims(
    sims_per_video: Sequence[NDArray[np.floating]],
) -> tuple[Float64Array, NDArray[np.intp], NDArray[np.intp]]:
    arrays = [np.asarray(s, dtype=np.float64) for s in sims_per_video]
    for i, arr in enumerate(arrays):
        if arr.ndim != 1 or arr.size == 0:
            raise QueryError(
                f"video {i}: similarities must be a non-empty 1-D array (one value per frame), "
                f"got shape {arr.shape}; a video without frames cannot be scored, leave it out"
            )
        if not np.all(np.isfinite(arr)):
            raise QueryError(
                f"video {i}: similarities contain NaN or infinity; re-index the video or check "
                "its stored embeddings"
            )
    lengths = np.array([a.size for a in arrays], dtype=np.intp)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.intp)
    return np.concatenate(arrays), starts, lengths


def _topk_mean(
    sims: Float64Array,
    video_of_frame: NDArray[np.intp],
    starts: NDArray[np.intp],
    lengths: NDArray[np.intp],
    k: int,
) -> Float64Array:
    k_per_video = np.minimum(lengths, k)
    if k <= _TOPK_BY_PASSES:
        totals = _topk_sums_by_passes(sims, video_of_frame, starts, k_per_video)
    else:
        totals = _topk_sums_by_sorting(sims, video_of_frame, starts, lengths, k_per_video)
    return totals / k_per_video


def _topk_sums_by_passes(
    sims: Float64Array,
    video_of_frame: NDArray[np.intp],
    starts: NDArray[np.intp],
    k_per_video: NDArray[np.intp],
) -> Float64Array:
    """Each video's ``k`` best similarities summed best first: ``k`` passes of a segment max."""
    remaining = sims.copy()
    position = np.arange(sims.size)
    totals = np.zeros(starts.size, dtype=np.float64)
    for j in range(int(k_per_video.max())):
        best = np.maximum.reduceat(remaining, starts)
        take = j < k_per_video
        totals[take] += best[take]
        # Drop each video's best (its first occurrence) before the next pass.
        first = np.where(remaining == best[video_of_frame], position, sims.size)
        remaining[np.minimum.reduceat(first, starts)[take]] = -np.inf
    return totals


def _topk_sums_by_sorting(
    sims: Float64Array,
    video_of_frame: NDArray[np.intp],
    starts: NDArray[np.intp],
    lengths: NDArray[np.intp],
    k_per_video: NDArray[np.intp],
) -> Float64Array:
    """Each video's ``k`` best similarities summed best first, by sorting every video's frames."""
    # Sort by (video, similarity descending): each video's best frames come first in its segment.
    order = np.lexsort((-sims, video_of_frame))
    ranked = sims[order]
    rank_in_video = np.arange(sims.size) - np.repeat(starts, lengths)
    take = rank_in_video < k_per_video[video_of_frame]
    return np.bincount(video_of_frame[take], weights=ranked[take], minlength=starts.size).astype(
        np.float64, copy=False
    )


def _segment_softmax(
    sims: Float64Array,
    temperature: float,
    video_of_frame: NDArray[np.intp],
    starts: NDArray[np.intp],
) -> Float64Array:
    # Subtract each video's max before dividing: exp() stays finite however small the temperature.
    shifted = (sims - np.maximum.reduceat(sims, starts)[video_of_frame]) / temperature
    e = np.exp(shifted)
    return e / np.add.reduceat(e, starts)[video_of_frame]


def _check_vectors(
    frame_vectors_per_video: Sequence[NDArray[np.floating]] | None,
    query: NDArray[np.floating] | None,
    lengths: NDArray[np.intp],
) -> tuple[Float64Array, Float64Array]:
    if frame_vectors_per_video is None or query is None:
        raise ConfigError(
            "pooling needs both frame_vectors and query; pass both, or neither to average the "
            "similarities"
        )
    if len(frame_vectors_per_video) != lengths.size:
        raise QueryError(
            f"got frame vectors for {len(frame_vectors_per_video)} videos but similarities for "
            f"{lengths.size}; pass one (T, D) array per video, in the same order"
        )
    q = np.asarray(query, dtype=np.float64)
    if q.ndim != 1 or q.size == 0:
        raise QueryError(f"query embedding must be a 1-D (D,) array, got shape {q.shape}")
    blocks = [np.asarray(v, dtype=np.float64) for v in frame_vectors_per_video]
    for i, (block, n_frames) in enumerate(zip(blocks, lengths, strict=True)):
        if block.shape != (n_frames, q.size):
            raise QueryError(
                f"video {i}: frame vectors have shape {block.shape}, expected ({n_frames}, "
                f"{q.size}) to match its {n_frames} similarities and the query's dimension"
            )
    vectors = np.concatenate(blocks, axis=0)
    if not (np.all(np.isfinite(vectors)) and np.all(np.isfinite(q))):
        raise QueryError("frame vectors or query contain NaN or infinity; re-encode them")
    return _unit_rows(vectors), _unit_rows(q[None, :])[0]


def _unit_rows(x: Float64Array) -> Float64Array:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, _MIN_NORM)
