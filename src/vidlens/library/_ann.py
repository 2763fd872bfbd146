"""Approximate nearest-neighbour index over frame vectors, for libraries too big to scan.

An inverted-file index (FAISS ``IndexIVFScalarQuantizer``, fp16 codes, inner product) built from
the live rows. It is a cache under ``ann/``: rebuilt when missing, stale, corrupt or built with
other parameters, never the truth. Rows appended after the build are scanned exactly until they
reach ``REBUILD_FRACTION`` of the index, then the index is rebuilt.

The coarse quantizer is trained, and every vector assigned to its list, with numpy matrix
products rather than FAISS's own k-means: the faiss-cpu wheel searches batches of fewer than
``distance_compute_blas_threshold`` (128k) queries without BLAS, which made the build several
times slower than one numpy ``sgemm`` per chunk (bench/query.py measures both).

Parameters, from ``bench/query.py --sweep`` on 1M clustered 512-d vectors (2 shared cores):
``nlist ~ sqrt(n)`` lists and ``NPROBE`` = 32 lists probed per query give recall@100 0.9998 at
~6 ms per query (recall saturates at nprobe 16 there; 32 leaves a margin for real embeddings),
and build in ~20-35 s (the previous 4*sqrt(n) lists trained by FAISS took ~310 s). A single query
runs on one thread: splitting its lists across threads (``parallel_mode`` 1) was 3-10x slower
at p95 on a shared machine. fp16 codes rank the top 100 like exact search; 8-bit codes would
halve the index (0.5 GB at 1M) at recall@100 0.9875.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from pathlib import Path

import numpy as np

from ._fsutil import atomic_write_bytes

__all__ = ["AnnIndex"]

logger = logging.getLogger(__name__)

INDEX_FILE = "ivf.faiss"
META_FILE = "ivf.json"
FORMAT = 2  # bump when the build changes: older index files are rebuilt
REBUILD_FRACTION = 0.1
NLIST_PER_SQRT_N = 1.0  # lists = this * sqrt(live vectors)
MIN_POINTS_PER_LIST = 39  # FAISS's own floor for a meaningful k-means
TRAIN_POINTS_PER_LIST = 64  # k-means sample: this many vectors per list (at least 20k)
KMEANS_ITERATIONS = 10  # FAISS's IVF default
NPROBE = 32  # lists probed per query (capped at nlist)
ASSIGN_CHUNK = 32_768  # vectors per assignment matrix product (chunk x nlist floats of scratch)


def _live_digest(live: np.ndarray) -> str:
    return hashlib.sha256(np.packbits(live).tobytes()).hexdigest()


def _nlist_for(n: int) -> int:
    return max(1, min(round(NLIST_PER_SQRT_N * math.sqrt(max(n, 1))), n // MIN_POINTS_PER_LIST))


def _unit_rows(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def _assign(x: np.ndarray, centroids_t: np.ndarray) -> np.ndarray:
    """Index of the most similar centroid for each row of ``x``; ``centroids_t`` is ``(D, L)``."""
    out = np.empty(x.shape[0], dtype=np.int64)
    for start in range(0, x.shape[0], ASSIGN_CHUNK):
        sims = x[start : start + ASSIGN_CHUNK] @ centroids_t
        out[start : start + ASSIGN_CHUNK] = np.argmax(sims, axis=1)
    return out


def _spherical_kmeans(
    x: np.ndarray, k: int, iterations: int, rng: np.random.Generator
) -> np.ndarray:
    """``(k, D)`` unit centroids of the unit rows ``x`` (FAISS's spherical k-means, in numpy)."""
    centroids = x[rng.choice(x.shape[0], k, replace=False)].copy()
    for _ in range(iterations):
        assign = _assign(x, np.ascontiguousarray(centroids.T))
        counts = np.bincount(assign, minlength=k)
        order = np.argsort(assign, kind="stable")
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        filled = counts > 0
        sums = np.zeros_like(centroids)
        sums[filled] = np.add.reduceat(x[order], starts[filled], axis=0)
        empty = np.flatnonzero(~filled)
        if empty.size:  # re-seed empty lists on random points, as FAISS splits big clusters
            sums[empty] = x[rng.choice(x.shape[0], empty.size, replace=False)]
        centroids = _unit_rows(sums)
    return centroids


class AnnIndex:
    """IVF index over rows ``[0, rows)`` plus an exact scan of the rows added since."""

    def __init__(self, index: object, rows: int, matrix: np.ndarray, live: np.ndarray) -> None:
        self.index = index
        self.rows = rows  # rows covered by the index
        self.matrix = matrix
        self.live = live

    @classmethod
    def load_or_build(cls, folder: Path, matrix: np.ndarray, live: np.ndarray) -> AnnIndex:
        import faiss

        n = matrix.shape[0]
        meta_path, index_path = folder / META_FILE, folder / INDEX_FILE
        try:
            meta = json.loads(meta_path.read_text())
            rows = int(meta["rows"])
            fresh = (
                meta.get("format") == FORMAT
                and rows <= n
                and meta["live_sha256"] == _live_digest(live[:rows])
                and meta["dim"] == matrix.shape[1]
                and (n - rows) <= REBUILD_FRACTION * max(rows, 1)
            )
            if fresh:
                index = faiss.read_index(str(index_path))
                if index.ntotal == int(live[:rows].sum()):
                    cls._set_nprobe(index)
                    return cls(index, rows, matrix, live)
            logger.info("ANN index in %s is stale; rebuilding", folder)
        except FileNotFoundError:
            pass
        except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
            logger.warning("ANN index in %s unreadable (%s); rebuilding", folder, exc)
        return cls.build(folder, matrix, live)

    @staticmethod
    def _set_nprobe(index: object) -> None:
        index.nprobe = min(NPROBE, int(index.nlist))  # type: ignore[attr-defined]

    @classmethod
    def build(cls, folder: Path, matrix: np.ndarray, live: np.ndarray) -> AnnIndex:
        import faiss

        t0 = time.perf_counter()
        n, dim = matrix.shape
        ids = np.flatnonzero(live).astype(np.int64)
        nlist = _nlist_for(len(ids))
        rng = np.random.default_rng(0)
        n_train = min(len(ids), max(20_000, TRAIN_POINTS_PER_LIST * nlist))
        sample = np.sort(rng.choice(ids, n_train, replace=False)) if len(ids) else ids
        train = _unit_rows(np.ascontiguousarray(matrix[sample], dtype=np.float32))
        centroids = (
            _spherical_kmeans(train, nlist, KMEANS_ITERATIONS, rng)
            if len(ids)
            else np.zeros((1, dim), dtype=np.float32)
        )
        del train
        t_train = time.perf_counter() - t0
        quantizer = faiss.IndexFlatIP(dim)
        quantizer.add(np.ascontiguousarray(centroids, dtype=np.float32))
        index = faiss.IndexIVFScalarQuantizer(
            quantizer, dim, nlist, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT
        )
        index.is_trained = True  # fp16 codes need no training; the quantizer is ours
        centroids_t = np.ascontiguousarray(centroids.T, dtype=np.float32)
        for start in range(0, len(ids), 4 * ASSIGN_CHUNK):
            chunk = np.ascontiguousarray(ids[start : start + 4 * ASSIGN_CHUNK])
            x = np.ascontiguousarray(matrix[chunk], dtype=np.float32)
            lists = _assign(x, centroids_t)
            index.add_core(
                len(chunk), faiss.swig_ptr(x), faiss.swig_ptr(chunk), faiss.swig_ptr(lists)
            )
        cls._set_nprobe(index)
        try:
            folder.mkdir(exist_ok=True)
            data = faiss.serialize_index(index)
            atomic_write_bytes(folder / INDEX_FILE, np.asarray(data).tobytes())
            meta = {
                "format": FORMAT,
                "rows": n,
                "dim": dim,
                "nlist": nlist,
                "train_vectors": int(n_train),
                "live_sha256": _live_digest(live),
            }
            atomic_write_bytes(folder / META_FILE, json.dumps(meta).encode())
        except OSError as exc:
            logger.warning("could not save the ANN index in %s: %s", folder, exc)
        logger.info(
            "built ANN index: %d vectors, %d lists, %.1fs (k-means %.1fs)",
            len(ids),
            nlist,
            time.perf_counter() - t0,
            t_train,
        )
        return cls(index, n, matrix, live)

    def search(self, query: np.ndarray, k: int) -> np.ndarray:
        """Row numbers of (about) the ``k`` most similar live frames, best first."""
        q = np.ascontiguousarray(query[None, :], dtype=np.float32)
        index = self.index
        scores, rows = index.search(q, k)  # type: ignore[attr-defined]
        nprobe = int(index.nprobe)  # type: ignore[attr-defined]
        nlist = int(index.nlist)  # type: ignore[attr-defined]
        if (rows[0] < 0).any() and nprobe < nlist:
            # the probed lists held fewer than k vectors: probe more, so callers get k candidates
            params = _search_params(min(nlist, max(4 * nprobe, nlist // 4)))
            scores, rows = index.search(q, k, params=params)  # type: ignore[attr-defined]
        rows, scores = rows[0], scores[0]
        keep = rows >= 0
        rows, scores = rows[keep], scores[keep]
        n = self.matrix.shape[0]
        if n > self.rows:  # rows added since the build: exact scan
            tail = self.matrix[self.rows :] @ query
            tail_rows = np.arange(self.rows, n)[self.live[self.rows :]]
            tail = tail[self.live[self.rows :]]
            rows = np.concatenate([rows, tail_rows])
            scores = np.concatenate([scores, tail])
        order = np.argsort(-scores, kind="stable")[:k]
        return rows[order]


def _search_params(nprobe: int) -> object:
    """Per-call IVF search parameters (leave the shared index's ``nprobe`` untouched)."""
    import faiss

    params = faiss.SearchParametersIVF()
    params.nprobe = nprobe
    return params
