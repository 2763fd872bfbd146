"""Query execution: text vector -> ranked videos -> moments and saliency per video.

Small libraries are searched exactly (one matrix-vector product over every stored frame). Large
ones (more than ``SearchConfig.exact_max_rows`` frames) first ask the FAISS index under ``ann/``
for the nearest frames, then score the videos those frames belong to exactly, from their own
vectors. Either way a video's score and moments come from its full frame-similarity curve.
"""

from __future__ import annotations

import logging
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..config import SamplingConfig
from ..errors import ConfigError
from ..query.aggregate import AggregationConfig, score_videos
from ..query.moments import (
    Moment,
    MomentConfig,
    find_moments,
    find_moments_batch,
    rerank_moments,
    saliency_scores,
    saliency_scores_batch,
)
from ._vectors import ShardRef, load_matrix
from .records import SearchHit, SearchResults, VideoRecord

if TYPE_CHECKING:
    from ._ann import AnnIndex
    from .library import Library

__all__ = ["SearchConfig", "SearchState", "search", "video_moments"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SearchConfig:
    """How queries rank videos and cut moments."""

    aggregation: AggregationConfig = field(default_factory=AggregationConfig)
    moments: MomentConfig = field(default_factory=MomentConfig)
    negative_weight: float = 0.5  # --not: query = normalise(q - w * negative)
    # Videos scored exactly by the chosen aggregation; beyond this many, the best by their top
    # frame are kept first (cheap), which cannot drop a video whose best frame ranks high.
    max_scored_videos: int = 2000
    exact_max_rows: int = 300_000  # above this many stored frames, use the ANN index
    # frames asked from the ANN index per query: smooth videos give hundreds of near-duplicate
    # frames, so 2000 came from ~11 videos; 10000 matched exact search's top 10 at 1M frames
    ann_candidate_frames: int = 10_000
    saliency_clip_s: float = 2.0  # QVHighlights clip length

    def __post_init__(self) -> None:
        if not (0.0 <= self.negative_weight <= 2.0):
            raise ConfigError(f"negative_weight must be within 0..2, got {self.negative_weight}")
        if self.max_scored_videos < 1 or self.ann_candidate_frames < 1:
            raise ConfigError("max_scored_videos and ann_candidate_frames must be positive")


@dataclass
class SearchState:
    """What a reader keeps in memory between queries, valid for one library generation."""

    generation: int
    video_ids: list[str]
    paths: list[str]
    durations: np.ndarray  # (V,) float64
    row_starts: np.ndarray  # (V,) int64, sorted
    row_counts: np.ndarray  # (V,) int64
    # (rows, dim) float32; dead rows are zeros. Twice the stored float16, but holding float16 and
    # converting each query's candidate rows (~22k at 1M frames) cost p50 +17 / p95 +32 ms per
    # query, against ~4 ms for their products (numpy casts float16 one element at a time; 2
    # shared cores, load ~4, one BLAS thread).
    matrix: np.ndarray
    ann: AnnIndex | None = None
    # videos left out because their vectors cannot be read: id -> what is wrong
    damaged: dict[str, str] = field(default_factory=dict)
    _times: dict[str, np.ndarray] = field(default_factory=dict)
    # the videos the encoder's temporal head has pooled (aggregation 'temporal')
    _pooled: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def load(cls, lib: Library, generation: int) -> SearchState:
        conn = lib._conn
        conn.execute("BEGIN")  # one consistent snapshot of the committed state
        try:
            rows = conn.execute(
                "SELECT id, path, duration_s, row_start, row_count, shard FROM videos "
                "WHERE status='done' ORDER BY row_start"
            ).fetchall()
            gen_row = conn.execute("SELECT value FROM meta WHERE key='generation'").fetchone()
        finally:
            conn.execute("COMMIT")
        refs = [ShardRef(r["row_start"], r["row_count"], r["shard"]) for r in rows]
        n_rows = max((r.row_start + r.row_count for r in refs), default=0)
        t0 = time.perf_counter()
        matrix, bad = load_matrix(lib.root, refs, n_rows, lib.manifest.dim)
        damaged: dict[str, str] = {}
        if bad:  # left out of searches, each named once per library generation
            kept = []
            for r, ref in zip(rows, refs, strict=True):
                if ref in bad:
                    damaged[r["id"]] = bad[ref]
                    logger.warning(
                        "video %s (%s) is left out of searches: %s; run `vidlens index %s` to "
                        "index it again",
                        r["id"][:12],
                        r["path"],
                        bad[ref],
                        shlex.quote(r["path"]),
                    )
                else:
                    kept.append(r)
            rows = kept
        state = cls(
            generation=int(gen_row[0]) if gen_row else generation,
            video_ids=[r["id"] for r in rows],
            paths=[r["path"] for r in rows],
            durations=np.array([r["duration_s"] for r in rows], dtype=np.float64),
            row_starts=np.array([r["row_start"] for r in rows], dtype=np.int64),
            row_counts=np.array([r["row_count"] for r in rows], dtype=np.int64),
            matrix=matrix,
            damaged=damaged,
        )
        logger.debug(
            "loaded %d vectors of %d videos in %.3fs", n_rows, len(rows), time.perf_counter() - t0
        )
        return state

    def ensure_ann(self, lib: Library) -> AnnIndex:
        if self.ann is None:
            from ._ann import AnnIndex

            live = np.zeros(self.matrix.shape[0], dtype=bool)
            for s, n in zip(self.row_starts, self.row_counts, strict=True):
                live[s : s + n] = True
            self.ann = AnnIndex.load_or_build(lib.root / "ann", self.matrix, live)
        return self.ann

    def times(self, lib: Library, i: int) -> np.ndarray:
        vid = self.video_ids[i]
        t = self._times.get(vid)
        if t is None:
            t = lib.frame_times(vid)
            self._times[vid] = t
        return t

    def pooled(self, lib: Library, indices: np.ndarray) -> np.ndarray:
        """``(n, D)`` temporal-head embeddings of videos ``indices``, each computed once per
        library generation (the head's pooling does not depend on the query)."""
        head = lib.temporal_head()
        if head is None:
            raise ConfigError(
                f"aggregation 'temporal' needs an encoder with a temporal head, and the "
                f"library's encoder {lib.manifest.encoder_id} has none (vidlens-tiny and "
                "`vidlens train` exports do); use --aggregation mean, the closest without one"
            )
        from ..encoders.tiny import temporal_video_embeddings

        todo = [int(i) for i in indices if self.video_ids[int(i)] not in self._pooled]
        if todo:
            frames = [self.rows(i) for i in todo]
            for i, emb in zip(todo, temporal_video_embeddings(head, frames), strict=True):
                self._pooled[self.video_ids[i]] = emb
        dim = self.matrix.shape[1]
        return np.stack([self._pooled[self.video_ids[int(i)]] for i in indices]).reshape(-1, dim)

    def rows(self, i: int) -> np.ndarray:
        """The stored frame vectors of video ``i`` (a view of the matrix)."""
        s, n = int(self.row_starts[i]), int(self.row_counts[i])
        return self.matrix[s : s + n]

    def curve(self, i: int, query: np.ndarray) -> np.ndarray:
        return self.rows(i) @ query


def cell_centres(times_s: np.ndarray, duration_s: float, sampling: SamplingConfig) -> np.ndarray:
    """Where each sampled frame's stretch of video is centred, for cutting moments.

    With ``fps``, ``keyframes`` and ``shots`` sampling a frame stands for the video from its own
    time until the next sampled frame (the frame at 6 s of a 1 fps recipe covers 6-7 s), so a
    scene from 6 to 14 s gives the window 6-14 s, not 5.5-13.5 s. With ``frames`` sampling the
    frames are bin centres already.
    """
    t = np.asarray(times_s, dtype=np.float64)
    if sampling.mode == "frames" or t.size == 0:
        return t
    if t.size > 1:
        step = float(np.median(np.diff(t)))
    else:
        step = 1.0 / sampling.fps if sampling.mode != "keyframes" else duration_s
    nxt = np.append(t[1:], min(duration_s, t[-1] + step))
    return np.minimum((t + np.maximum(nxt, t)) / 2.0, duration_s)


def _per_video_max(state: SearchState, sims: np.ndarray) -> np.ndarray:
    """Max similarity of each live video, from the similarity of every stored row."""
    ends = state.row_starts + state.row_counts
    bounds = np.empty(2 * len(ends), dtype=np.int64)
    bounds[0::2] = state.row_starts
    bounds[1::2] = ends
    padded = np.append(sims, np.float32(-np.inf))  # reduceat needs every index < len
    return np.maximum.reduceat(padded, bounds)[0::2]


def search(
    lib: Library, query: np.ndarray, label: str, *, top_k: int, config: SearchConfig
) -> SearchResults:
    """Rank the library's videos for the (L2-normalised) ``query`` vector."""
    if top_k < 1:
        raise ConfigError(f"top_k must be at least 1, got {top_k}")
    state = lib.search_state()
    n_videos = len(state.video_ids)
    if n_videos == 0:
        return SearchResults(query=label, results=[])
    query = np.asarray(query, dtype=np.float32)
    all_sims: np.ndarray | None = None
    if state.matrix.shape[0] > config.exact_max_rows:
        ann = state.ensure_ann(lib)
        rows = ann.search(query, config.ann_candidate_frames)
        owners = np.searchsorted(state.row_starts, rows, side="right") - 1
        candidates = np.unique(owners[owners >= 0])
        curve_of = {int(i): state.curve(int(i), query) for i in candidates}
        best = np.array([curve_of[int(i)].max() for i in candidates])
    else:
        all_sims = state.matrix @ query  # one pass over every stored frame
        best = _per_video_max(state, all_sims)
        candidates = np.arange(n_videos)
    if len(candidates) > config.max_scored_videos:
        keep = np.argsort(-best, kind="stable")[: config.max_scored_videos]
        candidates = candidates[keep]
    if all_sims is not None:  # slice the curves out of the pass above instead of recomputing
        starts, counts = state.row_starts[candidates], state.row_counts[candidates]
        curves = [all_sims[s : s + n] for s, n in zip(starts, counts, strict=True)]
    else:
        curves = [curve_of[int(i)] for i in candidates]
    agg = config.aggregation
    needs_vectors = agg.method in ("mean", "xpool")
    vectors = None
    if needs_vectors:
        vectors = [state.rows(int(i)) for i in candidates]
    pooled = state.pooled(lib, candidates) if agg.method == "temporal" else None
    scores = score_videos(curves, agg, vectors, query, pooled)
    order = sorted(
        range(len(candidates)),
        key=lambda j: (-round(float(scores[j]), 6), state.video_ids[candidates[j]]),
    )[:top_k]
    hits = _hits(
        lib,
        state,
        [int(candidates[j]) for j in order],
        [curves[j] for j in order],
        [float(scores[j]) for j in order],
        config,
        query,
    )
    return SearchResults(query=label, results=hits)


def _hits(
    lib: Library,
    state: SearchState,
    videos: list[int],
    curves: list[np.ndarray],
    scores: list[float],
    config: SearchConfig,
    query: np.ndarray,
) -> list[SearchHit]:
    """The results for ``videos`` (indices into ``state``) with their similarity ``curves`` and
    video ``scores``, in that order.

    Moments and saliency of all hits are computed in one batch each: per-video calls spend much of
    their time in numpy call overhead, not arithmetic.
    """
    durations = [float(state.durations[i]) for i in videos]
    batch = [
        (cell_centres(state.times(lib, i), duration, lib.sampling), curve, duration)
        for i, curve, duration in zip(videos, curves, durations, strict=True)
    ]
    moments = find_moments_batch(batch, config.moments)
    moments = _head_reranked(
        lib,
        batch,
        lambda v: state.rows(videos[v]),
        moments,
        query,
        config,
    )
    saliency = saliency_scores_batch(batch, config.saliency_clip_s)
    hits = []
    for i, curve, score, duration, m, s in zip(
        videos, curves, scores, durations, moments, saliency, strict=True
    ):
        best = int(np.argmax(curve))
        hits.append(
            SearchHit(
                video_id=state.video_ids[i],
                path=state.paths[i],
                score=round(score, 6),
                moments=_rounded_moments(_standing_out(m)),
                saliency=_rounded(s, 6),
                duration_s=duration,
                best_time_s=float(state.times(lib, i)[best]),
                best_frame=best,
            )
        )
    return hits


def _head_reranked(
    lib: Library,
    batch: list[tuple[np.ndarray, np.ndarray, float]],
    frames_of: Callable[[int], np.ndarray],
    moments: list[list[Moment]],
    query: np.ndarray,
    config: SearchConfig,
) -> list[list[Moment]]:
    """Each video's moments re-ranked by how well the encoder's temporal head matches each
    window, as a clip, with the query (:func:`~vidlens.query.moments.rerank_moments`); as they
    are without a head or with ``head_weight`` 0.

    ``batch`` holds each video's ``(cell centres, curve, duration)`` and ``frames_of(v)`` the
    frame vectors of its ``v``-th video; a window takes the frames whose cell centre lies inside
    it (the nearest one when none does).
    """
    weight = config.moments.head_weight
    head = lib.temporal_head() if weight > 0 else None
    if head is None or not any(moments):
        return moments
    from ..encoders.tiny import temporal_video_embeddings

    segments = []
    for v, ((centres, _, _), windows) in enumerate(zip(batch, moments, strict=True)):
        vectors = frames_of(v) if windows else None
        for start, end, _ in windows:
            inside = (centres >= start - 1e-6) & (centres <= end + 1e-6)
            if not inside.any():
                inside[int(np.argmin(np.abs(centres - (start + end) / 2)))] = True
            assert vectors is not None
            segments.append(vectors[inside])
    q = np.asarray(query, dtype=np.float64)
    match = temporal_video_embeddings(head, segments).astype(np.float64) @ (q / np.linalg.norm(q))
    out, at = [], 0
    for (_, _, duration), windows in zip(batch, moments, strict=True):
        out.append(rerank_moments(windows, match[at : at + len(windows)], weight, duration))
        at += len(windows)
    return out


def _standing_out(moments: list[Moment]) -> list[Moment]:
    """A search hit's moments as a user reads them: distinct events, each standing out.

    The best window, then each later one that scores above zero (windows at or below it are no
    better than what lies outside them) and is not mostly the same stretch as one kept before
    it: more than half of the shorter of the two inside the other, as "8-14 s" and "0-20 s"
    (the event with the rest of the video around it) or "15-20 s" and "15-30 s". Temporal NMS
    keeps such pairs (IoU 0.3 and 0.5), rightly for benchmark evaluation, where a ranked list of
    candidates is scored; that list (:func:`video_moments`, ``vidlens moments``) keeps them all.
    """
    kept: list[Moment] = []
    for m in moments:
        if kept and (m[2] <= 0 or any(_shared_part(m, k) > 0.5 for k in kept)):
            continue
        kept.append(m)
    return kept


def _shared_part(a: Moment, b: Moment) -> float:
    """The part of the shorter of two windows that lies inside the other."""
    inter = min(a[1], b[1]) - max(a[0], b[0])
    shorter = min(a[1] - a[0], b[1] - b[0])
    return max(inter, 0.0) / shorter if shorter > 0 else float(inter >= 0)


def _rounded_moments(moments: list[Moment]) -> list[tuple[float, float, float]]:
    return [(round(s, 3), round(e, 3), round(sc, 6)) for s, e, sc in moments]


def _rounded(values: list[float] | np.ndarray, digits: int) -> list[float]:
    """``[round(x, digits) for x in values]`` for ``0 <= digits <= 22`` (``10**digits`` exact),
    to the bit: 4x faster on a hit's few hundred saliency scores, 25x on thousands.

    ``rint(x * 10**digits) / 10**digits`` is Python's correctly rounded result wherever ``x *
    10**digits`` is not within rounding error of a half (both then divide the same integer by
    ``10**digits``, correctly rounded); the few values that are, and huge or non-finite ones,
    are rounded by Python.
    """
    x = np.asarray(values, dtype=np.float64)
    scale = 10.0**digits
    with np.errstate(over="ignore", invalid="ignore"):  # huge and non-finite: unsure below
        scaled = x * scale
        out = (np.rint(scaled) / scale).tolist()
        y = np.abs(scaled)
        unsure = ~(y < 2.0**52) | (np.abs(y - np.floor(y) - 0.5) <= 2 * np.spacing(y))
    for i in np.flatnonzero(unsure).tolist():
        out[i] = round(float(x[i]), digits)
    return out


@dataclass(frozen=True)
class VideoMoments:
    moments: list[tuple[float, float, float]]
    saliency: list[float]


def video_moments(
    lib: Library, rec: VideoRecord, query: np.ndarray, config: SearchConfig
) -> VideoMoments:
    """Moments and saliency of one video for a normalised query vector."""
    frames = lib.frame_vectors(rec.id)
    curve = frames @ np.asarray(query, dtype=np.float32)
    times = cell_centres(lib.frame_times(rec.id), rec.duration_s, lib.sampling)
    moments = find_moments(times, curve, rec.duration_s, config.moments)
    (moments,) = _head_reranked(
        lib, [(times, curve, rec.duration_s)], lambda _: frames, [moments], query, config
    )
    saliency = saliency_scores(times, curve, rec.duration_s, clip_s=config.saliency_clip_s)
    return VideoMoments(moments=_rounded_moments(moments), saliency=_rounded(saliency, 6))
