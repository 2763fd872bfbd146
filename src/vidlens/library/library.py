"""``Library``: one folder holding the index of a video collection.

Layout (DESIGN.md §3)::

    manifest.json   encoder id + fingerprint, dim, sampling recipe, schema and vidlens versions
    library.db      SQLite (WAL): videos, frames, shots, failures, jobs, schema_migrations
    vectors/        one float16 shard per video, L2-normalised frame embeddings
    ann/            consolidated vectors and ANN index: a rebuildable cache, never the truth
    thumbs/         one file of concatenated JPEG thumbnails per video
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import shlex
import sqlite3
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np

from ..config import SamplingConfig
from ..encoders import Encoder, EncoderConfig, create_encoder
from ..errors import DamagedVideoError, LibraryError, QueryError
from ._db import connect, migrate, now_iso
from ._fsutil import atomic_write, remove_stale_temporaries
from ._lock import WriteLock
from ._manifest import MANIFEST_NAME, Manifest
from ._vectors import ShardError, ShardRef, shard_problem, write_shard
from .records import FailureRecord, IndexReport, SearchResults, VideoRecord

if TYPE_CHECKING:
    from ..ingest import IngestConfig, ProgressCallback
    from ._search import SearchConfig, SearchState

__all__ = ["DEFAULT_LIBRARY", "Library", "normalize_rows"]

logger = logging.getLogger(__name__)

DEFAULT_LIBRARY = "vidlens-library"


def normalize_rows(x: np.ndarray) -> np.ndarray:
    """L2-normalise the rows of ``x`` (float32 out); zero rows stay zero."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def _check_not_orphaned(root: Path) -> None:
    """Raise when ``root`` holds a library database with videos but no manifest.

    Without the manifest nobody knows which encoder and recipe made the vectors; creating a new
    manifest over them would mix vectors of two encoders in one library.
    """
    db = root / "library.db"
    if not db.is_file():
        return
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            (n,) = conn.execute("SELECT count(*) FROM videos").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        n = 0  # no videos table yet: an interrupted creation
    if n:
        raise LibraryError(
            f"{root} holds a library database with {n} indexed video(s) but no {MANIFEST_NAME} "
            "(deleted?), which records the encoder and sampling recipe that made its vectors. "
            f"Restore {MANIFEST_NAME} from a backup, or index into a new --library folder"
        )


def _damaged_message(video_id: str, path: str, problem: str) -> str:
    return (
        f"video {video_id[:12]} ({path}): {problem}; run `vidlens index {shlex.quote(path)}` to "
        "index it again (or `vidlens remove` it)"
    )


class Library:
    """An indexed video collection on disk. Open with :meth:`open`; use as a context manager.

    Readers (search, info, the server) may run while one writer (index, remove) works: they see
    videos only once committed.
    """

    def __init__(
        self,
        root: Path,
        manifest: Manifest,
        conn: sqlite3.Connection,
        *,
        encoder: Encoder | None = None,
        encoder_config: EncoderConfig | None = None,
        readonly: bool = False,
    ) -> None:
        self.root = root
        self.manifest = manifest
        self._conn = conn
        self._encoder = encoder
        self._encoder_config = encoder_config or EncoderConfig()
        self.readonly = readonly
        self._state: SearchState | None = None
        self._lock: WriteLock | None = None
        self._head: Any = None  # the encoder's temporal head once looked up (False: none)

    # ----------------------------------------------------------------- opening
    @classmethod
    def open(
        cls,
        root: str | os.PathLike[str],
        *,
        encoder: str | Encoder | None = None,
        sampling: SamplingConfig | None = None,
        create: bool = False,
        readonly: bool = False,
        encoder_config: EncoderConfig | None = None,
    ) -> Library:
        """Open the library in ``root``, creating it when ``create`` is true and it is absent.

        Args:
            encoder: an encoder id or instance. For an existing library it must match the one that
                built it (``None``: use the library's own). For a new one, ``None`` picks the
                default encoder (see :func:`vidlens.encoders.default_encoder_id`).
            sampling: the frame recipe; same rule as ``encoder``.
            readonly: open for queries only (no lock, no writes).
        """
        root_path = Path(root).expanduser().resolve()
        exists = (root_path / MANIFEST_NAME).exists()
        if not exists:
            if not create:
                if root_path.exists() and not root_path.is_dir():
                    raise LibraryError(f"{root_path} is a file, not a library folder")
                _check_not_orphaned(root_path)
                raise LibraryError(
                    f"no vidlens library at {root_path}; create one with: "
                    f"vidlens index VIDEOS... --library {root_path}"
                )
            return cls._create(root_path, encoder, sampling, encoder_config)
        manifest = Manifest.load(root_path)
        enc_obj = None if isinstance(encoder, str) or encoder is None else encoder
        enc_id = encoder if isinstance(encoder, str) else (enc_obj.id if enc_obj else None)
        diffs = manifest.differences(
            encoder_id=enc_id,
            fingerprint=getattr(enc_obj, "fingerprint", None) if enc_obj else None,
            sampling=sampling,
        )
        if diffs:
            raise LibraryError(
                f"the library at {root_path} was built differently from what was asked: "
                + "; ".join(diffs)
                + ". Omit --encoder/--fps/--frames/--keyframes/--shots/--short-side to use the "
                "library's own settings, or use a new --library folder"
            )
        conn = connect(root_path / "library.db", readonly=readonly)
        try:
            if not readonly:
                migrate(conn)
        except BaseException:
            conn.close()
            raise
        lib = cls(
            root_path,
            manifest,
            conn,
            encoder=enc_obj,
            encoder_config=encoder_config,
            readonly=readonly,
        )
        return lib

    @classmethod
    def _create(
        cls,
        root: Path,
        encoder: str | Encoder | None,
        sampling: SamplingConfig | None,
        encoder_config: EncoderConfig | None,
    ) -> Library:
        from ..encoders import default_encoder_id

        if root.exists() and not root.is_dir():
            raise LibraryError(f"{root} is a file, not a library folder")
        if (root / MANIFEST_NAME).exists():  # another process created it since open() looked
            return cls.open(root, encoder=encoder, sampling=sampling, encoder_config=encoder_config)
        # a folder holding only what an interrupted creation leaves is ours to finish
        ours = {
            "library.db",
            "library.db-wal",
            "library.db-shm",
            "library.db-journal",
            "library.lock",
            "vectors",
            "ann",
            "thumbs",
            ".DS_Store",
        }
        if root.is_dir() and any(
            p.name not in ours and not p.name.startswith(".tmp-") for p in root.iterdir()
        ):
            raise LibraryError(
                f"{root} exists and is not empty, but has no {MANIFEST_NAME}: refusing to write a "
                "library into it; pick a new or empty folder for --library"
            )
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LibraryError(
                f"cannot create the library folder {root} ({exc.strerror or exc}); pick a "
                "--library folder you can write to"
            ) from exc
        # Creation is a write: two processes creating one library at once must not both write
        # the manifest (the last one would describe vectors the other one stores).
        with WriteLock(root):
            if (root / MANIFEST_NAME).exists():  # another process created it meanwhile
                created = False
            else:
                _check_not_orphaned(root)
                if encoder is None or isinstance(encoder, str):
                    enc = create_encoder(encoder or default_encoder_id(), encoder_config)
                else:
                    enc = encoder
                manifest = Manifest(
                    encoder_id=enc.id,
                    encoder_fingerprint=str(getattr(enc, "fingerprint", "") or ""),
                    dim=int(enc.dim),
                    sampling=sampling or SamplingConfig(),
                )
                for sub in ("vectors", "ann", "thumbs"):
                    (root / sub).mkdir(exist_ok=True)
                conn = connect(root / "library.db")
                try:
                    migrate(conn)
                    manifest.save(root)  # written last: a folder without it is not a library yet
                except BaseException:
                    conn.close()
                    raise
                created = True
        if not created:
            return cls.open(root, encoder=encoder, sampling=sampling, encoder_config=encoder_config)
        logger.info("created library %s (encoder %s, %s)", root, enc.id, manifest.sampling)
        return cls(root, manifest, conn, encoder=enc, encoder_config=encoder_config)

    def close(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None
        self._conn.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ----------------------------------------------------------------- encoder
    @property
    def encoder(self) -> Encoder:
        """The encoder that built the library (created on first use)."""
        if self._encoder is None:
            enc = create_encoder(self.manifest.encoder_id, self._encoder_config)
            fp = str(getattr(enc, "fingerprint", "") or "")
            if self.manifest.encoder_fingerprint and fp and fp != self.manifest.encoder_fingerprint:
                raise LibraryError(
                    f"the weights of {self.manifest.encoder_id} on this machine (fingerprint "
                    f"{fp[:12]}) differ from those that built the library "
                    f"({self.manifest.encoder_fingerprint[:12]}); queries would be meaningless. "
                    "Use the original checkpoint or re-index into a new library"
                )
            if int(enc.dim) != self.manifest.dim:
                raise LibraryError(
                    f"encoder {enc.id} gives {enc.dim}-d vectors, the library holds "
                    f"{self.manifest.dim}-d ones"
                )
            self._encoder = enc
        return self._encoder

    @property
    def sampling(self) -> SamplingConfig:
        return self.manifest.sampling

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Texts -> ``(N, dim)`` float32, L2-normalised."""
        return normalize_rows(self.encoder.encode_texts(list(texts)))

    def encode_images(self, frames: np.ndarray) -> np.ndarray:
        """uint8 ``(N, H, W, 3)`` -> ``(N, dim)`` float32, L2-normalised."""
        return normalize_rows(self.encoder.encode_images(frames))

    def temporal_head(self) -> Any | None:
        """The temporal head that comes with the library's encoder (vidlens-tiny, a ``vidlens
        train`` export), loaded once; None for encoders without one."""
        if self._head is None:
            from ..encoders.tiny import temporal_head_for

            self._head = temporal_head_for(self.manifest.encoder_id) or False
        return self._head or None

    # ----------------------------------------------------------------- reading
    @property
    def generation(self) -> int:
        """Increases at every committed change; readers use it to refresh their caches."""
        row = self._conn.execute("SELECT value FROM meta WHERE key='generation'").fetchone()
        return int(row[0]) if row else 0

    def videos(self) -> list[VideoRecord]:
        rows = self._conn.execute(
            "SELECT * FROM videos WHERE status='done' ORDER BY path, id"
        ).fetchall()
        return [VideoRecord.from_row(r) for r in rows]

    def video(self, ref: str) -> VideoRecord:
        """A video by id, id prefix (>= 6 characters) or path."""
        row = self._conn.execute(
            "SELECT * FROM videos WHERE status='done' AND id=?", (ref,)
        ).fetchone()
        if row is None:
            with contextlib.suppress(OSError):
                p = str(Path(ref).expanduser().resolve())
                row = self._conn.execute(
                    "SELECT * FROM videos WHERE status='done' AND path=?", (p,)
                ).fetchone()
        if row is None and len(ref) >= 6 and all(c in "0123456789abcdef" for c in ref):
            rows = self._conn.execute(
                "SELECT * FROM videos WHERE status='done' AND id LIKE ?", (ref + "%",)
            ).fetchall()
            if len(rows) > 1:
                raise QueryError(f"video id prefix {ref!r} is ambiguous; give more characters")
            row = rows[0] if rows else None
        if row is None:
            raise QueryError(
                f"no indexed video {ref!r} in {self.root}; give a path or id that "
                "`vidlens info --videos` lists"
            )
        return VideoRecord.from_row(row)

    def frame_times(self, video_id: str) -> np.ndarray:
        """Presentation times (seconds) of the video's sampled frames, ``(T,)`` float64."""
        rows = self._conn.execute(
            "SELECT time_s FROM frames WHERE video_id=? ORDER BY idx", (video_id,)
        ).fetchall()
        return np.array([r[0] for r in rows], dtype=np.float64)

    def shots(self, video_id: str) -> list[tuple[float, float]]:
        rows = self._conn.execute(
            "SELECT start_s, end_s FROM shots WHERE video_id=? ORDER BY idx", (video_id,)
        ).fetchall()
        return [(r[0], r[1]) for r in rows]

    def frame_vectors(self, video_id: str) -> np.ndarray:
        """The video's frame embeddings, ``(T, dim)`` float32, L2-normalised."""
        from ._vectors import read_shard

        v = self._conn.execute(
            "SELECT path, shard, row_count FROM videos WHERE id=? AND status='done'", (video_id,)
        ).fetchone()
        if v is None:
            raise QueryError(f"no indexed video with id {video_id!r}")
        try:
            arr = read_shard(
                self.root / "vectors",
                v["shard"],
                expected_rows=v["row_count"],
                dim=self.manifest.dim,
            )
            return np.asarray(arr, dtype=np.float32)
        except (ShardError, OSError, ValueError) as exc:
            raise DamagedVideoError(_damaged_message(video_id, v["path"], str(exc))) from exc

    def damage(self, video_id: str) -> str | None:
        """What is wrong with a committed video's files (vectors, thumbnails), or None.

        A cheap check (~80 us: the files' sizes and the vector file's header against the
        database), made for every unchanged video that ``index`` meets, so that running
        ``vidlens index`` again repairs a damaged video. Vectors overwritten behind an intact
        header are not seen here; searches still read them as they are.
        """
        row = self._conn.execute(
            "SELECT shard, row_count, thumbs, (SELECT thumb_offset + thumb_size FROM frames "
            "WHERE video_id = videos.id ORDER BY idx DESC LIMIT 1) AS end_ "  # written in order
            "FROM videos WHERE id=?",
            (video_id,),
        ).fetchone()
        if row is None:
            return None
        problem = shard_problem(
            self.root / "vectors", row["shard"], rows=row["row_count"], dim=self.manifest.dim
        )
        if problem is None and row["end_"]:
            thumbs = self.root / "thumbs" / row["thumbs"]
            try:
                if thumbs.stat().st_size < row["end_"]:
                    problem = f"its thumbnail file {thumbs} is cut short"
            except OSError:
                problem = f"its thumbnail file {thumbs} is missing"
        return problem

    def damaged_videos(self) -> list[tuple[VideoRecord, str]]:
        """Committed videos whose files are missing or damaged (see :meth:`damage`)."""
        out = []
        for rec in self.videos():
            problem = self.damage(rec.id)
            if problem is not None:
                out.append((rec, problem))
        return out

    def thumbnail(self, video_id: str, frame_idx: int) -> bytes:
        """JPEG bytes of one sampled frame's thumbnail."""
        row = self._conn.execute(
            "SELECT v.thumbs, f.thumb_offset, f.thumb_size FROM frames f JOIN videos v "
            "ON v.id = f.video_id WHERE f.video_id=? AND f.idx=? AND v.status='done'",
            (video_id, int(frame_idx)),
        ).fetchone()
        if row is None:
            raise QueryError(f"no frame {frame_idx} in video {video_id!r}")
        with open(self.root / "thumbs" / row["thumbs"], "rb") as f:
            f.seek(row["thumb_offset"])
            return f.read(row["thumb_size"])

    def failures(self) -> list[FailureRecord]:
        rows = self._conn.execute("SELECT * FROM failures ORDER BY path").fetchall()
        return [FailureRecord(r["path"], r["reason"], r["failed_at"]) for r in rows]

    def shard_refs(self) -> list[ShardRef]:
        rows = self._conn.execute(
            "SELECT row_start, row_count, shard FROM videos WHERE status='done'"
        ).fetchall()
        return [ShardRef(r[0], r[1], r[2]) for r in rows]

    def next_row(self) -> int:
        row = self._conn.execute("SELECT value FROM meta WHERE key='next_row'").fetchone()
        return int(row[0]) if row else 0

    def info(self) -> dict[str, Any]:
        """Counts, encoder, recipe, disk size and failures (``vidlens info --json``)."""
        c = self._conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(row_count), 0), COALESCE(SUM(duration_s), 0), "
            "COALESCE(SUM(size_bytes), 0) FROM videos WHERE status='done'"
        ).fetchone()
        disk = 0
        for dirpath, _dirs, files in os.walk(self.root):
            for name in files:
                with contextlib.suppress(OSError):
                    disk += os.path.getsize(os.path.join(dirpath, name))
        return {
            "library": str(self.root),
            "videos": int(c[0]),
            "frames": int(c[1]),
            "seconds": round(float(c[2]), 3),
            "media_bytes": int(c[3]),
            "disk_bytes": disk,
            "encoder": {
                "id": self.manifest.encoder_id,
                "fingerprint": self.manifest.encoder_fingerprint,
                "dim": self.manifest.dim,
            },
            "sampling": self.manifest.sampling.to_dict(),
            "schema_version": self.manifest.schema_version,
            "vidlens_version": self.manifest.vidlens_version,
            "created_at": self.manifest.created_at,
            "generation": self.generation,
            "failed": [f.to_dict() for f in self.failures()],
            "damaged": [
                {"video_id": rec.id, "path": rec.path, "reason": problem}
                for rec, problem in self.damaged_videos()
            ],
        }

    # ----------------------------------------------------------------- queries
    def search(
        self,
        text: str | None = None,
        *,
        image: str | os.PathLike[str] | np.ndarray | None = None,
        negative: str | None = None,
        top_k: int = 10,
        config: SearchConfig | None = None,
    ) -> SearchResults:
        """Rank videos for a text (or example image) and return each with its best moments.

        Args:
            text: what to look for, in plain language.
            image: a query image (path or uint8 ``(H, W, 3)``), alone or with ``text``.
            negative: a concept to push results away from (``--not``).
            top_k: number of videos returned.
        """
        from ._search import SearchConfig, search

        cfg = config or SearchConfig()
        query, label = self.query_vector(
            text, image=image, negative=negative, negative_weight=cfg.negative_weight
        )
        return search(self, query, label, top_k=top_k, config=cfg)

    def moments(
        self, video: str, text: str, *, config: SearchConfig | None = None, qid: Any = None
    ) -> dict[str, Any]:
        """Moments of one video in the QVHighlights prediction fields."""
        from ._search import SearchConfig, video_moments

        if not text or not text.strip():
            raise QueryError("empty query text; say what to look for")
        rec = self.video(video)
        query = self.encode_texts([text])[0]
        out = video_moments(self, rec, query, config or SearchConfig())
        result: dict[str, Any] = {}
        if qid is not None:
            result["qid"] = qid
        result.update(
            {
                "query": text,
                "vid": rec.id,
                "path": rec.path,
                "duration": rec.duration_s,
                "pred_relevant_windows": [[s, e, sc] for s, e, sc in out.moments],
                "pred_saliency_scores": out.saliency,
            }
        )
        return result

    def _stored_frame(self, image: str | os.PathLike[str]) -> np.ndarray | None:
        """``ID@SECONDS``: the stored vector of the indexed video's frame sampled nearest that
        time (no file needed); None when ``image`` is a file or a video file's ``PATH@SECONDS``.
        """
        parsed = _at_seconds(os.fspath(image))
        if parsed is None or os.path.isfile(parsed[0]):
            return None
        ref, at_s = parsed
        try:
            rec = self.video(ref)
        except QueryError:
            raise QueryError(
                f"query {image}: {ref!r} is neither a video file nor a video of this library; "
                "give VIDEO_FILE@SECONDS or an id that `vidlens info --videos` lists"
            ) from None
        times = self.frame_times(rec.id)
        if not (math.isfinite(at_s) and 0 <= at_s <= max(rec.duration_s, float(times[-1]))):
            raise QueryError(
                f"{image}: {Path(rec.path).name} is {rec.duration_s:.2f} s long; give a time in "
                f"0..{rec.duration_s:.2f}"
            )
        vector: np.ndarray = self.frame_vectors(rec.id)[int(np.abs(times - at_s).argmin())]
        return vector

    def query_vector(
        self,
        text: str | None = None,
        *,
        image: str | os.PathLike[str] | np.ndarray | None = None,
        negative: str | None = None,
        negative_weight: float | None = None,
    ) -> tuple[np.ndarray, str]:
        """The unit query vector :meth:`search` ranks by, and its label (``query`` in results).

        ``text`` and ``image`` (as in :meth:`search`) are summed; ``negative`` is subtracted with
        ``negative_weight`` (default: :class:`SearchConfig`'s). Similarity curves drawn with
        this vector are the ones the search cut its moments from.
        """
        if negative_weight is None:
            from ._search import SearchConfig

            negative_weight = SearchConfig().negative_weight
        parts: list[np.ndarray] = []
        label = ""
        if text is not None:
            if not text.strip():
                raise QueryError("empty query text; say what to look for (or pass --image)")
            if len(text) > 10_000:
                raise QueryError(f"query text is {len(text)} characters; the limit is 10000")
            parts.append(self.encode_texts([text])[0])
            label = text
        if image is not None:
            stored = None if isinstance(image, np.ndarray) else self._stored_frame(image)
            if stored is not None:
                parts.append(stored)
            else:
                arr = _load_query_image(image)
                parts.append(self.encode_images(arr[None])[0])
            shown = f"image:{image if not isinstance(image, np.ndarray) else 'array'}"
            label = f"{label} + {shown}" if label else shown
        if not parts:
            raise QueryError("nothing to search for: give a text, an image, or both")
        q = normalize_rows(np.sum(parts, axis=0))[0]
        if negative:
            neg = self.encode_texts([negative])[0]
            q = normalize_rows(q - negative_weight * neg)[0]
            label = f"{label} --not {negative}"
        return q, label

    def search_state(self) -> SearchState:
        """Vectors and per-video arrays for queries, reloaded when the library changed."""
        from ._search import SearchState

        gen = self.generation
        if self._state is None or self._state.generation != gen:
            for attempt in range(3):
                try:
                    self._state = SearchState.load(self, gen)
                    break
                except LibraryError:
                    # a writer may have replaced a shard between our reads: retry on fresh state
                    if attempt == 2:
                        raise
                    time.sleep(0.05)
                    gen = self.generation
        assert self._state is not None  # for mypy: set in the loop or raised
        return self._state

    # ----------------------------------------------------------------- writing
    def _require_writer(self) -> None:
        if self.readonly:
            raise LibraryError(f"the library {self.root} was opened read-only")
        if self._lock is None:
            lock = WriteLock(self.root)
            lock.acquire()
            self._lock = lock
            self._collect_garbage()

    def _collect_garbage(self) -> None:
        """Delete files no committed video references (left by killed or replaced writes)."""
        refs = self._conn.execute("SELECT shard, thumbs FROM videos").fetchall()
        live_shards = {r[0] for r in refs}
        live_thumbs = {r[1] for r in refs}
        removed = 0
        for folder, live in (("vectors", live_shards), ("thumbs", live_thumbs)):
            d = self.root / folder
            d.mkdir(exist_ok=True)
            removed += remove_stale_temporaries(d)
            for p in d.iterdir():
                if p.is_file() and p.name not in live:
                    with contextlib.suppress(OSError):
                        p.unlink()
                        removed += 1
        removed += remove_stale_temporaries(self.root / "ann")
        removed += remove_stale_temporaries(self.root)
        if removed:
            logger.info("removed %d unreferenced file(s) from %s", removed, self.root)

    def known_file(self, path: str) -> sqlite3.Row | None:
        return self._conn.execute(
            "SELECT id, size_bytes, mtime_ns FROM videos WHERE path=? AND status='done'", (path,)
        ).fetchone()

    def video_by_id(self, video_id: str) -> sqlite3.Row | None:
        return self._conn.execute(
            "SELECT id, path FROM videos WHERE id=? AND status='done'", (video_id,)
        ).fetchone()

    def commit_video(
        self,
        *,
        video_id: str,
        path: str,
        size_bytes: int,
        mtime_ns: int,
        info: dict[str, Any],
        times_s: Sequence[float],
        keyframes: Sequence[bool],
        vectors: np.ndarray,
        thumbs: Sequence[bytes],
        shots: Sequence[tuple[float, float]],
        decode_s: float,
        encode_s: float,
    ) -> None:
        """Make one video visible: files first, then one transaction that records it.

        A previous video at the same path (a changed file) is replaced in the same transaction.
        """
        self._require_writer()
        n = len(times_s)
        if not (n == len(keyframes) == len(thumbs) == vectors.shape[0]) or n == 0:
            raise LibraryError(f"internal: inconsistent frame data for {path} ({n} frames)")
        row_start = self.next_row()
        shard = write_shard(self.root / "vectors", row_start, normalize_rows(vectors))
        thumbs_name = f"{video_id}-{row_start}.jpgs"
        offsets = []
        with atomic_write(self.root / "thumbs" / thumbs_name) as f:
            pos = 0
            for t in thumbs:
                f.write(t)
                offsets.append((pos, len(t)))
                pos += len(t)
        old = self._conn.execute(
            "SELECT shard, thumbs FROM videos WHERE path=? OR id=?", (path, video_id)
        ).fetchall()
        c = self._conn
        c.execute("BEGIN IMMEDIATE")
        try:
            c.execute("DELETE FROM videos WHERE path=? OR id=?", (path, video_id))
            c.execute(
                "INSERT INTO videos(id, path, size_bytes, mtime_ns, duration_s, fps, frame_count, "
                "width, height, rotation, start_s, codec, has_audio, row_start, row_count, shard, "
                "thumbs, decode_s, encode_s, indexed_at, status) VALUES "
                "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?, 'done')",
                (
                    video_id,
                    path,
                    size_bytes,
                    mtime_ns,
                    float(info["duration_s"]),
                    float(info["fps"]),
                    int(info["frame_count"]),
                    int(info["width"]),
                    int(info["height"]),
                    int(info["rotation"]),
                    float(info["start_s"]),
                    str(info["codec"]),
                    int(bool(info["has_audio"])),
                    row_start,
                    n,
                    shard,
                    thumbs_name,
                    decode_s,
                    encode_s,
                    now_iso(),
                ),
            )
            c.executemany(
                "INSERT INTO frames(video_id, idx, time_s, vector_row, is_keyframe, thumb_offset, "
                "thumb_size) VALUES (?,?,?,?,?,?,?)",
                [
                    (video_id, i, float(t), row_start + i, int(bool(k)), o, s)
                    for i, (t, k, (o, s)) in enumerate(
                        zip(times_s, keyframes, offsets, strict=True)
                    )
                ],
            )
            c.executemany(
                "INSERT INTO shots(video_id, idx, start_s, end_s) VALUES (?,?,?,?)",
                [(video_id, i, float(s), float(e)) for i, (s, e) in enumerate(shots)],
            )
            c.execute("DELETE FROM failures WHERE path=?", (path,))
            self._bump(c, next_row=row_start + n)
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise
        self._unlink_unreferenced(old)

    def _bump(self, c: sqlite3.Connection, *, next_row: int | None = None) -> None:
        c.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key='generation'")
        if next_row is not None:
            c.execute(
                "INSERT INTO meta(key, value) VALUES ('next_row', ?) "
                "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                (str(next_row),),
            )

    def _unlink_unreferenced(self, old: Iterable[sqlite3.Row]) -> None:
        for r in old:
            for folder, name in (("vectors", r[0]), ("thumbs", r[1])):
                still = self._conn.execute(
                    f"SELECT 1 FROM videos WHERE {'shard' if folder == 'vectors' else 'thumbs'}=?",
                    (name,),
                ).fetchone()
                if still is None:
                    with contextlib.suppress(OSError):
                        (self.root / folder / name).unlink()

    def update_path(self, video_id: str, path: str, size_bytes: int, mtime_ns: int) -> None:
        """Record that a known video now lives at ``path`` (a moved file)."""
        self._require_writer()
        c = self._conn
        c.execute("BEGIN IMMEDIATE")
        try:
            c.execute("DELETE FROM videos WHERE path=? AND id<>?", (path, video_id))
            c.execute(
                "UPDATE videos SET path=?, size_bytes=?, mtime_ns=? WHERE id=?",
                (path, size_bytes, mtime_ns, video_id),
            )
            c.execute("DELETE FROM failures WHERE path=?", (path,))
            self._bump(c)
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise

    def record_failure(
        self, path: str, reason: str, size_bytes: int | None, mtime_ns: int | None
    ) -> None:
        self._require_writer()
        self._conn.execute(
            "INSERT INTO failures(path, size_bytes, mtime_ns, reason, failed_at) "
            "VALUES (?,?,?,?,?) ON CONFLICT(path) DO UPDATE SET size_bytes=excluded.size_bytes, "
            "mtime_ns=excluded.mtime_ns, reason=excluded.reason, failed_at=excluded.failed_at",
            (path, size_bytes, mtime_ns, reason, now_iso()),
        )

    def forget_failures(self, paths: Iterable[str]) -> None:
        """Drop the recorded failures of ``paths`` (files that can be indexed now)."""
        paths = list(paths)
        if paths:
            self._require_writer()
            self._conn.executemany("DELETE FROM failures WHERE path=?", [(p,) for p in paths])

    def remove(self, refs: Iterable[str] = (), *, missing: bool = False) -> list[VideoRecord]:
        """Forget videos (by path, id or id prefix), and with ``missing`` those whose file is gone.

        Returns the removed records. Vectors of removed videos become dead rows.
        """
        self._require_writer()
        targets: dict[str, VideoRecord] = {}
        for ref in refs:
            rec = self.video(ref)
            targets[rec.id] = rec
        if missing:
            for rec in self.videos():
                if not os.path.exists(rec.path):
                    targets[rec.id] = rec
        if not targets:
            if missing:  # forget failures of deleted files too
                self._forget_missing_failures()
            return []
        old = self._conn.execute(
            f"SELECT shard, thumbs FROM videos WHERE id IN ({','.join('?' * len(targets))})",
            list(targets),
        ).fetchall()
        c = self._conn
        c.execute("BEGIN IMMEDIATE")
        try:
            c.executemany("DELETE FROM videos WHERE id=?", [(i,) for i in targets])
            self._bump(c)
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise
        self._unlink_unreferenced(old)
        if missing:
            self._forget_missing_failures()
        return sorted(targets.values(), key=lambda r: r.path)

    def _forget_missing_failures(self) -> None:
        for f in self.failures():
            if not os.path.exists(f.path):
                self._conn.execute("DELETE FROM failures WHERE path=?", (f.path,))

    def start_job(self, command: str) -> int:
        self._require_writer()
        cur = self._conn.execute(
            "INSERT INTO jobs(command, started_at, status) VALUES (?, ?, 'running')",
            (command, now_iso()),
        )
        return int(cur.lastrowid or 0)

    def finish_job(self, job_id: int, status: str, summary: dict[str, Any]) -> None:
        self._conn.execute(
            "UPDATE jobs SET finished_at=?, status=?, summary=? WHERE id=?",
            (now_iso(), status, json.dumps(summary), job_id),
        )

    def index(
        self,
        paths: Sequence[str | os.PathLike[str]],
        *,
        config: IngestConfig | None = None,
        progress: ProgressCallback | None = None,
    ) -> IndexReport:
        """Add new files, skip unchanged ones, re-index changed ones. See :mod:`vidlens.ingest`."""
        from ..ingest import index_paths

        return index_paths(self, paths, config=config, progress=progress)


def _at_seconds(image: str) -> tuple[str, float] | None:
    """``REF@SECONDS`` split into the reference and the time; None for anything else (a file
    whose name holds an ``@``, a time that is not a number)."""
    ref, sep, at = image.rpartition("@")
    if not sep or os.path.exists(image):
        return None
    try:
        return ref, float(at)
    except ValueError:
        return None


def _video_moment(image: str) -> tuple[str, float] | None:
    """``VIDEO@SECONDS`` (a frame of a video file as the query): the file and the time."""
    parsed = _at_seconds(image)
    if parsed is None or not os.path.isfile(parsed[0]) or not math.isfinite(parsed[1]):
        return None
    return parsed


def _video_frame(path: str, at_s: float) -> np.ndarray:
    """The frame of ``path`` shown at ``at_s`` seconds, upright, as indexing would sample it."""
    from ..errors import MediaError
    from ..media import FrameSampler, probe_video

    try:
        info = probe_video(path)
        if not 0 <= at_s <= info.duration_s + 1e-6:
            raise QueryError(
                f"{path}@{at_s:g}: the video is {info.duration_s:.2f} s long; give a time in "
                f"0..{info.duration_s:.2f}"
            )
        # the end of the video shows its last frame, which starts one frame interval earlier
        at_s = max(0.0, min(at_s, info.duration_s - 1.0 / info.fps))
        # fps sampling has a target at 1/fps: the frame a library sampled there would hold
        fps = 1.0 / at_s if at_s >= 1 / 120 else 1.0
        span = (max(0.0, at_s - 0.5 / info.fps), math.inf) if at_s >= 1 / 120 else None
        for frame in FrameSampler(path, SamplingConfig(mode="fps", fps=fps), info=info, span=span):
            return frame.rgb
    except MediaError as exc:
        raise QueryError(f"cannot read a query frame from {path}: {exc}") from exc
    raise QueryError(f"{path} has no frame at {at_s:g} s")


def _load_query_image(image: str | os.PathLike[str] | np.ndarray) -> np.ndarray:
    """A query picture: an array, an image file, or ``VIDEO@SECONDS`` (a frame of a video)."""
    if isinstance(image, np.ndarray):
        arr = image
    elif (moment := _video_moment(os.fspath(image))) is not None:
        arr = _video_frame(*moment)
    else:
        from PIL import Image, UnidentifiedImageError

        from ..ingest import VIDEO_EXTENSIONS

        if str(image).lower().endswith(VIDEO_EXTENSIONS) and os.path.isfile(image):
            raise QueryError(
                f"{image} is a video; to search by one of its frames, add the time: "
                f"{image}@SECONDS (e.g. {image}@12.5)"
            )
        try:
            with Image.open(image) as im:
                arr = np.asarray(im.convert("RGB"))
        except FileNotFoundError:
            raise QueryError(f"query image {image} does not exist") from None
        except (UnidentifiedImageError, OSError) as exc:
            raise QueryError(f"cannot read query image {image}: {exc}") from exc
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise QueryError(f"query image must be uint8 (H, W, 3), got {arr.dtype} {arr.shape}")
    return arr
