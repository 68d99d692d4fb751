"""The approval queue in the ``sqlite`` state file: shared by the processes of one machine.

Each request is one row of ``approvals(id, state, created, body)`` (``body``: the request's
``to_json``) in the same file as the rate counters and the tasks, opened, locked and watched by
the same ``sqlite_db.SqliteDatabase`` (its worker thread, busy timeout, ``StateError`` for any
failure of the file, carry-over of a replaced file). ``transition`` is one
``UPDATE ... WHERE id = ? AND body = ?``: it changes the row only if it still holds ``before``.

This module does not import ``sqlite3`` (only ``sqlite*`` modules do): it runs statements on the
connection ``SqliteDatabase.transaction`` hands out. Bodies are parsed on the event loop, not on
the worker thread, so a damaged body is an ``ApprovalError`` naming the request, not a
``StateError``. Rows are deleted ``KEEP_S`` after they can no longer matter (swept when a request
is created).
"""

from __future__ import annotations

import time
from collections.abc import Collection
from typing import TYPE_CHECKING

from sshwall.errors import ApprovalError
from sshwall.limits.approvals import KEEP_S, ApprovalRequest, ApprovalStore, kept_until, stored

if TYPE_CHECKING:
    from sshwall.limits.sqlite_db import SqliteDatabase

_COLUMNS = "id, body"
_Rows = list[tuple[str, str]]
"""(id, body) of stored requests."""
_ORDER = "ORDER BY created, id"


class SqliteApprovals(ApprovalStore):
    """An ``ApprovalStore`` over the ``approvals`` table of a SQLite state file."""

    shared = True

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db
        db.retain()
        self._closed = False
        self.where = db.where

    async def create(self, request: ApprovalRequest) -> None:
        """See ``ApprovalStore.create``; also deletes the rows kept long enough."""
        body = request.to_json()
        if not await self._db.run(lambda: self._insert(request, body, time.time())):
            raise ApprovalError(f"approval request {request.id} exists already in {self.where}")

    def _insert(self, request: ApprovalRequest, body: str, now: float) -> bool:
        with self._db.transaction() as conn:
            done = conn.execute(
                "INSERT OR IGNORE INTO approvals (id, state, created, body) VALUES (?, ?, ?, ?)",
                (request.id, request.state, request.created, body),
            ).rowcount
            # Only a row created more than KEEP_S ago can be due (kept_until >= created + KEEP_S).
            old = conn.execute("SELECT id, body FROM approvals WHERE created < ?", (now - KEEP_S,)).fetchall()
            gone = [(rid,) for rid, text in old if _due(text, now)]
            conn.executemany("DELETE FROM approvals WHERE id = ?", gone)
        return bool(done == 1)

    async def get(self, request_id: str) -> ApprovalRequest | None:
        """See ``ApprovalStore.get``."""
        rows = await self._db.run(lambda: self._select("id = ?", (request_id,)))
        return stored(rows[0][0], rows[0][1], self.where) if rows else None

    async def list(self, states: Collection[str] | None = None) -> list[ApprovalRequest]:
        """See ``ApprovalStore.list``."""
        if states is None:
            rows = await self._db.run(lambda: self._select("1", ()))
        else:
            wanted = tuple(states)
            if not wanted:
                return []
            marks = ", ".join("?" * len(wanted))
            rows = await self._db.run(lambda: self._select(f"state IN ({marks})", wanted))
        return [stored(rid, body, self.where) for rid, body in rows]

    def _select(self, where: str, args: tuple[str, ...]) -> _Rows:
        with self._db.transaction() as conn:
            rows: _Rows = conn.execute(
                f"SELECT {_COLUMNS} FROM approvals WHERE {where} {_ORDER}", args
            ).fetchall()
        return rows

    async def transition(self, before: ApprovalRequest, after: ApprovalRequest) -> bool:
        """See ``ApprovalStore.transition``: one compare-and-set ``UPDATE`` on the stored body."""
        if after.id != before.id:
            raise ApprovalError(f"approval request {before.id} cannot become request {after.id}")
        old, new = before.to_json(), after.to_json()
        return await self._db.run(lambda: self._update(before.id, old, new, after.state))

    def _update(self, request_id: str, old: str, new: str, state: str) -> bool:
        with self._db.transaction() as conn:
            done = conn.execute(
                "UPDATE approvals SET body = ?, state = ? WHERE id = ? AND body = ?", (new, state, request_id, old)
            ).rowcount
        return bool(done == 1)

    async def close(self) -> None:
        """Release this store's share of the database (idempotent)."""
        if not self._closed:
            self._closed = True
            await self._db.release()


def _due(body: str, now: float) -> bool:
    """Whether a stored row may go: kept ``KEEP_S`` past mattering, or unreadable (it can never
    be answered or used: every read of it fails)."""
    try:
        return kept_until(ApprovalRequest.from_json(body)) < now
    except ApprovalError:
        return True
