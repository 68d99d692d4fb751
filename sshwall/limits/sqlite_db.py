"""The file under the ``sqlite`` backend: opening it, transactions, and the faults of the file.

One of the two modules that import ``sqlite3`` (with ``sqlite``, which holds the tables' logic).
Each opened database has one connection living on one worker thread (a single-thread executor),
so the event loop never blocks on disk and the connection is never shared between threads.
Every operation is one ``BEGIN IMMEDIATE`` transaction (``SqliteDatabase.transaction``): it takes
the database's write lock before reading, so concurrent processes are serialised. Waiting for
that lock is bounded by ``busy_timeout``. Any failure, of SQLite, of the disk or of this code,
becomes a ``StateError`` (the caller denies).

**No shared memory, no mmap.** A rollback journal (``journal_mode=PERSIST``), not WAL, and
``mmap_size=0``: WAL's ``-shm`` index is memory-mapped by every process, and a ``-shm`` (or, with
mmap, a database file) truncated or unwritable from outside raises SIGBUS at the next access,
which kills the process before anything can deny. With ``read``/``write`` it is an I/O error.
``synchronous=OFF``: committed state survives a crash of sshwall, not always an OS crash or a
power cut, so each open runs ``integrity_check`` and refuses a damaged file.

**The file replaced under running replicas.** Every transaction checks that the path still is
the file the connection opened (device and inode), before touching it and again holding its
write lock. When it is not, the old file's state is carried over into the file at the path
(created if missing; once per old file, by its ``file_id``) and the process switches to it;
until that succeeds every operation fails with a ``StateError`` naming the change. A watcher
re-checks every ``WATCH_S`` seconds. See "SQLite: the files under faults" in docs/limits.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import sqlite3
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from sshwall.errors import StateError

T = TypeVar("T")
log = logging.getLogger("sshwall.limits.sqlite")

SCHEMA_VERSION = 1
WATCH_S = 0.2
JOURNAL_MODE = "persist"
JOURNAL_LIMIT = 1 << 20  # bytes the idle journal may keep
_SCHEMA = """
CREATE TABLE IF NOT EXISTS rate_events (key TEXT NOT NULL, ts INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS rate_events_key_ts ON rate_events (key, ts);
CREATE TABLE IF NOT EXISTS rate_keys (
    key TEXT PRIMARY KEY, retention_ms INTEGER NOT NULL, last_ms INTEGER NOT NULL
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
"""
TASK_COLUMNS = "connection_id, identity, command, interval_ms, started_ms, expires_ms, host"
_Inode = tuple[int, int]


class SqliteDatabase:
    """One SQLite file, its connection and the worker thread that owns it."""

    def __init__(self, path: Path, timeout_s: float = 1.0, watch_s: float | None = WATCH_S) -> None:
        self.path = path
        self.timeout_s = timeout_s
        self.watch_s = watch_s
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sshwall-sqlite")
        self._conn: sqlite3.Connection | None = None
        self._inode: _Inode | None = None
        self._users = 0
        self._closed = False
        self._watcher: asyncio.Task[None] | None = None

    @property
    def where(self) -> str:
        """How errors name this backend."""
        return f"sqlite at {self.path}"

    async def open(self) -> None:
        """Open (creating if needed) the file and its schema; ``StateError`` if unusable."""
        await self.run(self._open)
        if self.watch_s:
            self._watcher = asyncio.get_running_loop().create_task(self._watch(self.watch_s))

    def _open(self) -> None:
        self._conn, self._inode = self._connect()

    def _connect(self) -> tuple[sqlite3.Connection, _Inode]:
        """A configured connection to the file at the path, its schema ready, and its inode."""
        before = _inode(self.path)
        conn = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout_s * 1000)}")
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
            with _transaction(conn):
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
                after = _inode(self.path)
                if after is None or (before is not None and before != after):
                    raise sqlite3.OperationalError("the file was replaced while it was being opened")
            return conn, after
        except BaseException:
            conn.close()
            raise

    async def run(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the worker thread; any failure becomes a ``StateError`` naming the file."""
        if self._closed:
            raise StateError(f"{self.where} is closed")
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn)
        except StateError:
            raise
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise StateError(f"{self.where} busy beyond {self.timeout_s:g} s: {exc}") from exc
            raise StateError(f"{self.where} failed: {exc}") from exc
        except (sqlite3.Error, OSError) as exc:
            raise StateError(f"{self.where} failed: {exc}") from exc
        except Exception as exc:  # fail closed: whatever broke, the caller denies
            raise StateError(f"{self.where} failed: {type(exc).__name__}: {exc}") from exc

    @property
    def conn(self) -> sqlite3.Connection:
        """The open connection (only to be used on the worker thread)."""
        if self._conn is None:
            raise sqlite3.ProgrammingError("the database is not open")
        return self._conn

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` on the file at the path (carried over to if it was replaced),
        ``COMMIT`` at the end, ``ROLLBACK`` on any exception. Worker thread only."""
        conn = self._begin()
        with _ending(conn):
            yield conn

    def _begin(self) -> sqlite3.Connection:
        for _ in range(3):
            conn = self.conn
            # Checked before touching the file too: once the path names another file, the journal
            # name (PATH-journal) is that file's, and starting a transaction here would roll a
            # journal of the new file back into this one (SQLite's hot-journal recovery).
            change = self._change()
            if change is None:
                conn.execute("BEGIN IMMEDIATE")
                change = self._change()  # again, holding the lock
                if change is None:
                    return conn
                conn.execute("ROLLBACK")  # nothing written: the journal is not touched
            self._carry_over(conn, change)
            conn.close()  # carried over: the old file is never used again
        raise StateError(f"{self.where}: the state file keeps being replaced; refusing until it stays put")

    def _change(self) -> str | None:
        """How the path differs from the open file (``None``: it is the same file)."""
        now = _inode(self.path)
        if now is None:
            return "was deleted (or renamed away)"
        if now != self._inode:
            return "was replaced by another file"
        return None

    def _carry_over(self, old: sqlite3.Connection, change: str) -> None:
        """Copy the old file's state into the file at the path and switch to it."""
        try:
            new, inode = self._connect()
        except (sqlite3.Error, OSError) as exc:
            raise StateError(
                f"{self.where}: the state file {change} while in use, and the file at the path cannot be "
                f"used ({exc}); refusing until it can"
            ) from exc
        try:
            # The new file's write lock first: while it is held no writer of the new file has a
            # journal at the path, so opening a transaction on the old file finds no "hot" journal.
            with _transaction(new), _transaction(old):
                (old_id,) = old.execute("SELECT value FROM meta WHERE name = 'file_id'").fetchone()
                done = new.execute("SELECT 1 FROM carried_over WHERE file_id = ?", (old_id,)).fetchone()
                events: list[tuple[str, int]] = []
                tasks: list[tuple[object, ...]] = []
                if done is None:
                    events = old.execute("SELECT key, ts FROM rate_events").fetchall()
                    new.executemany("INSERT INTO rate_events (key, ts) VALUES (?, ?)", events)
                    new.executemany(
                        "INSERT INTO rate_keys (key, retention_ms, last_ms) VALUES (?, ?, ?) ON CONFLICT (key) "
                        "DO UPDATE SET retention_ms = max(retention_ms, excluded.retention_ms), "
                        "last_ms = max(last_ms, excluded.last_ms)",
                        old.execute("SELECT key, retention_ms, last_ms FROM rate_keys").fetchall(),
                    )
                    tasks = old.execute(f"SELECT {TASK_COLUMNS} FROM tasks").fetchall()
                    new.executemany(f"INSERT OR IGNORE INTO tasks ({TASK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)", tasks)
                    new.execute("INSERT INTO carried_over VALUES (?, ?, ?)", (old_id, len(events), len(tasks)))
                if _inode(self.path) != inode:
                    raise sqlite3.OperationalError("the file was replaced again meanwhile")
        except BaseException as exc:
            new.close()
            if isinstance(exc, Exception):
                raise StateError(
                    f"{self.where}: the state file {change} while in use, and its state could not be carried "
                    f"over ({exc}); refusing until it can"
                ) from exc
            raise
        self._conn, self._inode = new, inode
        if done is None:
            log.warning(
                "%s: the state file %s while in use; carried %d rate events and %d background tasks over "
                "into the file now at the path (its inode %d)", self.where, change, len(events), len(tasks), inode[1],
            )
        else:
            log.warning("%s: the state file %s while in use; another process had carried its state over, "
                        "switched to the file now at the path", self.where, change)

    async def _watch(self, every_s: float) -> None:
        """Carry over soon after the file changes, even when no call comes."""
        reported = ""
        while True:
            await asyncio.sleep(every_s)
            try:
                await self.run(self._refresh)
                reported = ""
            except StateError as exc:
                if str(exc) != reported and "is closed" not in str(exc):
                    reported = str(exc)
                    log.error("%s", exc)

    def _refresh(self) -> None:
        if self._conn is not None and self._change() is not None:
            with self.transaction():
                pass

    def retain(self) -> None:
        """One more user (limiter or registry) shares this database."""
        self._users += 1

    async def release(self) -> None:
        """A user is done; the last one closes the connection and stops the thread."""
        self._users -= 1
        if self._users > 0 or self._closed:
            return
        self._closed = True
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        conn, self._conn = self._conn, None
        try:
            if conn is not None:
                await asyncio.get_running_loop().run_in_executor(self._executor, conn.close)
        except (sqlite3.Error, OSError) as exc:
            raise StateError(f"{self.where}: closing failed: {exc}") from exc
        finally:
            self._executor.shutdown(wait=False)


def _inode(path: Path) -> _Inode | None:
    """(device, inode) of the file at ``path``, ``None`` when there is none."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_dev, st.st_ino)


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, or ``ROLLBACK`` on any exception."""
    conn.execute("BEGIN IMMEDIATE")
    with _ending(conn):
        yield conn


@contextlib.contextmanager
def _ending(conn: sqlite3.Connection) -> Iterator[None]:
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
