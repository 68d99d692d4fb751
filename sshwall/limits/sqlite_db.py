"""The file under the ``sqlite`` backend, on its own worker thread: transactions and the faults of the file.

One of the modules that import ``sqlite3`` (with ``sqlite``, which holds the tables' logic, and
``sqlite_file``, which opens the file, brackets transactions and copies a replaced file's state).
Each opened database has one connection living on one worker thread (a single-thread executor),
so the event loop never blocks on disk and the connection is never shared between threads.
Every operation is one ``BEGIN IMMEDIATE`` transaction (``SqliteDatabase.transaction``): it takes
the database's write lock before reading, so concurrent processes are serialised. Waiting for
that lock is bounded by ``busy_timeout``. Any failure, of SQLite, of the disk or of this code,
becomes a ``StateError`` (the caller denies).

**No shared memory, no mmap**: see ``sqlite_file``.

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
import sqlite3
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from sshwall.errors import StateError
from sshwall.limits.sqlite_file import Inode, connect_file, copy_state, ending, inode_of, transaction

T = TypeVar("T")
log = logging.getLogger("sshwall.limits.sqlite")

WATCH_S = 0.2


class SqliteDatabase:
    """One SQLite file, its connection and the worker thread that owns it."""

    def __init__(self, path: Path, timeout_s: float = 1.0, watch_s: float | None = WATCH_S) -> None:
        self.path = path
        self.timeout_s = timeout_s
        self.watch_s = watch_s
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sshwall-sqlite")
        self._conn: sqlite3.Connection | None = None
        self._inode: Inode | None = None
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
        self._conn, self._inode = connect_file(self.path, self.timeout_s)

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
        with ending(conn):
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
        now = inode_of(self.path)
        if now is None:
            return "was deleted (or renamed away)"
        if now != self._inode:
            return "was replaced by another file"
        return None

    def _carry_over(self, old: sqlite3.Connection, change: str) -> None:
        """Copy the old file's state into the file at the path and switch to it."""
        try:
            new, inode = connect_file(self.path, self.timeout_s)
        except (sqlite3.Error, OSError) as exc:
            raise StateError(
                f"{self.where}: the state file {change} while in use, and the file at the path cannot be "
                f"used ({exc}); refusing until it can"
            ) from exc
        try:
            # The new file's write lock first: while it is held no writer of the new file has a
            # journal at the path, so opening a transaction on the old file finds no "hot" journal.
            with transaction(new), transaction(old):
                copied = copy_state(old, new)
                if inode_of(self.path) != inode:
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
        if copied is not None:
            log.warning(
                "%s: the state file %s while in use; carried %d rate events and %d background tasks over "
                "into the file now at the path (its inode %d)", self.where, change, *copied, inode[1],
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
