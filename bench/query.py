"""Benchmark text -> moments search over large libraries: latency, ANN recall, index build, memory.

Libraries of 100k and 1M stored frame vectors (dim 512) are written straight through
``Library.commit_video`` (no video is decoded). The vectors are shaped like CLIP frame embeddings,
because uniformly random vectors make every ANN index look broken:

- a shared mean direction (CLIP image embeddings sit in a narrow cone), a topic centre per video,
  a video centre, a scene centre per shot (shots of ~20 frames), and a temporally smooth walk
  (box-filtered noise) from frame to frame;
- videos of 30..3600 frames (log-uniform), at 1 frame per second;
- query vectors ("texts") sit in their own cone (the modality gap) and point at one scene of one
  video or at one topic, so queries have real answers.

A registered encoder (``bench-synthetic``) maps the text ``"query N"`` to query vector N, so
``Library.search`` works end to end; latencies are timed on ``vidlens.library._search.search`` with
the query vector precomputed (text encoding excluded).

Figures: p50/p95 search latency, recall@100 of the frames the ANN index returns vs exact search,
the exact path's latency, the one-off index build time, and the memory the search state holds.
``--sweep`` also measures FAISS index types and parameters on the largest library.

    .venv/bin/python bench/query.py                 # 100k and 1M
    .venv/bin/python bench/query.py --sweep         # plus the ANN parameter sweep at 1M
    .venv/bin/python bench/query.py --smoke         # 5k vectors
    .venv/bin/python bench/query.py --threads 0     # BLAS/torch threads as the libraries default

Queries run on one BLAS/torch/faiss thread by default, as ``vidlens serve`` runs them
(``ServerConfig.query_threads``); on a busy machine extra threads stall small products.
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import logging
import os
import shutil
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

DIM = 512
ENCODER_NAME = "bench-synthetic"
GOALS = {"p95_ms_1m": "<50", "recall_at_100": ">=0.95"}
GENERATOR_VERSION = 1  # bump when the vector model changes: cached libraries are rebuilt

# Weights of the components of a frame vector (squared weights sum to 1, so the expected cosine
# of two frames is the sum of the squared weights they share): random pair ~0.45, same topic
# ~0.6, same video ~0.8, same scene ~0.9, adjacent frames ~0.99.
W_GLOBAL, W_TOPIC, W_VIDEO, W_SCENE, W_WALK = (
    np.sqrt(0.45),
    np.sqrt(0.15),
    np.sqrt(0.2),
    np.sqrt(0.1),
    np.sqrt(0.1),
)
WALK_WINDOW = 16  # frames of noise averaged: neighbouring walk steps share 15/16 of it
MEAN_SCENE_FRAMES = 20


# ----------------------------------------------------------------------------- synthetic data
def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


@dataclass
class VectorModel:
    """The hidden structure the synthetic vectors are drawn from."""

    image_mean: np.ndarray  # (D,)
    text_mean: np.ndarray  # (D,)
    topics: np.ndarray  # (T, D)
    lengths: np.ndarray  # (V,) frames per video
    video_topics: np.ndarray  # (V,)
    seed: int

    @classmethod
    def create(cls, total_frames: int, seed: int, n_topics: int = 64) -> VectorModel:
        rng = np.random.default_rng(seed)
        image_mean = _unit(rng.standard_normal(DIM))
        text_mean = _unit(rng.standard_normal(DIM))
        topics = _unit(rng.standard_normal((n_topics, DIM)))
        lengths: list[int] = []
        lo, hi = (30, 3600) if total_frames >= 20_000 else (30, 100)
        while sum(lengths) < total_frames:
            lengths.append(int(np.exp(rng.uniform(np.log(lo), np.log(hi)))))
        lengths[-1] -= sum(lengths) - total_frames
        if lengths[-1] < 1:
            lengths.pop()
            lengths[-1] += total_frames - sum(lengths)
        vt = rng.integers(0, n_topics, len(lengths))
        return cls(image_mean, text_mean, topics, np.array(lengths), vt, seed)

    def video(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Frames ``(n, D)`` float32 unit rows of video ``i``, its centre and scene centres."""
        rng = np.random.default_rng([self.seed, i])
        n = int(self.lengths[i])
        centre = _unit(rng.standard_normal(DIM))
        n_scenes = max(1, int(np.ceil(n / MEAN_SCENE_FRAMES)))
        cuts = np.sort(rng.choice(np.arange(1, n), size=min(n_scenes - 1, n - 1), replace=False))
        scene_of = np.zeros(n, dtype=np.int64)
        scene_of[cuts] = 1
        scene_of = np.cumsum(scene_of)
        scenes = _unit(rng.standard_normal((int(scene_of[-1]) + 1, DIM)))
        noise = rng.standard_normal((n + WALK_WINDOW, DIM)).astype(np.float32)
        c = np.cumsum(noise, axis=0)
        walk = (c[WALK_WINDOW:] - c[:-WALK_WINDOW]) / np.sqrt(WALK_WINDOW * DIM)
        x = (
            W_GLOBAL * self.image_mean
            + W_TOPIC * self.topics[self.video_topics[i]]
            + W_VIDEO * centre
            + W_SCENE * scenes[scene_of]
            + W_WALK * walk
        )
        return _unit(x), centre, scenes

    def queries(self, n: int) -> np.ndarray:
        """``(n, D)`` query vectors: ~60% aimed at one scene of one video, the rest at a topic."""
        rng = np.random.default_rng([self.seed, 10**9])
        p = self.lengths / self.lengths.sum()
        out = np.empty((n, DIM), dtype=np.float32)
        for q in range(n):
            x = 0.6 * self.text_mean + 0.25 * self.image_mean
            noise = _unit(rng.standard_normal(DIM))
            if rng.random() < 0.6:
                v = int(rng.choice(len(self.lengths), p=p))
                _, centre, scenes = self.video(v)
                scene = scenes[rng.integers(0, len(scenes))]
                t = self.topics[self.video_topics[v]]
                x = x + 0.3 * t + 0.35 * centre + 0.45 * scene + 0.3 * noise
            else:
                x = x + 0.6 * self.topics[rng.integers(0, len(self.topics))] + 0.4 * noise
            out[q] = _unit(x)
        return out


class SyntheticEncoder:
    """``"query N"`` -> query vector N; any other text -> a vector seeded by its bytes."""

    id = ENCODER_NAME
    dim = DIM
    fingerprint = f"bench-synthetic-v{GENERATOR_VERSION}"

    def __init__(self, queries: np.ndarray | None = None) -> None:
        self.queries = queries if queries is not None else np.zeros((0, DIM), np.float32)

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        out = np.empty((len(texts), DIM), dtype=np.float32)
        for i, t in enumerate(texts):
            parts = t.split()
            known = len(parts) == 2 and parts[0] == "query" and parts[1].isdigit()
            if known and int(parts[1]) < len(self.queries):
                out[i] = self.queries[int(parts[1])]
                continue
            seed = int.from_bytes(t.encode()[:16].ljust(16, b"\0"), "little")
            out[i] = np.random.default_rng(seed).standard_normal(DIM)
        return out

    def encode_images(self, frames: np.ndarray) -> np.ndarray:
        raise NotImplementedError("the synthetic encoder encodes texts only")


def register(queries: np.ndarray) -> SyntheticEncoder:
    from vidlens.encoders import register_encoder

    enc = SyntheticEncoder(queries)
    register_encoder(ENCODER_NAME, lambda spec, config: enc, replace=True)
    return enc


def tiny_jpeg() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (90, 120, 150)).save(buf, format="JPEG", quality=50)
    return buf.getvalue()


def build_library(root: Path, model: VectorModel, encoder: SyntheticEncoder) -> float:
    """Write every synthetic video through ``Library.commit_video``; returns seconds taken."""
    from vidlens.config import SamplingConfig
    from vidlens.library import Library

    if root.exists():
        shutil.rmtree(root)
    started = time.perf_counter()
    thumb = tiny_jpeg()
    with Library.open(root, encoder=encoder, sampling=SamplingConfig(fps=1.0), create=True) as lib:
        for i, n in enumerate(model.lengths):
            vectors, _, _ = model.video(i)
            n = int(n)
            lib.commit_video(
                video_id=f"{model.seed:04x}{i:028x}",
                path=f"/bench/synthetic/video-{i:06d}.mp4",
                size_bytes=1000 * n,
                mtime_ns=0,
                info={
                    "duration_s": float(n),
                    "fps": 30.0,
                    "frame_count": 30 * n,
                    "width": 1280,
                    "height": 720,
                    "rotation": 0,
                    "start_s": 0.0,
                    "codec": "h264",
                    "has_audio": False,
                },
                times_s=np.arange(n, dtype=np.float64).tolist(),
                keyframes=[False] * n,
                vectors=vectors,
                thumbs=[thumb] * n,
                shots=[(0.0, float(n))],
                decode_s=0.0,
                encode_s=0.0,
            )
    return time.perf_counter() - started


def library_for(total: int, seed: int, n_queries: int, rebuild: bool) -> tuple[Path, np.ndarray]:
    """The cached library of ``total`` frames (built when missing) and its query vectors."""
    root = C.OUT_DIR / f"query-lib-{total}-seed{seed}-v{GENERATOR_VERSION}"
    marker = root / "bench-complete.json"
    model = VectorModel.create(total, seed)
    queries = model.queries(n_queries)
    encoder = register(queries)
    if rebuild or not marker.exists():
        print(f"# building {root.name}: {len(model.lengths)} videos ...", flush=True)
        took = build_library(root, model, encoder)
        marker.write_text(json.dumps({"videos": len(model.lengths), "build_s": took}))
        print(f"# built in {took:.1f} s ({C.load_note()})", flush=True)
    return root, queries


# ----------------------------------------------------------------------------- measurements
def exact_top(matrix: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Exact top-``k`` rows per query, ``(Q, k)``, best first (numpy BLAS, in row chunks)."""
    q = np.ascontiguousarray(queries.T, dtype=np.float32)
    best_s = np.full((len(queries), 0), -np.inf, dtype=np.float32)
    best_i = np.zeros((len(queries), 0), dtype=np.int64)
    for start in range(0, matrix.shape[0], 200_000):
        sims = (matrix[start : start + 200_000] @ q).T  # (Q, chunk)
        kk = min(k, sims.shape[1])
        idx = np.argpartition(-sims, kk - 1, axis=1)[:, :kk]
        s = np.take_along_axis(sims, idx, axis=1)
        best_s = np.concatenate([best_s, s], axis=1)
        best_i = np.concatenate([best_i, idx + start], axis=1)
        keep = np.argsort(-best_s, axis=1, kind="stable")[:, :k]
        best_s = np.take_along_axis(best_s, keep, axis=1)
        best_i = np.take_along_axis(best_i, keep, axis=1)
    return best_i


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean over queries of |found ∩ truth| / |truth|."""
    return recall_ragged(list(found), truth)


def recall_ragged(found: list[np.ndarray], truth: np.ndarray) -> float:
    """:func:`recall` where each query may have found a different number of rows."""
    hits = [
        len(set(f.tolist()) & set(t.tolist())) / len(t) for f, t in zip(found, truth, strict=True)
    ]
    return float(np.mean(hits))


def percentiles_ms(samples: list[float]) -> dict[str, float]:
    a = np.array(samples) * 1000
    return {
        "p50_ms": round(float(np.percentile(a, 50)), 3),
        "p95_ms": round(float(np.percentile(a, 95)), 3),
        "mean_ms": round(float(a.mean()), 3),
        "max_ms": round(float(a.max()), 3),
        "n": len(samples),
    }


TOP_K = 10  # videos per search (--top-k)


def time_search(lib: Any, queries: np.ndarray, config: Any) -> tuple[dict[str, float], list[Any]]:
    from vidlens.library._search import search

    search(lib, queries[0], "warm-up", top_k=TOP_K, config=config)  # warm caches (frame times)
    times, results = [], []
    for i, q in enumerate(queries):
        t0 = time.perf_counter()
        res = search(lib, q, f"query {i}", top_k=TOP_K, config=config)
        times.append(time.perf_counter() - t0)
        results.append(res)
    return percentiles_ms(times) | {"load": C.loadavg()}, results


def overlap_at_10(a: list[Any], b: list[Any]) -> float:
    """Mean share of the top-10 videos two runs of the same queries agree on."""
    vals = []
    for x, y in zip(a, b, strict=True):
        sx = {h.video_id for h in x.results}
        sy = {h.video_id for h in y.results}
        vals.append(len(sx & sy) / max(len(sy), 1))
    return float(np.mean(vals))


def _index_mb(index: Any) -> float:
    """Size of an IVF index's codes, ids and centroids."""
    codes = index.ntotal * (index.code_size + 8)
    return float(codes + index.nlist * index.d * 4) / 2**20


def rss_mb() -> float:
    return C._rss_kb(os.getpid()) / 1024


def bench_size(total: int, args: argparse.Namespace) -> dict[str, Any]:
    from vidlens.library import Library, SearchConfig

    root, queries = library_for(total, args.seed, args.queries, args.rebuild)
    res: dict[str, Any] = {"frames": total}
    for name in ("ivf.faiss", "ivf.json"):  # the one-off build is part of what we measure
        (root / "ann" / name).unlink(missing_ok=True)
    gc.collect()
    rss0 = rss_mb()
    with Library.open(root, encoder=register(queries), readonly=True) as lib:
        videos = len(lib.videos())
        with C.measure() as m_load:
            state = lib.search_state()
        rss_loaded = rss_mb()
        matrix = state.matrix
        res["videos"] = videos
        res["state_load"] = m_load.to_dict()
        with C.measure() as m_ann:
            ann = state.ensure_ann(lib)
        rss_ann = rss_mb()
        res["ann_build"] = m_ann.to_dict()
        res["memory_mb"] = {
            "before": round(rss0, 1),
            "search_state": round(rss_loaded - rss0, 1),
            "matrix_float32": round(matrix.nbytes / 2**20, 1),
            "ann_index_rss_growth": round(rss_ann - rss_loaded, 1),
            "ann_index_bytes_mb": round(_index_mb(ann.index), 1),
            "total_rss": round(rss_ann, 1),
        }
        nlist = int(ann.index.nlist)
        nprobe = int(ann.index.nprobe)
        print(
            f"\n== {total:,} frames in {videos} videos: state load {m_load.wall_s:.2f} s, ANN "
            f"build {m_ann.wall_s:.1f} s (IVF nlist {nlist}, nprobe {nprobe}; "
            f"load {'/'.join(map(str, m_ann.load))}); RSS {rss_ann:.0f} MB (matrix float32 "
            f"{matrix.nbytes / 2**20:.0f} MB, index {_index_mb(ann.index):.0f} MB) ==",
            flush=True,
        )
        truth = exact_top(matrix, queries, 100)
        ann_rows = np.stack([ann.search(q, 100) for q in queries])
        cfg = SearchConfig()
        cand = [ann.search(q, cfg.ann_candidate_frames) for q in queries]
        r100 = recall(ann_rows, truth)
        rcand = recall_ragged(cand, truth)
        res["recall_at_100"] = round(r100, 4)
        res["candidate_recall_at_100"] = round(rcand, 4)
        print(
            f"ANN recall@100 (frames, vs exact): {r100:.4f}; exact top-100 inside the "
            f"{cfg.ann_candidate_frames} candidates search uses: {rcand:.4f}"
        )
        forced_ann = replace(cfg, exact_max_rows=0)
        forced_exact = replace(cfg, exact_max_rows=10**12)
        default_path = "ann" if total > cfg.exact_max_rows else "exact"
        for i in range(len(state.video_ids)):  # frame times are cached per video: warm them all
            state.times(lib, i)
        n_exact = len(queries) if total <= 200_000 else min(len(queries), args.exact_queries)
        lat_exact, res_exact = time_search(lib, queries[:n_exact], forced_exact)
        lat_ann, res_ann = time_search(lib, queries, forced_ann)
        res["search_exact"], res["search_ann"] = lat_exact, lat_ann
        res["search_default"] = (lat_ann if default_path == "ann" else lat_exact) | {
            "path": default_path
        }
        print(_lat_line("search, exact path", lat_exact))
        print(_lat_line(f"search, ANN path ({cfg.ann_candidate_frames} cand.)", lat_ann))
        agree = overlap_at_10(res_ann[:n_exact], res_exact)
        res["top10_videos_ann_vs_exact"] = round(agree, 4)
        print(
            f"top-10 videos, ANN path vs exact path: {agree:.4f} agreement "
            f"({sum(len(r.results) for r in res_ann[:n_exact]) / n_exact:.1f} results per query "
            f"from the ANN path, {sum(len(r.results) for r in res_exact) / n_exact:.1f} exact)"
        )
        res["candidates"] = {}
        for c in args.candidates:
            if c == cfg.ann_candidate_frames:
                continue
            lat_c, res_c = time_search(
                lib, queries[:n_exact], replace(forced_ann, ann_candidate_frames=c)
            )
            agree_c = overlap_at_10(res_c, res_exact)
            res["candidates"][str(c)] = lat_c | {"top10_videos_ann_vs_exact": round(agree_c, 4)}
            print(_lat_line(f"search, ANN path ({c} cand.)", lat_c) + f"  agreement {agree_c:.4f}")
        t0 = time.perf_counter()
        lib.search("query 0", top_k=TOP_K)
        res["library_search_one_ms"] = round((time.perf_counter() - t0) * 1000, 3)
        res["profile_ms"] = profile_search(lib, state, queries[: min(50, len(queries))], cfg)
        print(
            "where a default search spends its time (means per query): "
            + ", ".join(f"{k} {v:.2f}" for k, v in res["profile_ms"].items())
        )
        if args.sweep and total == max(args.sizes):
            res["sweep"] = sweep(matrix, queries, truth, args)
        del state, matrix, ann
        lib._state = None
    gc.collect()
    return res


def profile_search(lib: Any, state: Any, queries: np.ndarray, cfg: Any) -> dict[str, float]:
    """The stages of ``_search.search`` timed one by one (same calls, same order)."""
    from vidlens.library._search import _hits, _per_video_max
    from vidlens.query.aggregate import score_videos

    acc: dict[str, float] = {}  # seconds per stage, summed over queries
    counts: dict[str, float] = {}  # sizes, summed over queries

    def add(k: str, dt: float) -> None:
        acc[k] = acc.get(k, 0.0) + dt

    def count(k: str, v: float) -> None:
        counts[k] = counts.get(k, 0.0) + v

    ranking: list[float] = []
    for q in queries:
        t_query = t = time.perf_counter()
        if state.matrix.shape[0] > cfg.exact_max_rows:
            rows = state.ann.search(q, cfg.ann_candidate_frames)
            add("ann_search", time.perf_counter() - t)
            t = time.perf_counter()
            owners = np.searchsorted(state.row_starts, rows, side="right") - 1
            candidates = np.unique(owners[owners >= 0])
            best = np.array([state.curve(int(i), q).max() for i in candidates])
            add("candidate_best", time.perf_counter() - t)
            count("candidate_videos", float(len(candidates)))
            count("candidate_frames", float(state.row_counts[candidates].sum()))
        else:
            best = _per_video_max(state, state.matrix @ q)
            candidates = np.arange(len(state.video_ids))
            add("exact_scan", time.perf_counter() - t)
        t = time.perf_counter()
        if len(candidates) > cfg.max_scored_videos:
            keep = np.argsort(-best, kind="stable")[: cfg.max_scored_videos]
            candidates = candidates[keep]
        curves = [state.curve(int(i), q) for i in candidates]
        add("curves", time.perf_counter() - t)
        t = time.perf_counter()
        scores = score_videos(curves, cfg.aggregation)
        add("score_videos", time.perf_counter() - t)
        t = time.perf_counter()
        ranking.append(t - t_query)
        order = np.argsort(-scores, kind="stable")[:TOP_K]
        hits = [int(candidates[j]) for j in order]
        _hits(
            lib, state, hits, [curves[j] for j in order], [float(scores[j]) for j in order], cfg, q
        )
        add("moments_top10", time.perf_counter() - t)
    n = len(queries)
    out = {f"{k}_ms": round(v / n * 1000, 3) for k, v in acc.items()}
    rank = percentiles_ms(ranking)
    out |= {"ranking_p50_ms": rank["p50_ms"], "ranking_p95_ms": rank["p95_ms"]}
    return out | {f"mean_{k}": round(v / n, 1) for k, v in counts.items()}


def _lat_line(name: str, lat: dict[str, Any]) -> str:
    return (
        f"{name:<28s}: p50 {lat['p50_ms']:8.2f} ms  p95 {lat['p95_ms']:8.2f} ms  "
        f"(n={lat['n']}, load {'/'.join(map(str, lat['load']))})"
    )


# ----------------------------------------------------------------------------- ANN sweep
def build_ivf(matrix: np.ndarray, nlist: int, kind: str, faiss_kmeans: bool = False) -> Any:
    """An IVF index over ``matrix``: ``kind`` is Flat, SQfp16 or SQ8.

    The coarse quantizer is trained as ``_ann`` does (numpy k-means on ``64 * nlist`` vectors),
    or, with ``faiss_kmeans``, by FAISS's own ``train`` on the same sample (the old build).
    """
    import faiss

    from vidlens.library import _ann

    n = matrix.shape[0]
    rng = np.random.default_rng(0)
    n_train = min(n, max(20_000, _ann.TRAIN_POINTS_PER_LIST * nlist))
    sample = np.ascontiguousarray(matrix[np.sort(rng.choice(n, n_train, replace=False))])
    quantizer = faiss.IndexFlatIP(DIM)
    if kind == "Flat":
        index = faiss.IndexIVFFlat(quantizer, DIM, nlist, faiss.METRIC_INNER_PRODUCT)
    else:
        qt = {"SQfp16": faiss.ScalarQuantizer.QT_fp16, "SQ8": faiss.ScalarQuantizer.QT_8bit}[kind]
        index = faiss.IndexIVFScalarQuantizer(quantizer, DIM, nlist, qt, faiss.METRIC_INNER_PRODUCT)
    if faiss_kmeans:
        index.train(sample)
        for s in range(0, n, 200_000):
            index.add(matrix[s : s + 200_000])
        return index
    centroids = _ann._spherical_kmeans(sample, nlist, _ann.KMEANS_ITERATIONS, rng)
    quantizer.add(centroids)
    if kind == "SQ8":
        index.train(sample)  # trains the 8-bit ranges (the quantizer is already filled)
    index.is_trained = True
    ct = np.ascontiguousarray(centroids.T)
    for s in range(0, n, 131_072):
        x = np.ascontiguousarray(matrix[s : s + 131_072])
        ids = np.arange(s, s + len(x), dtype=np.int64)
        lists = _ann._assign(x, ct)
        index.add_core(len(x), faiss.swig_ptr(x), faiss.swig_ptr(ids), faiss.swig_ptr(lists))
    return index


def sweep(
    matrix: np.ndarray, queries: np.ndarray, truth: np.ndarray, args: argparse.Namespace
) -> list[dict[str, Any]]:
    """FAISS index types and parameters on ``matrix``: build time, size, latency, recall.

    Each query asks for the 2000 candidates the search path asks for; recall@100 is measured on
    the first 100 of them (what a k=100 search returns), candidate recall on all of them.
    """
    import faiss

    n = matrix.shape[0]
    k = 2000
    print(f"\n== ANN sweep on {n:,} vectors, k={k} ({C.load_note()}) ==", flush=True)
    out: list[dict[str, Any]] = []
    specs = [s.strip() for s in args.sweep_indexes.split(",") if s.strip()]
    for spec in specs:
        kind, _, nlist_s = spec.partition("@")
        t0 = time.perf_counter()
        if kind.startswith("HNSW"):
            index = faiss.IndexHNSWFlat(DIM, int(kind[4:] or 32), faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = 40
            index.add(matrix)
            grid: list[tuple[str, int, int]] = [("efSearch", e, 0) for e in (2048, 4096)]
        else:
            old = kind.endswith("-faisskm")
            index = build_ivf(matrix, int(nlist_s), kind[3:].removesuffix("-faisskm"), old)
            probes = [p for p in args.sweep_nprobe if p <= int(nlist_s)]
            grid = [("nprobe", p, 0) for p in probes] + [("nprobe", p, 1) for p in probes[-2:]]
        build_s = time.perf_counter() - t0
        size_mb = faiss.serialize_index(index).nbytes / 2**20
        print(f"{spec}: build {build_s:.1f} s, {size_mb:.0f} MB ({C.load_note()})", flush=True)
        for pname, pval, pmode in grid:
            if pname == "nprobe":
                index.nprobe = pval
                index.parallel_mode = pmode  # 1: split one query's lists across the threads
            else:
                index.hnsw.efSearch = pval
            index.search(queries[:1], k)
            lat, found = [], []
            for q in queries:
                t = time.perf_counter()
                _, rows = index.search(q[None, :], k)
                lat.append(time.perf_counter() - t)
                found.append(rows[0])
            row = {
                "index": spec,
                pname: pval,
                "parallel_mode": pmode,
                "build_s": round(build_s, 2),
                "size_mb": round(size_mb, 1),
                "recall_at_100": round(recall_ragged([f[:100] for f in found], truth), 4),
                "candidate_recall_at_100": round(recall_ragged(found, truth), 4),
            } | percentiles_ms(lat)
            row["load"] = C.loadavg()
            out.append(row)
            print(
                f"  {pname} {pval:5d} pmode {pmode}: p50 {row['p50_ms']:7.2f} ms "
                f"p95 {row['p95_ms']:7.2f} ms  recall@100 {row['recall_at_100']:.4f}  "
                f"in {k}: {row['candidate_recall_at_100']:.4f}  "
                f"(load {'/'.join(map(str, row['load']))})",
                flush=True,
            )
        del index
        gc.collect()
    return out


# ----------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="100000,1000000", help="stored frames per library")
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--top-k", type=int, default=10, help="videos per search")
    p.add_argument("--rebuild", action="store_true", help="rebuild the cached libraries")
    p.add_argument(
        "--exact-queries", type=int, default=50, help="queries timed on the exact path at 1M"
    )
    p.add_argument(
        "--candidates",
        default="2000,10000",
        help="ann_candidate_frames values to compare (agreement with the exact path)",
    )
    p.add_argument("--sweep", action="store_true", help="ANN parameter sweep at the largest size")
    p.add_argument(
        "--sweep-indexes",
        default="IVFSQfp16@1000,IVFSQfp16@2000,IVFFlat@1000,IVFSQ8@1000",
        help="index specs: IVFFlat@NLIST, IVFSQfp16@NLIST, IVFSQ8@NLIST (-faisskm: FAISS's "
        "own k-means, the old build), HNSW32",
    )
    p.add_argument("--sweep-nprobe", default="8,16,32,64,128", help="nprobe values to sweep")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="BLAS/torch/faiss threads per query, as `vidlens serve` runs them (its "
        "query_threads); 0 keeps the libraries' defaults",
    )
    p.add_argument("--smoke", action="store_true", help="5k vectors, 8 queries")
    p.add_argument("--out-dir", default=None, help="folder for figures and media (bench/out)")
    p.add_argument("--out", default="query", help=C.OUT_HELP)
    args = p.parse_args(argv)
    args.sizes = [int(float(s)) for s in str(args.sizes).split(",")]
    args.candidates = [int(c) for c in str(args.candidates).split(",") if c]
    args.sweep_nprobe = [int(c) for c in str(args.sweep_nprobe).split(",") if c]
    if args.smoke:
        args.sizes, args.queries, args.exact_queries = [5000], 8, 8
        args.candidates = [2000]
        args.top_k = 3
        args.sweep_indexes = "IVFSQfp16@64,IVFFlat@64"
        args.out = "query-smoke" if args.out == "query" else args.out
    return args


def main(argv: list[str] | None = None) -> int:
    global TOP_K
    args = parse_args(argv)
    TOP_K = args.top_k
    if args.out_dir:
        C.set_out_dir(args.out_dir)
    C.check_out(args.out)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from vidlens._threads import limit_query_threads

    threads = limit_query_threads(args.threads) if args.threads else {}
    import faiss  # after the limits: faiss reads OMP_NUM_THREADS when it loads

    print(f"# vidlens query benchmark, {C.load_note()}; latencies are noisy on a shared machine")
    print(f"# faiss {faiss.__version__}, numpy {np.__version__}, dim {DIM}, {args.queries} queries")
    print(f"# threads per query: {threads or 'library defaults'}")
    results: dict[str, Any] = {
        "machine": C.machine_info(),
        "args": vars(args).copy(),
        "threads_per_query": threads,
    }
    sizes: dict[str, Any] = {}
    for total in args.sizes:
        sizes[str(total)] = bench_size(total, args)
    results["sizes"] = sizes
    print()
    for total in args.sizes:
        r = sizes[str(total)]
        d = r["search_default"]
        print(
            C.ratio_line(
                f"{total} recall@100 ANN/exact", r["recall_at_100"], GOALS["recall_at_100"]
            )
        )
        print(
            C.ratio_line(
                f"{total} p95 ANN-path/exact-path",
                r["search_ann"]["p95_ms"] / r["search_exact"]["p95_ms"],
                "",
                f"{r['search_ann']['p95_ms']:.1f} ms vs {r['search_exact']['p95_ms']:.1f} ms",
            )
        )
        print(
            C.ratio_line(
                f"{total} top-10 videos ANN-path/exact-path",
                r["top10_videos_ann_vs_exact"],
                ">=0.95",
                "share of the exact path's top-10 videos the ANN path returns",
            )
        )
        del d
    big = str(max(args.sizes))
    print(
        C.ratio_line(
            f"{big} p95 latency / 50 ms",
            sizes[big]["search_default"]["p95_ms"] / 50.0,
            "<1",
            f"p95 {sizes[big]['search_default']['p95_ms']:.1f} ms",
        )
    )
    rank = sizes[big]["profile_ms"]
    print(
        C.ratio_line(
            f"{big} p95 ranking-only latency / 50 ms",
            rank["ranking_p95_ms"] / 50.0,
            "<1",
            f"p95 {rank['ranking_p95_ms']:.1f} ms without moments/saliency of the top 10",
        )
    )
    return C.finish(args.out, results)


if __name__ == "__main__":
    sys.exit(main())
