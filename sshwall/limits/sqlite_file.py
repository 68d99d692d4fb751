"""One SQLite state file, without the thread around it: opening it, transactions, carrying it over.

For ``sqlite_db.SqliteDatabase``, which calls these on its worker thread: ``connect_file`` opens
the file configured (pragmas, integrity check, schema), ``inode_of`` names the file a path points
to, ``transaction`` / ``ending`` bracket every operation, and ``copy_state`` carries the state of
a replaced file into the file now at the path.

**No shared memory, no mmap.** A rollback journal (``journal_mode=PERSIST``), not WAL, and
``mmap_size=0``: WAL's ``-shm`` index is memory-mapped by every process, and a ``-shm`` (or, with
mmap, a database file) truncated or unwritable from outside raises SIGBUS at the next access,
which kills the process before anything can deny. With ``read``/``write`` it is an I/O error.
``synchronous=OFF``: committed state survives a crash of sshwall, not always an OS crash or a
power cut, so each open runs ``integrity_check`` and refuses a damaged file.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sqlite3
from collections.abc import Iterator
from pathlib import Path

__all__ = [
    "JOURNAL_MODE", "SCHEMA_VERSION", "TASK_COLUMNS", "Inode", "connect_file", "copy_state", "ending", "inode_of",
    "transaction",
]

SCHEMA_VERSION = 1
JOURNAL_MODE = "persist"
JOURNAL_LIMIT = 1 << 20  # bytes the idle journal may keep
_SCHEMA = """
CREATE TABLE IF NOT EXISTS rate_events (key TEXT NOT NULL, ts INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS rate_events_key_ts ON rate_events (key, ts);
CREATE TABLE IF NOT EXISTS rate_keys (
    key TEXT PRIMARY KEY, retention_ms INTEGER NOT NULL, last_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rate_buckets (
    key TEXT PRIMARY KEY, total INTEGER NOT NULL, end_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tasks (
    connection_id TEXT PRIMARY KEY, identity TEXT NOT NULL, command TEXT NOT NULL,
    interval_ms INTEGER NOT NULL, started_ms INTEGER NOT NULL, expires_ms INTEGER, host TEXT
);
CREATE INDEX IF NOT EXISTS tasks_identity ON tasks (identity);
CREATE INDEX IF NOT EXISTS tasks_expires ON tasks (expires_ms);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS carried_over (
    file_id TEXT PRIMARY KEY, events INTEGER NOT NULL, tasks INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS approvals (id TEXT PRIMARY KEY, state TEXT, created REAL, body TEXT);
CREATE INDEX IF NOT EXISTS approvals_state ON approvals (state, created);
CREATE INDEX IF NOT EXISTS approvals_created ON approvals (created);
"""
TASK_COLUMNS = "connection_id, identity, command, interval_ms, started_ms, expires_ms, host"
Inode = tuple[int, int]
"""(device, inode): which file a path names."""


def connect_file(path: Path, timeout_s: float) -> tuple[sqlite3.Connection, Inode]:
    """A configured connection to the file at ``path`` (created if missing), its schema ready, and its
    inode; ``sqlite3.Error`` or ``OSError`` when the file cannot be used."""
    before = inode_of(path)
    conn = sqlite3.connect(path, timeout=timeout_s, isolation_level=None)
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(timeout_s * 1000)}")
        conn.execute("PRAGMA mmap_size = 0")
        was = conn.execute("PRAGMA journal_mode").fetchone()[0].lower()
        try:
            mode = conn.execute(f"PRAGMA journal_mode = {JOURNAL_MODE}").fetchone()[0].lower()
        except sqlite3.OperationalError as exc:
            if was != "wal":
                raise
            mode = f"{was} ({exc})"
        if mode != JOURNAL_MODE:
            raise sqlite3.OperationalError(
                f"cannot switch the journal from {mode} to {JOURNAL_MODE}: stop every process using "
                "the file once (an older sshwall left it in WAL mode)"
            )
        conn.execute(f"PRAGMA journal_size_limit = {JOURNAL_LIMIT}")
        conn.execute("PRAGMA synchronous = OFF")
        with transaction(conn):
            check = " ".join(conn.execute("PRAGMA integrity_check(1)").fetchone()[0].split())
            if check != "ok":
                raise sqlite3.DatabaseError(
                    f"the file is damaged ({check}): move it away to start with empty counters"
                )
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, SCHEMA_VERSION):
                raise sqlite3.DatabaseError(f"schema version {version}, this sshwall knows {SCHEMA_VERSION}")
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute("INSERT OR IGNORE INTO meta (name, value) VALUES ('file_id', ?)", (secrets.token_hex(8),))
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            after = inode_of(path)
            if after is None or (before is not None and before != after):
                raise sqlite3.OperationalError("the file was replaced while it was being opened")
        return conn, after
    except BaseException:
        conn.close()
        raise


def copy_state(old: sqlite3.Connection, new: sqlite3.Connection) -> tuple[int, int] | None:
    """Copies the rate events, rate keys, background tasks and approval requests of ``old`` into ``new``, once per
    old file (by its ``file_id``): ``(events, tasks)`` copied, ``None`` when ``new`` already holds
    them. Inside a transaction on each, taken by the caller (``new``'s first)."""
    (old_id,) = old.execute("SELECT value FROM meta WHERE name = 'file_id'").fetchone()
    if new.execute("SELECT 1 FROM carried_over WHERE file_id = ?", (old_id,)).fetchone() is not None:
        return None
    events: list[tuple[str, int]] = old.execute("SELECT key, ts FROM rate_events").fetchall()
    new.executemany("INSERT INTO rate_events (key, ts) VALUES (?, ?)", events)
    new.executemany(
        "INSERT INTO rate_keys (key, retention_ms, last_ms) VALUES (?, ?, ?) ON CONFLICT (key) "
        "DO UPDATE SET retention_ms = max(retention_ms, excluded.retention_ms), "
        "last_ms = max(last_ms, excluded.last_ms)",
        old.execute("SELECT key, retention_ms, last_ms FROM rate_keys").fetchall(),
    )
    new.executemany(  # calendar counters: the larger total of the two files (stricter)
        "INSERT INTO rate_buckets (key, total, end_ms) VALUES (?, ?, ?) ON CONFLICT (key) "
        "DO UPDATE SET total = max(total, excluded.total)",
        old.execute("SELECT key, total, end_ms FROM rate_buckets").fetchall(),
    )
    tasks: list[tuple[object, ...]] = old.execute(f"SELECT {TASK_COLUMNS} FROM tasks").fetchall()
    new.executemany(f"INSERT OR IGNORE INTO tasks ({TASK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)", tasks)
    new.executemany(  # the approval queue too (sshwall.limits.approvals_sqlite): a waiting call keeps its request
        "INSERT OR IGNORE INTO approvals (id, state, created, body) VALUES (?, ?, ?, ?)",
        old.execute("SELECT id, state, created, body FROM approvals").fetchall(),
    )
    new.execute("INSERT INTO carried_over VALUES (?, ?, ?)", (old_id, len(events), len(tasks)))
    return len(events), len(tasks)


def inode_of(path: Path) -> Inode | None:
    """(device, inode) of the file at ``path``, ``None`` when there is none."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_dev, st.st_ino)


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, or ``ROLLBACK`` on any exception."""
    conn.execute("BEGIN IMMEDIATE")
    with ending(conn):
        yield conn


@contextlib.contextmanager
def ending(conn: sqlite3.Connection) -> Iterator[None]:
    """End the open transaction: ``COMMIT``, or ``ROLLBACK`` on an exception (also a failed
    ``COMMIT``: a transaction left open would hold the write lock of every replica)."""
    try:
        yield
    except BaseException:
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        raise
    try:
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        raise
