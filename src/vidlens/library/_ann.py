"""Approximate nearest-neighbour index over frame vectors, for libraries too big to scan.

An inverted-file index (FAISS ``IndexIVFScalarQuantizer``, fp16 codes, inner product) built from
the live rows. It is a cache under ``ann/``: rebuilt when missing, stale or corrupt, never the
truth. Rows appended after the build are scanned exactly until they reach
``REBUILD_FRACTION`` of the index, then the index is rebuilt.
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
REBUILD_FRACTION = 0.1
TRAIN_SAMPLE = 100_000  # vectors used to train the coarse quantizer
NPROBE_FRACTION = 1 / 64  # lists probed per query, as a fraction of nlist (at least MIN_NPROBE)
MIN_NPROBE = 16


def _live_digest(live: np.ndarray) -> str:
    return hashlib.sha256(np.packbits(live).tobytes()).hexdigest()


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
                rows <= n
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
        nlist = int(index.nlist)  # type: ignore[attr-defined]
        index.nprobe = max(MIN_NPROBE, int(nlist * NPROBE_FRACTION))  # type: ignore[attr-defined]

    @classmethod
    def build(cls, folder: Path, matrix: np.ndarray, live: np.ndarray) -> AnnIndex:
        import faiss

        t0 = time.perf_counter()
        n, dim = matrix.shape
        ids = np.flatnonzero(live).astype(np.int64)
        nlist = max(1, min(int(4 * math.sqrt(max(len(ids), 1))), len(ids) // 39 or 1))
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFScalarQuantizer(
            quantizer, dim, nlist, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT
        )
        rng = np.random.default_rng(0)
        sample = ids if len(ids) <= TRAIN_SAMPLE else rng.choice(ids, TRAIN_SAMPLE, replace=False)
        index.train(np.ascontiguousarray(matrix[np.sort(sample)], dtype=np.float32))
        for start in range(0, len(ids), 200_000):
            chunk = ids[start : start + 200_000]
            index.add_with_ids(np.ascontiguousarray(matrix[chunk], dtype=np.float32), chunk)
        cls._set_nprobe(index)
        try:
            folder.mkdir(exist_ok=True)
            data = faiss.serialize_index(index)
            atomic_write_bytes(folder / INDEX_FILE, np.asarray(data).tobytes())
            meta = {"rows": n, "dim": dim, "nlist": nlist, "live_sha256": _live_digest(live)}
            atomic_write_bytes(folder / META_FILE, json.dumps(meta).encode())
        except OSError as exc:
            logger.warning("could not save the ANN index in %s: %s", folder, exc)
        logger.info(
            "built ANN index: %d vectors, %d lists, %.1fs",
            len(ids),
            nlist,
            time.perf_counter() - t0,
        )
        return cls(index, n, matrix, live)

    def search(self, query: np.ndarray, k: int) -> np.ndarray:
        """Row numbers of (about) the ``k`` most similar live frames, best first."""
        q = np.ascontiguousarray(query[None, :], dtype=np.float32)
        scores, rows = self.index.search(q, k)  # type: ignore[attr-defined]
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
