"""Vector shards and the search-side matrix built from them.

Every committed video owns one append-only shard ``vectors/<row_start>.npy``: float16, ``(n, dim)``,
L2-normalised. Global rows are allocated from a counter in SQLite and are never reused, so the
consolidated cache under ``ann/`` (all rows ``[0, n)`` in one file) stays valid as videos are added;
removed videos leave dead rows that queries mask out.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import LibraryError
from ._fsutil import atomic_write, atomic_write_bytes

__all__ = [
    "ShardError",
    "ShardRef",
    "load_matrix",
    "read_shard",
    "shard_name",
    "shard_problem",
    "write_shard",
]

logger = logging.getLogger(__name__)

FLAT_CACHE = "flat.npy"
FLAT_META = "flat.json"
# Rebuild the consolidated cache once this many rows lie outside it.
CONSOLIDATE_AFTER_ROWS = 20_000


def shard_name(row_start: int) -> str:
    return f"{row_start:012d}.npy"


def write_shard(folder: Path, row_start: int, vectors: np.ndarray) -> str:
    """Write ``vectors`` (float, ``(n, dim)``) as a float16 shard; returns its file name."""
    name = shard_name(row_start)
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(vectors, dtype=np.float16), allow_pickle=False)
    atomic_write_bytes(folder / name, buf.getvalue())
    return name


class ShardError(LibraryError):
    """A video's vector shard is missing, unreadable or of the wrong shape."""


def read_shard(folder: Path, name: str, *, expected_rows: int, dim: int) -> np.ndarray:
    """Memory-map one shard, checking it holds ``(expected_rows, dim)`` float16.

    Raises :class:`ShardError` saying what is wrong with the file (callers name the video).
    """
    path = folder / name
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:  # numpy's own words can mislead ("pickled data")
        problem = shard_problem(folder, name, rows=expected_rows, dim=dim)
        raise ShardError(problem or f"its vector file {path} is unreadable ({exc})") from exc
    if arr.shape != (expected_rows, dim) or arr.dtype != np.float16:
        raise ShardError(
            f"its vector file {path} holds {arr.shape} {arr.dtype}, not "
            f"({expected_rows}, {dim}) float16"
        )
    return arr


def shard_problem(folder: Path, name: str, *, rows: int, dim: int) -> str | None:
    """What is wrong with a shard, from its size and header (not its data); None when it
    looks whole. A ``.npy`` file is a header padded to a multiple of 64 bytes, then the data.
    """
    path = folder / name
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return f"its vector file {path} is missing"
    except OSError as exc:
        return f"its vector file {path} is unreadable ({exc.strerror or exc})"
    header = size - rows * dim * 2
    if header < 64 or header % 64 or header > 65536:
        return f"its vector file {path} has {size} bytes, not {rows} x {dim} float16 vectors"
    try:  # the header too (a file of the right size zeroed by a crash has none)
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, _, dtype = read(f)
    except (OSError, ValueError) as exc:
        return f"its vector file {path} is damaged (not a readable .npy file: {exc})"
    if shape != (rows, dim) or dtype != np.float16:
        return f"its vector file {path} holds {shape} {dtype}, not ({rows}, {dim}) float16"
    return None


@dataclass(frozen=True)
class ShardRef:
    row_start: int
    row_count: int
    shard: str


def _shards_digest(refs: list[ShardRef]) -> str:
    h = hashlib.sha256()
    for r in refs:
        h.update(f"{r.row_start}:{r.row_count}:{r.shard};".encode())
    return h.hexdigest()


def load_matrix(
    root: Path, refs: list[ShardRef], n_rows: int, dim: int
) -> tuple[np.ndarray, dict[ShardRef, str]]:
    """All rows ``[0, n_rows)`` as one float32 ``(n_rows, dim)`` matrix (dead rows are zeros).

    Uses the consolidated cache in ``ann/`` when it is valid (same shard list for the rows it
    covers), reads only the shards past it, and rewrites the cache when many rows lie outside it.
    Shards that cannot be read are left out (their rows stay zero) and returned with what is
    wrong, so that one damaged file does not stop every search.
    """
    vectors_dir, ann_dir = root / "vectors", root / "ann"
    out = np.zeros((n_rows, dim), dtype=np.float32)
    refs = sorted(refs, key=lambda r: r.row_start)
    cached_rows = _read_cache(ann_dir, refs, out)
    loaded_outside = 0
    damaged: dict[ShardRef, str] = {}
    for ref in refs:
        if ref.row_start + ref.row_count <= cached_rows:
            continue
        try:
            arr = read_shard(vectors_dir, ref.shard, expected_rows=ref.row_count, dim=dim)
            out[ref.row_start : ref.row_start + ref.row_count] = arr
        except (ShardError, OSError, ValueError) as exc:  # a file cut short reads as OSError
            damaged[ref] = str(exc)
            out[ref.row_start : ref.row_start + ref.row_count] = 0.0
            continue
        loaded_outside += ref.row_count
    if loaded_outside >= CONSOLIDATE_AFTER_ROWS and not damaged:
        _write_cache(ann_dir, refs, out, n_rows)
    return out, damaged


def _read_cache(ann_dir: Path, refs: list[ShardRef], out: np.ndarray) -> int:
    meta_path = ann_dir / FLAT_META
    if not meta_path.exists():
        return 0
    try:
        meta = json.loads(meta_path.read_text())
        rows = int(meta["rows"])
        covered = [r for r in refs if r.row_start + r.row_count <= rows]
        if meta["shards_sha256"] != _shards_digest(covered) or rows > out.shape[0]:
            logger.info("vector cache is stale; ignoring it")
            return 0
        arr = np.load(ann_dir / FLAT_CACHE, mmap_mode="r", allow_pickle=False)
        if arr.shape != (rows, out.shape[1]):
            return 0
        for r in covered:  # copy live rows only: dead rows stay zero
            out[r.row_start : r.row_start + r.row_count] = arr[
                r.row_start : r.row_start + r.row_count
            ]
        return rows
    except (OSError, ValueError, KeyError, TypeError) as exc:
        logger.warning("vector cache in %s unreadable (%s); rebuilding from shards", ann_dir, exc)
        return 0


def _write_cache(ann_dir: Path, refs: list[ShardRef], matrix: np.ndarray, n_rows: int) -> None:
    """Write the consolidated cache (a cache only: failures are logged, not raised)."""
    try:
        ann_dir.mkdir(exist_ok=True)
        with atomic_write(ann_dir / FLAT_CACHE) as f:
            np.save(f, matrix[:n_rows].astype(np.float16), allow_pickle=False)
        meta = {"rows": n_rows, "shards_sha256": _shards_digest(refs)}
        atomic_write_bytes(ann_dir / FLAT_META, json.dumps(meta).encode())
    except OSError as exc:
        logger.warning("could not write the vector cache in %s: %s", ann_dir, exc)
