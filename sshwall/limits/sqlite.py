"""The ``sqlite`` backend: one database file, exact across the processes of one machine.

The only module that imports ``sqlite3``. Each opened database has one connection living on
one worker thread (a single-thread executor), so the event loop never blocks on disk and the
connection is never shared between threads. Every operation is one ``BEGIN IMMEDIATE``
transaction: it takes the database's write lock before reading, so concurrent processes are
serialised and a check-then-record can never interleave with another. Waiting for that lock
is bounded by ``busy_timeout``; beyond it the operation fails with ``StateError``.

WAL mode lets readers run beside the writer; ``synchronous=NORMAL`` keeps every committed
transaction across a crash of sshwall (not necessarily across a power cut).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from sshwall.errors import StateError
from sshwall.limits.model import (
    BackgroundTask,
    LimitRequest,
    LimitResult,
    TaskCaps,
    TaskResult,
    distinct_keys,
    worse,
)

T = TypeVar("T")
_SCHEMA_VERSION = 1
_SWEEP_EVERY = 1024
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
"""
_TASK_COLUMNS = "connection_id, identity, command, interval_ms, started_ms, expires_ms, host"
_ORDER = "ORDER BY started_ms, connection_id"


class SqliteDatabase:
    """One SQLite file, its connection and the worker thread that owns it."""

    def __init__(self, path: Path, timeout_s: float = 1.0) -> None:
        self.path = path
        self.timeout_s = timeout_s
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sshwall-sqlite")
        self._conn: sqlite3.Connection | None = None
        self._users = 0
        self._closed = False

    @property
    def where(self) -> str:
        """How errors name this backend."""
        return f"sqlite at {self.path}"

    async def open(self) -> None:
        """Open (creating if needed) the file and its schema; ``StateError`` if unusable."""
        await self.run(self._open)

    def _open(self) -> None:
        conn = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None)
        self._conn = conn
        conn.execute(f"PRAGMA busy_timeout = {int(self.timeout_s * 1000)}")
        if conn.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower() != "wal":
            raise sqlite3.OperationalError("cannot switch the database to WAL mode")
        conn.execute("PRAGMA synchronous = NORMAL")
        with _transaction(conn):
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, _SCHEMA_VERSION):
                raise sqlite3.DatabaseError(f"schema version {version}, this sshwall knows {_SCHEMA_VERSION}")
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")

    async def run(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the worker thread, translating SQLite errors into ``StateError``."""
        if self._closed:
            raise StateError(f"{self.where} is closed")
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn)
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise StateError(f"{self.where} busy beyond {self.timeout_s:g} s: {exc}") from exc
            raise StateError(f"{self.where} failed: {exc}") from exc
        except (sqlite3.Error, OSError) as exc:
            raise StateError(f"{self.where} failed: {exc}") from exc

    @property
    def conn(self) -> sqlite3.Connection:
        """The open connection (only to be used on the worker thread)."""
        if self._conn is None:
            raise sqlite3.ProgrammingError("the database is not open")
        return self._conn

    def retain(self) -> None:
        """One more user (limiter or registry) shares this database."""
        self._users += 1

    async def release(self) -> None:
        """A user is done; the last one closes the connection and stops the thread."""
        self._users -= 1
        if self._users > 0 or self._closed:
            return
        self._closed = True
        conn, self._conn = self._conn, None
        if conn is not None:
            await asyncio.get_running_loop().run_in_executor(self._executor, conn.close)
        self._executor.shutdown(wait=False)


class _transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, or ``ROLLBACK`` on any exception."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, kind: object, exc: object, tb: object) -> None:
        self.conn.execute("COMMIT" if kind is None else "ROLLBACK")


class _Deny(Exception):
    """Raised inside a transaction to roll it back and deny."""

    def __init__(self, result: LimitResult) -> None:
        self.result = result


class SqliteLimiter:
    """A ``RateLimiter`` over the ``rate_events`` table (sliding window log)."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db
        db.retain()
        self._closed = False
        self._since_sweep = 0  # touched only on the worker thread

    async def acquire(self, requests: Sequence[LimitRequest], now_ms: int) -> LimitResult:
        """See ``RateLimiter.acquire``."""
        return await self._db.run(lambda: self._decide(list(requests), now_ms, record=True))

    async def peek(self, requests: Sequence[LimitRequest], now_ms: int) -> LimitResult:
        """See ``RateLimiter.peek``."""
        return await self._db.run(lambda: self._decide(list(requests), now_ms, record=False))

    def _decide(self, requests: list[LimitRequest], now_ms: int, *, record: bool) -> LimitResult:
        conn = self._db.conn
        keys = distinct_keys(requests)
        try:
            with _transaction(conn):
                retention: dict[str, int] = {}
                for key, window in keys.items():
                    row = conn.execute("SELECT retention_ms FROM rate_keys WHERE key = ?", (key,)).fetchone()
                    retention[key] = max(window, row[0] if row else 0)
                    conn.execute("DELETE FROM rate_events WHERE key = ? AND ts <= ?", (key, now_ms - retention[key]))
                full: tuple[LimitRequest, int | None] | None = None
                for request in requests:
                    retry = _retry_after(conn, request, now_ms)
                    if retry is not False:
                        full = worse(full, (request, retry))
                if full is not None:
                    raise _Deny(LimitResult.deny(*full))
                if not record:
                    raise _Deny(LimitResult.allow())  # roll the trimming back too: peek writes nothing
                for key, kept in retention.items():
                    conn.execute("INSERT INTO rate_events (key, ts) VALUES (?, ?)", (key, now_ms))
                    conn.execute(
                        "INSERT INTO rate_keys (key, retention_ms, last_ms) VALUES (?, ?, ?) ON CONFLICT (key) "
                        "DO UPDATE SET retention_ms = max(retention_ms, excluded.retention_ms), "
                        "last_ms = max(last_ms, excluded.last_ms)",
                        (key, kept, now_ms),
                    )
        except _Deny as deny:
            return deny.result
        self._since_sweep += 1
        if self._since_sweep >= _SWEEP_EVERY:
            self._sweep(now_ms)
        return LimitResult.allow()

    def _sweep(self, now_ms: int) -> None:
        """Drop the events and keys no window can see any more (keys that went idle)."""
        self._since_sweep = 0
        with _transaction(self._db.conn) as conn:
            conn.execute(
                "DELETE FROM rate_events WHERE ts <= ? - "
                "(SELECT retention_ms FROM rate_keys k WHERE k.key = rate_events.key)",
                (now_ms,),
            )
            conn.execute("DELETE FROM rate_keys WHERE last_ms <= ? - retention_ms", (now_ms,))

    async def close(self) -> None:
        """Release this limiter's share of the database (idempotent)."""
        if not self._closed:
            self._closed = True
            await self._db.release()


def _retry_after(conn: sqlite3.Connection, request: LimitRequest, now_ms: int) -> int | None | bool:
    """``False`` when ``request`` has room; else ms until it has (``None``: never, max 0).

    Full exactly when the max-th newest event is inside the window (see ``memory``): one
    index walk of at most ``max`` entries instead of counting the whole window.
    """
    if request.max == 0:
        return None
    row = conn.execute(
        "SELECT ts FROM rate_events WHERE key = ? ORDER BY ts DESC LIMIT 1 OFFSET ?", (request.key, request.max - 1)
    ).fetchone()
    if row is None or row[0] <= now_ms - request.window_ms:
        return False
    return int(row[0]) + request.window_ms - now_ms


class SqliteTaskRegistry:
    """A ``TaskRegistry`` over the ``tasks`` table."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db
        db.retain()
        self._closed = False

    async def start(self, task: BackgroundTask, caps: TaskCaps, now_ms: int) -> TaskResult:
        """See ``TaskRegistry.start``. Tasks past their TTL still count until stopped."""
        return await self._db.run(lambda: self._start(task, caps))

    def _start(self, task: BackgroundTask, caps: TaskCaps) -> TaskResult:
        with _transaction(self._db.conn) as conn:
            cid = task.connection_id
            row = conn.execute(f"SELECT {_TASK_COLUMNS} FROM tasks WHERE connection_id = ?", (cid,)).fetchone()
            old = _task(row) if row else None
            (mine,) = conn.execute(
                "SELECT COUNT(*) FROM tasks WHERE identity = ? AND connection_id != ?", (task.identity, cid)
            ).fetchone()
            if caps.max_active is not None and mine >= caps.max_active:
                return TaskResult(False, task, cap="max_active", limit=caps.max_active, active=mine)
            (total,) = conn.execute("SELECT COUNT(*) FROM tasks WHERE connection_id != ?", (cid,)).fetchone()
            if caps.max_active_total is not None and total >= caps.max_active_total:
                return TaskResult(False, task, cap="max_active_total", limit=caps.max_active_total, active=total)
            conn.execute(
                f"INSERT OR REPLACE INTO tasks ({_TASK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (cid, task.identity, task.command, task.interval_ms, task.started_ms, task.expires_ms, task.host),
            )
            return TaskResult(True, task, replaced=old)

    async def stop(self, connection_id: str) -> BackgroundTask | None:
        """See ``TaskRegistry.stop``."""
        gone = await self._db.run(lambda: self._delete("connection_id = ?", (connection_id,)))
        return gone[0] if gone else None

    async def stop_all(self, identity: str | None = None) -> list[BackgroundTask]:
        """See ``TaskRegistry.stop_all``."""
        if identity is None:
            return await self._db.run(lambda: self._delete("1", ()))
        return await self._db.run(lambda: self._delete("identity = ?", (identity,)))

    def _delete(self, where: str, args: tuple[str, ...]) -> list[BackgroundTask]:
        with _transaction(self._db.conn) as conn:
            rows = conn.execute(f"SELECT {_TASK_COLUMNS} FROM tasks WHERE {where} {_ORDER}", args).fetchall()
            conn.execute(f"DELETE FROM tasks WHERE {where}", args)
            return [_task(row) for row in rows]

    async def active(self, identity: str | None = None) -> list[BackgroundTask]:
        """See ``TaskRegistry.active``."""
        if identity is None:
            return await self._db.run(lambda: self._select("1", ()))
        return await self._db.run(lambda: self._select("identity = ?", (identity,)))

    async def expired(self, now_ms: int) -> list[BackgroundTask]:
        """See ``TaskRegistry.expired``."""
        return await self._db.run(lambda: self._select("expires_ms IS NOT NULL AND expires_ms <= ?", (now_ms,)))

    def _select(self, where: str, args: tuple[str | int, ...]) -> list[BackgroundTask]:
        rows = self._db.conn.execute(f"SELECT {_TASK_COLUMNS} FROM tasks WHERE {where} {_ORDER}", args).fetchall()
        return [_task(row) for row in rows]

    async def close(self) -> None:
        """Release this registry's share of the database (idempotent)."""
        if not self._closed:
            self._closed = True
            await self._db.release()


def _task(row: tuple[str, str, str, int, int, int | None, str | None]) -> BackgroundTask:
    return BackgroundTask(*row)


async def open_sqlite(path: Path, timeout_s: float = 1.0) -> tuple[SqliteLimiter, SqliteTaskRegistry]:
    """Open ``path`` (created if missing) and return its limiter and task registry."""
    db = SqliteDatabase(path, timeout_s)
    try:
        await db.open()
    except StateError:
        db.retain()
        await db.release()
        raise
    return SqliteLimiter(db), SqliteTaskRegistry(db)
