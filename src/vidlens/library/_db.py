"""The SQLite side of a library: schema, numbered migrations, connections.

SQLite (WAL mode) is the single source of truth. A video is visible to queries only once the
transaction that inserts its row with ``status = 'done'`` commits; vectors and thumbnails are
written to files *before* that transaction, so a killed process leaves at most unreferenced files,
which the next writer removes.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from pathlib import Path

from ..errors import LibraryError
from ._lock import not_writable

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "connect", "migrate"]

logger = logging.getLogger(__name__)

# Each migration is applied once, in order, inside one transaction, and recorded.
MIGRATIONS: list[str] = [
    # 1: the first schema
    """
    CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    INSERT INTO meta(key, value) VALUES ('generation', '0');
    CREATE TABLE videos (
        id TEXT PRIMARY KEY,            -- content hash
        path TEXT NOT NULL,             -- absolute path where the file was last seen
        size_bytes INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        duration_s REAL NOT NULL,
        fps REAL NOT NULL,
        frame_count INTEGER NOT NULL,
        width INTEGER NOT NULL,
        height INTEGER NOT NULL,
        rotation INTEGER NOT NULL,
        start_s REAL NOT NULL,
        codec TEXT NOT NULL,
        has_audio INTEGER NOT NULL,
        row_start INTEGER NOT NULL,     -- vector rows [row_start, row_start + row_count)
        row_count INTEGER NOT NULL,
        shard TEXT NOT NULL,            -- file under vectors/ holding those rows
        thumbs TEXT NOT NULL,           -- file under thumbs/ holding the JPEG thumbnails
        decode_s REAL NOT NULL,
        encode_s REAL NOT NULL,
        indexed_at TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'done'
    );
    CREATE UNIQUE INDEX videos_path ON videos(path);
    CREATE TABLE frames (
        video_id TEXT NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
        idx INTEGER NOT NULL,           -- order of the frame within its video
        time_s REAL NOT NULL,           -- presentation time from the start of the video
        vector_row INTEGER NOT NULL,
        is_keyframe INTEGER NOT NULL,
        thumb_offset INTEGER NOT NULL,  -- byte range of its JPEG in the video's thumbs file
        thumb_size INTEGER NOT NULL,
        PRIMARY KEY (video_id, idx)
    ) WITHOUT ROWID;
    CREATE UNIQUE INDEX frames_row ON frames(vector_row);
    CREATE TABLE shots (
        video_id TEXT NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
        idx INTEGER NOT NULL,
        start_s REAL NOT NULL,
        end_s REAL NOT NULL,
        PRIMARY KEY (video_id, idx)
    ) WITHOUT ROWID;
    CREATE TABLE failures (
        path TEXT PRIMARY KEY,
        size_bytes INTEGER,
        mtime_ns INTEGER,
        reason TEXT NOT NULL,
        failed_at TEXT NOT NULL
    );
    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        command TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        status TEXT NOT NULL,           -- running | done | failed | interrupted
        summary TEXT                    -- JSON
    );
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    """Open ``library.db`` in WAL mode with foreign keys on.

    Readers never block the writer and see only committed videos. A reader of a library on
    read-only storage (a read-only mount or share, where SQLite cannot create the ``-shm`` file
    that WAL readers need) opens the database as immutable instead.
    """
    try:
        return _connect(path, readonly=readonly, immutable=False)
    except sqlite3.OperationalError as exc:
        why = _why_not_writable(path)
        if why is None:
            raise LibraryError(f"cannot open the library database {path}: {exc}") from exc
        if not readonly:
            raise not_writable(path.parent, why) from exc
    wal = path.with_name(path.name + "-wal")
    if wal.exists() and wal.stat().st_size > 0:
        logger.warning(
            "%s: opening the library read-only without its -shm file; the changes still in "
            "%s (the last writes before the library was copied or mounted read-only) are not "
            "seen: open it once where it is writable to fold them in",
            path.parent,
            wal.name,
        )
    try:
        return _connect(path, readonly=True, immutable=True)
    except sqlite3.Error as exc:
        raise LibraryError(f"cannot open the library database {path}: {exc}") from exc


def _why_not_writable(path: Path) -> str | None:
    """Why the library folder cannot be written to (read-only storage, permissions), or None."""
    try:
        if os.statvfs(path.parent).f_flag & os.ST_RDONLY:
            return "Read-only file system"
    except OSError:
        pass
    if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        return "Permission denied"
    return None


def _connect(path: Path, *, readonly: bool, immutable: bool) -> sqlite3.Connection:
    """One connection, checked by reading the schema (a file that is not SQLite fails here)."""
    try:
        if readonly:
            conn = sqlite3.connect(
                f"file:{path}?mode=ro{'&immutable=1' if immutable else ''}",
                uri=True,
                timeout=30.0,
                check_same_thread=False,
                isolation_level=None,
            )
        else:
            conn = sqlite3.connect(
                path, timeout=30.0, check_same_thread=False, isolation_level=None
            )
    except sqlite3.OperationalError:
        raise  # as it is: connect() decides whether read-only storage explains it
    except sqlite3.Error as exc:
        raise LibraryError(f"cannot open the library database {path}: {exc}") from exc
    conn.row_factory = sqlite3.Row
    try:
        if not readonly:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError as exc:
        conn.close()
        if "not a database" in str(exc):
            raise _not_ours(path, exc) from exc
        raise
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise _not_ours(path, exc) from exc
    return conn


def _not_ours(path: Path, exc: Exception) -> LibraryError:
    return LibraryError(
        f"{path} is not a vidlens library database ({exc}); point --library at a library "
        "folder or a new empty folder"
    )


def migrate(conn: sqlite3.Connection) -> int:
    """Apply the migrations this database lacks; returns the schema version."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        "version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
    )
    done = {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
    if done and max(done) > SCHEMA_VERSION:
        raise LibraryError(
            f"the library was written by a newer vidlens (schema {max(done)}, this one knows "
            f"{SCHEMA_VERSION}); upgrade vidlens to open it"
        )
    for version, sql in enumerate(MIGRATIONS, start=1):
        if version in done:
            continue
        logger.info("applying library schema migration %d", version)
        try:
            conn.execute("BEGIN IMMEDIATE")
            for statement in _split_sql(sql):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations(version, applied_at) VALUES (?, ?)",
                (version, now_iso()),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return SCHEMA_VERSION


def _split_sql(script: str) -> list[str]:
    """Split a migration into statements (our migrations hold no ';' inside literals)."""
    lines = [ln.split("--", 1)[0] for ln in script.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
