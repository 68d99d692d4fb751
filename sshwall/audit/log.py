"""The append-only, hash-chained audit log: one JSON line per record, flushed before returning.

``AuditLog.append`` is the only writer. Each call, under a thread lock and an exclusive
``flock`` on the file, first checks that the path still names the open file (it may have been
rotated by rename, deleted or emptied), finds the chain's head (the last valid record, re-read
only when another writer moved the end of the file), builds the record (``seq``, ``time``,
``prev``, ``hash``), and writes it with a single ``write`` on an ``O_APPEND`` descriptor, then
``fsync``s it. So several threads, several ``AuditLog`` objects and several processes on one
machine keep one valid chain, and a reader never sees two records' bytes interleaved.

A write that fails (disk full, an immutable file, an I/O error), in full or in part, is undone:
the file is truncated back to its size before the write, so it always ends with the last whole
record, and ``AuditError`` is raised. The chain continues from that record once writing works
again.

When the path no longer names the open file, the log moves to the file the path names now
(creating it), and the first record it writes there is an ``audit-reopened`` notice that links
to the previous file's last record, so the chain continues across files (see ``verify_series``).

When ``append`` returns, the record is written (on disk with ``fsync=True``); when it raises
``AuditError``, the caller must treat the call as not audited and not forward it.

``append_async`` (and ``submit``) run ``append`` on the log's one writer thread, so the event
loop of the gateway never waits on the flock, the write or the ``fsync``: the records are
written one at a time in the order they were handed over (the thread is the only consumer of
a FIFO queue), the chain stays whole, and several gateway processes appending to one file stay
safe through the same flock. ``append`` stays for the CLI and tests, and may be mixed with
them (the thread lock orders them).

This module keeps the chain; the file operations it uses (open, ``flock``, finding a file's head)
are in ``sshwall.audit.logfile``, the writer thread in ``sshwall.audit.writer``.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from pathlib import Path
from types import TracebackType

from sshwall.audit.logfile import Carry, find_head, flocked, open_log, predecessor
from sshwall.audit.record import GENESIS, RESERVED, AuditRecord, canonical, record_hash, rfc3339
from sshwall.audit.redact import JsonValue, sanitize_fields
from sshwall.audit.writer import WriterThread
from sshwall.errors import AuditError

__all__ = ["REOPENED", "AuditError", "AuditLog", "find_head"]

REOPENED = "audit-reopened"
"""The kind of the record that continues the chain in a new file (or notes a switch of file)."""

_WHAT = {
    "renamed": "the audit log was renamed away (rotated); this file continues its chain",
    "deleted": "the audit log was deleted while in use; its records up to previous_seq are lost",
    "truncated": "the audit log was truncated while in use (copytruncate?); the chain continues",
    "rotated": "the audit log was rotated while no writer had it open; this file continues the newest rotated file",
}


class AuditLog:
    """Appends hash-chained records to one JSONL file, continuing the chain already in it.

    ``clock`` returns seconds since the epoch (tests inject a fixed one); ``fsync=False`` trades
    durability across a power cut for speed (a crash of sshwall alone loses nothing either way).
    ``secret_names`` are redacted wherever they occur in any event, on top of the key patterns
    and text rules of ``sshwall.audit.redact``.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        clock: Callable[[], float] = time.time,
        fsync: bool = True,
        secret_names: Iterable[str] = (),
    ) -> None:
        self._path = Path(path)
        self._clock = clock
        self._fsync = fsync
        self._secret_names = frozenset(secret_names)
        self._lock = threading.Lock()
        self._writer = WriterThread("sshwall-audit")
        self._seq, self._prev, self._size, self._newline = 0, GENESIS, -1, True
        self._carry: Carry | None = None
        try:
            self._fd, self._pid = open_log(self._path), os.getpid()
        except OSError as err:
            raise AuditError(f"cannot open audit log {self._path}: {err.strerror or err}") from err
        try:
            with flocked(self._fd, shared=True):
                self._sync_head()
        except BaseException:
            os.close(self._fd)
            raise
        if self._size == 0:
            self._carry = predecessor(self._path)

    @property
    def path(self) -> Path:
        """The file the records go to."""
        return self._path

    @property
    def head(self) -> tuple[int, str]:
        """``(seq, hash)`` of the last record this object wrote or found."""
        return self._seq, self._prev

    def _sync_head(self) -> None:
        """Re-reads the head when the file's end is not where our last write left it."""
        size = os.fstat(self._fd).st_size
        if size == self._size:
            return
        if 0 <= size < self._size and self._seq > 0 and self._carry is None:
            # Only a truncation shrinks an append-only file (our own undo resets _size).
            self._carry = Carry(self._seq, self._prev, "truncated")
        head = find_head(self._fd, size)
        if head is None:
            raise AuditError(f"{self._path} holds no valid audit record at its end; refusing to append")
        self._seq, self._prev, self._newline = head
        self._size = size

    def _moved(self) -> str | None:
        """How the path stopped naming our open file (``renamed``/``deleted``), or None."""
        mine = os.fstat(self._fd)
        try:
            now = os.stat(self._path)
        except FileNotFoundError:
            now = None
        if now is not None and (now.st_ino, now.st_dev) == (mine.st_ino, mine.st_dev):
            return None
        return "deleted" if mine.st_nlink == 0 else "renamed"

    def _follow_path(self) -> None:
        """Under the thread lock: if the path names another file now, move to it (creating it)."""
        if os.getpid() != self._pid:  # forked: a shared descriptor would share the flock
            os.close(self._fd)  # the child's copy only; the parent keeps its own
            self._fd, self._size = -1, -1
            self._fd, self._pid = open_log(self._path), os.getpid()
        reason = self._moved()
        if reason is None:
            return
        try:
            with flocked(self._fd):  # the old file's real end, with other writers' last records
                self._sync_head()
        except AuditError:  # vandalised before it went: continue from what we last knew
            pass
        carry = self._carry or Carry(self._seq, self._prev, reason)
        fd = open_log(self._path)  # on failure we stay on the old file, and refuse again next time
        os.close(self._fd)
        self._fd, self._size, self._carry = fd, -1, carry

    def _line(self, fields: Mapping[str, JsonValue], seq: int, prev: str) -> dict[str, JsonValue]:
        record: dict[str, JsonValue] = {**fields, "seq": seq, "time": rfc3339(self._clock()), "prev": prev}
        record["hash"] = record_hash(record)
        return record

    def _write(self, fields: Mapping[str, JsonValue]) -> tuple[AuditRecord | None, bool]:
        """Under both locks: writes the pending reopen notice (if any) and ``fields`` (if any),
        in one ``write``; returns the record of ``fields`` and whether a notice went first."""
        self._sync_head()
        seq, prev, lines = self._seq, self._prev, []
        carry = self._carry
        if carry is not None:
            if self._size == 0:  # a fresh file: the chain continues from the file we left
                seq, prev = carry.seq, carry.hash
            notice: dict[str, JsonValue] = {
                "kind": REOPENED, "reason": carry.reason, "detail": _WHAT[carry.reason],
                "previous_seq": carry.seq, "previous_hash": carry.hash, "pid": os.getpid(),
            }
            lines.append(self._line(notice, seq + 1, prev))
            seq, prev = seq + 1, str(lines[-1]["hash"])
        if fields:
            lines.append(self._line(fields, seq + 1, prev))
            seq, prev = seq + 1, str(lines[-1]["hash"])
        if not lines:
            return None, False
        data = "".join(canonical(rec) + "\n" for rec in lines).encode("utf-8")
        if not self._newline:  # a torn line at the end stays a line of its own
            data = b"\n" + data
        start, self._size = self._size, -1  # unknown until the write is complete
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view):]
            if self._fsync:
                os.fsync(self._fd)
        except OSError:
            self._undo(start)
            raise
        self._size = os.fstat(self._fd).st_size  # ours alone: we hold the flock
        self._seq, self._prev, self._newline, self._carry = seq, prev, True, None
        return (AuditRecord.of(lines[-1]) if fields else None), carry is not None

    def _undo(self, start: int) -> None:
        """Cuts a failed write off again, so the file ends with the last whole record."""
        try:
            if os.fstat(self._fd).st_size != start:
                os.ftruncate(self._fd, start)
                if self._fsync:
                    os.fsync(self._fd)
            self._size = start
        except OSError:  # e.g. an append-only (chattr +a) file: verify will show the torn line
            self._size = -1

    def _event_fields(self, event: Mapping[str, object]) -> dict[str, JsonValue]:
        if not isinstance(event, Mapping):
            raise AuditError(f"an audit event is a mapping, not {type(event).__name__}")
        fields = sanitize_fields(event, self._secret_names)
        clash = [k for k in RESERVED if k in fields]
        if clash:
            raise AuditError(f"an audit event must not set {', '.join(clash)}: the log sets them")
        kind = fields.setdefault("kind", "decision")
        if not isinstance(kind, str) or not kind:
            raise AuditError("an audit event's kind is a non-empty string")
        return fields

    def _locked_write(self, fields: Mapping[str, JsonValue]) -> tuple[AuditRecord | None, bool]:
        """``(record of fields, whether a reopen notice was written too)``."""
        with self._lock:
            if self._fd < 0:
                raise AuditError(f"audit log {self._path} is closed")
            try:
                for _ in range(8):
                    self._follow_path()
                    with flocked(self._fd):
                        # Checked again under the flock: a rotation between the check above and
                        # the lock is followed, never written past.
                        if self._moved() is not None:
                            continue
                        return self._write(fields)
                raise AuditError(f"audit log {self._path} keeps being replaced; not written")
            except OSError as err:
                raise AuditError(f"cannot write audit log {self._path}: {err.strerror or err}") from err

    def append(self, event: Mapping[str, object]) -> AuditRecord:
        """Writes one record for ``event`` (``kind`` defaults to ``decision``) and returns it.

        The event is sanitised (secrets redacted, sizes bounded, values made plain JSON), so
        odd input never costs its record. Raises ``AuditError`` when the record could not be
        written (or, with ``fsync``, not synced): the file then ends with the last whole record
        and the caller must treat the call as not audited.
        """
        record, _ = self._locked_write(self._event_fields(event))
        assert record is not None
        return record

    def reopen(self) -> bool:
        """Follows the path now (what ``SIGHUP`` does): if the file was rotated, deleted or
        emptied, moves to the file the path names and writes its ``audit-reopened`` record at
        once. Returns whether it did; raises ``AuditError`` like ``append``."""
        return self._locked_write({})[1]

    def submit(self, event: Mapping[str, object]) -> Future[AuditRecord]:
        """Hands ``event`` to the log's one writer thread; the future gives the record, or the
        ``AuditError`` of ``append``. Records are written in the order they were submitted."""
        if self._fd < 0:
            raise AuditError(f"audit log {self._path} is closed")
        try:
            return self._writer.submit(self.append, event)
        except RuntimeError as err:  # the interpreter is shutting down
            raise AuditError(f"audit log {self._path} is closed") from err

    async def append_async(self, event: Mapping[str, object]) -> AuditRecord:
        """``append`` on the writer thread (``submit``), awaited without blocking the event loop.

        Raises ``AuditError`` like ``append``. A caller cancelled while it waits does not stop
        the write: the record is written (or fails) all the same.
        """
        # Shielded: a cancelled wait must not cancel a write still queued.
        return await asyncio.shield(asyncio.wrap_future(self.submit(event)))

    def close(self) -> None:
        """Writes what was submitted, then closes the file; later appends raise ``AuditError``."""
        self._writer.shutdown()
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"AuditLog({str(self._path)!r}, seq={self._seq})"
