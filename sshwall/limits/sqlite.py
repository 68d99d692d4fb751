"""The ``sqlite`` backend: one database file, exact across the processes of one machine.

The tables' logic: rate caps (``SqliteLimiter``) and background tasks (``SqliteTaskRegistry``);
the approval queue's is ``approvals_sqlite.SqliteApprovals``, on the same database.
The file itself, its connection, journal and faults are ``sqlite_db.SqliteDatabase``'s. Every
operation is one transaction of ``SqliteDatabase.transaction`` (``BEGIN IMMEDIATE``: it takes the
database's write lock before reading, so concurrent processes are serialised and a
check-then-record can never interleave with another), on the file that is at the path.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from sshwall.errors import StateError
from sshwall.limits.approvals_sqlite import SqliteApprovals
from sshwall.limits.model import (
    BackgroundTask,
    LimitRequest,
    LimitResult,
    TaskCaps,
    TaskResult,
    buckets,
    distinct_keys,
    worse,
)
from sshwall.limits.sqlite_db import SqliteDatabase
from sshwall.limits.sqlite_file import TASK_COLUMNS as _TASK_COLUMNS

_SWEEP_EVERY = 1024
_ORDER = "ORDER BY started_ms, connection_id"


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
        return await self._db.run(lambda: self._decide(list(requests), now_ms))

    def _decide(self, requests: list[LimitRequest], now_ms: int) -> LimitResult:
        keys = distinct_keys(requests)
        try:
            with self._db.transaction() as conn:
                retention: dict[str, int] = {}
                for key, window in keys.items():
                    row = conn.execute("SELECT retention_ms FROM rate_keys WHERE key = ?", (key,)).fetchone()
                    retention[key] = max(window, row[0] if row else 0)
                    conn.execute("DELETE FROM rate_events WHERE key = ? AND ts <= ?", (key, now_ms - retention[key]))
                full: tuple[LimitRequest, int | None] | None = None
                for request in requests:
                    if request.aligned:
                        retry = request.bucket_retry(_total(conn, request.bucket(now_ms)[0]), now_ms)
                    else:
                        retry = _retry_after(conn, request, now_ms)
                    if retry is not False:
                        full = worse(full, (request, retry))
                if full is not None:
                    raise _Deny(LimitResult.deny(*full))
                for key, (amount, end) in buckets(requests, now_ms).items():
                    conn.execute(
                        "INSERT INTO rate_buckets (key, total, end_ms) VALUES (?, ?, ?) ON CONFLICT (key) "
                        "DO UPDATE SET total = total + excluded.total",
                        (key, amount, end),
                    )
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
        with self._db.transaction() as conn:
            conn.execute(
                "DELETE FROM rate_events WHERE ts <= ? - "
                "(SELECT retention_ms FROM rate_keys k WHERE k.key = rate_events.key)",
                (now_ms,),
            )
            conn.execute("DELETE FROM rate_keys WHERE last_ms <= ? - retention_ms", (now_ms,))
            conn.execute("DELETE FROM rate_buckets WHERE end_ms <= ?", (now_ms,))

    async def close(self) -> None:
        """Release this limiter's share of the database (idempotent)."""
        if not self._closed:
            self._closed = True
            await self._db.release()


def _total(conn: sqlite3.Connection, bucket: str) -> int:
    """A calendar counter's total in one bucket (0 when it has none)."""
    row = conn.execute("SELECT total FROM rate_buckets WHERE key = ?", (bucket,)).fetchone()
    return int(row[0]) if row else 0


def _retry_after(conn: sqlite3.Connection, request: LimitRequest, now_ms: int) -> int | bool | None:
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
        with self._db.transaction() as conn:
            cid = task.connection_id
            row = conn.execute(f"SELECT {_TASK_COLUMNS} FROM tasks WHERE connection_id = ?", (cid,)).fetchone()
            old = _task(row) if row else None
            if old is not None and caps.one_per_connection:
                return TaskResult(False, task, cap="one_per_connection", limit=1, active=1)
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
        with self._db.transaction() as conn:
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
        with self._db.transaction() as conn:
            rows = conn.execute(f"SELECT {_TASK_COLUMNS} FROM tasks WHERE {where} {_ORDER}", args).fetchall()
        return [_task(row) for row in rows]

    async def close(self) -> None:
        """Release this registry's share of the database (idempotent)."""
        if not self._closed:
            self._closed = True
            await self._db.release()


def _task(row: tuple[str, str, str, int, int, int | None, str | None]) -> BackgroundTask:
    return BackgroundTask(*row)


async def open_sqlite(path: Path, timeout_s: float = 1.0) -> tuple[SqliteLimiter, SqliteTaskRegistry, SqliteApprovals]:
    """Open ``path`` (created if missing) and return its limiter, task registry and approval queue."""
    db = SqliteDatabase(path, timeout_s)
    try:
        await db.open()
    except StateError:
        db.retain()
        await db.release()
        raise
    return SqliteLimiter(db), SqliteTaskRegistry(db), SqliteApprovals(db)
