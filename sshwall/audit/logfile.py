"""The audit log's file on disk: opening it, locking it, and finding where its chain ends.

Functions without state of their own, for ``AuditLog``: the log opens its file with ``open_log``
(``O_APPEND``, so a write never lands anywhere but the end), holds ``flocked`` around every
read of the head and every write (several processes on one machine keep one chain), and finds
the chain's head with ``find_head`` when another writer moved the end of the file. ``Carry`` is
the head of a file the log left (rotated, deleted, truncated), which the next file continues.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sshwall.audit.record import GENESIS, parse_line, record_hash
from sshwall.audit.series import rotated_series
from sshwall.errors import AuditError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: one writer process only (see docs/audit.md)
    fcntl = None  # type: ignore[assignment]

__all__ = ["Carry", "find_head", "flocked", "open_log", "predecessor"]

_BLOCK = 65536
_SCAN_LIMIT = 16 * 1024 * 1024  # how far back from the end a head is looked for


def open_log(path: Path) -> int:
    """A read-write, append-only descriptor on ``path`` (made, with its folder, if missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)


@contextmanager
def flocked(fd: int, *, shared: bool = False) -> Iterator[None]:
    """Holds an exclusive (or shared) ``flock`` on ``fd`` for the block; none where there is no fcntl."""
    if fcntl is None:
        yield
        return
    fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


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


@dataclass(frozen=True, slots=True)
class Carry:
    """The chain of a file the log left, to be continued (or noted) in the file it writes now."""

    seq: int
    hash: str
    reason: str  # renamed | deleted | truncated | rotated


def predecessor(path: Path) -> Carry | None:
    """The head of the newest rotated file beside an empty log (``audit.jsonl.1``...), if any."""
    try:
        older = [p for p in rotated_series(path)[:-1] if p.suffix != ".gz"]
    except AuditError:
        return None
    if not older:
        return None
    try:
        fd = os.open(older[-1], os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        head = find_head(fd, os.fstat(fd).st_size)
    except OSError:
        head = None
    finally:
        os.close(fd)
    return Carry(head[0], head[1], "rotated") if head and head[0] > 0 else None
