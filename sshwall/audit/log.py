"""The append-only, hash-chained audit log: one JSON line per record, flushed before returning.

``AuditLog.append`` is the only writer. Each call, under a thread lock and an exclusive
``flock`` on the file, finds the chain's head (the last valid record, re-read only when another
writer moved the end of the file), builds the record (``seq``, ``time``, ``prev``, ``hash``),
and writes it with a single ``write`` on an ``O_APPEND`` descriptor, then ``fsync``s it. So
several threads, several ``AuditLog`` objects and several processes on one machine keep one
valid chain in one file, and a reader never sees two records' bytes interleaved.

When ``append`` returns, the record is on disk (in the OS page cache with ``fsync=False``); when
it raises ``AuditError``, the caller must treat the call as not audited and not forward it.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from sshwall.audit.record import GENESIS, RESERVED, AuditRecord, canonical, parse_line, record_hash, rfc3339
from sshwall.audit.redact import JsonValue, sanitize_fields
from sshwall.errors import SshwallError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: one writer process only (see docs/audit.md)
    fcntl = None  # type: ignore[assignment]

_BLOCK = 65536
_SCAN_LIMIT = 16 * 1024 * 1024  # how far back from the end a head is looked for


class AuditError(SshwallError):
    """The audit log could not be opened, read or written, or was asked for a malformed record."""


def _open(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    return os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)


def find_head(fd: int, size: int) -> tuple[int, str, bool] | None:
    """``(seq, hash, ends_with_newline)`` of the last valid record before byte ``size``.

    ``(0, GENESIS, True)`` for an empty file; ``None`` when no line in the last ``_SCAN_LIMIT``
    bytes is a record whose hash checks out (not an audit log, or destroyed). Torn or garbage
    lines at the end are skipped: they stay in the file for ``verify`` to report.
    """
    if size == 0:
        return 0, GENESIS, True
    ends_with_newline = os.pread(fd, 1, size - 1) == b"\n"
    pos, rest = size, b""
    while pos > 0 and size - pos < _SCAN_LIMIT:
        step = min(_BLOCK, pos)
        pos -= step
        pieces = (os.pread(fd, step, pos) + rest).split(b"\n")
        rest = pieces.pop(0) if pos > 0 else b""  # may be the end of a longer line: read on
        for line in reversed(pieces):
            if line:
                rec = parse_line(line)
                if isinstance(rec, dict) and rec["hash"] == record_hash(rec):
                    seq = rec["seq"]
                    assert isinstance(seq, int)
                    return seq, str(rec["hash"]), ends_with_newline
    return None


class AuditLog:
    """Appends hash-chained records to one JSONL file, continuing the chain already in it.

    ``clock`` returns seconds since the epoch (tests inject a fixed one); ``fsync=False`` trades
    durability across a power cut for speed (a crash of sshwall alone loses nothing either way).
    ``secret_names`` are redacted wherever they occur in any event, on top of the key patterns
    of ``sshwall.audit.redact``.
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
        self._seq, self._prev, self._size, self._newline = 0, GENESIS, -1, True
        try:
            self._fd, self._pid = _open(self._path), os.getpid()
        except OSError as err:
            raise AuditError(f"cannot open audit log {self._path}: {err.strerror or err}") from err
        try:
            with self._flocked(shared=True):
                self._sync_head()
        except BaseException:
            os.close(self._fd)
            raise

    @property
    def path(self) -> Path:
        """The file the records go to."""
        return self._path

    @property
    def head(self) -> tuple[int, str]:
        """``(seq, hash)`` of the last record this object wrote or found."""
        return self._seq, self._prev

    @contextmanager
    def _flocked(self, *, shared: bool = False) -> Iterator[None]:
        if fcntl is None:
            yield
            return
        fcntl.flock(self._fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _sync_head(self) -> None:
        """Re-reads the head when the file's end is not where our last write left it."""
        size = os.fstat(self._fd).st_size
        if size == self._size:
            return
        head = find_head(self._fd, size)
        if head is None:
            raise AuditError(f"{self._path} holds no valid audit record at its end; refusing to append")
        self._seq, self._prev, self._newline = head
        self._size = size

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

    def append(self, event: Mapping[str, object]) -> AuditRecord:
        """Writes one record for ``event`` (``kind`` defaults to ``decision``) and returns it.

        The event is sanitised (secrets redacted, sizes bounded, values made plain JSON), so
        odd input never costs its record. Raises ``AuditError`` when the record could not be
        written (or, with ``fsync``, not synced): treat the call as not audited.
        """
        fields = self._event_fields(event)
        with self._lock:
            if self._fd < 0:
                raise AuditError(f"audit log {self._path} is closed")
            try:
                if os.getpid() != self._pid:  # forked: a shared descriptor would share the flock
                    os.close(self._fd)  # the child's copy only; the parent keeps its own
                    self._fd, self._size = -1, -1
                    self._fd, self._pid = _open(self._path), os.getpid()
                with self._flocked():
                    self._sync_head()
                    record: dict[str, JsonValue] = {
                        **fields, "seq": self._seq + 1, "time": rfc3339(self._clock()), "prev": self._prev,
                    }
                    record["hash"] = record_hash(record)
                    data = (canonical(record) + "\n").encode("utf-8")
                    if not self._newline:  # a torn line at the end stays a line of its own
                        data = b"\n" + data
                    self._size = -1  # unknown until the write is complete
                    view = memoryview(data)
                    while view:
                        view = view[os.write(self._fd, view):]
                    if self._fsync:
                        os.fsync(self._fd)
                    self._size = os.fstat(self._fd).st_size  # ours alone: we hold the flock
                    self._seq, self._prev, self._newline = self._seq + 1, str(record["hash"]), True
            except OSError as err:
                raise AuditError(f"cannot write audit log {self._path}: {err.strerror or err}") from err
        return AuditRecord.of(record)

    async def append_async(self, event: Mapping[str, object]) -> AuditRecord:
        """``append`` in a worker thread, so an ``fsync`` does not stall the event loop."""
        return await asyncio.to_thread(self.append, event)

    def close(self) -> None:
        """Closes the file; later appends raise ``AuditError``."""
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
