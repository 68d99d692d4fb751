"""Checking an audit log: every line a record, every hash right, every link and seq in order.

``verify`` reads one file, ``verify_series`` several (a rotated log, oldest first) as one chain,
line by line (constant memory), and stops at the first problem:

- a line that is not JSON, not UTF-8, or not a record (no ``seq``/``prev``/``hash``/``time``),
- a hash mismatch: the record was edited after it was written,
- a record not in canonical form: re-serialised, or a duplicate key smuggled in,
- a seq gap (records deleted) or a seq going back (records swapped, duplicated, inserted),
- a broken link: ``prev`` is not the hash of the record before,
- a last line without its line end: a truncated file or a torn write,
- between files: a file that does not continue the chain of the file before it.

The first record of the first file either starts a chain (seq 1, ``prev`` the genesis hash) or
is an ``audit-reopened`` record continuing a file not given (rotated away and gone, or deleted):
the report then says where the chain came from.

What a chain cannot show on its own: records cut off the *end* of the last file (the remaining
records still chain). Keep ``VerifyReport.head`` somewhere else to detect that.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from sshwall.audit.log import REOPENED
from sshwall.audit.record import GENESIS, canonical, parse_line, record_hash
from sshwall.audit.redact import JsonValue
from sshwall.errors import AuditError


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """The result of ``verify`` / ``verify_series``.

    ``records`` counts the good records before the first problem (all of them when ``ok``);
    ``first_bad_line`` is 1-based, in ``file`` (set when several files were checked); ``head``
    is the hash of the last good record (``None`` when there is none); ``continues`` is the
    ``(seq, hash)`` of the record before the first one, when the chain begins in a file that is
    not there (``None`` when it starts at genesis); ``files`` counts the files read.
    """

    ok: bool
    records: int
    first_bad_line: int | None = None
    problem: str | None = None
    head: str | None = None
    file: str | None = None
    continues: tuple[int, str] | None = None
    files: int = 1

    def __str__(self) -> str:
        if not self.ok:
            where = f"{self.file} line" if self.file else "line"
            return f"broken at {where} {self.first_bad_line}: {self.problem}"
        text = f"ok: {self.records} records, chain intact"
        if self.files > 1:
            text = f"ok: {self.records} records in {self.files} files, chain intact"
        if self.continues:
            seq, head = self.continues
            text += f"; it continues seq {seq} ({head[:16]}…) of an earlier file that was not checked"
        return text


def _check(line: bytes, complete: bool, expected_seq: int, prev_hash: str) -> str | dict[str, JsonValue]:
    """What is wrong with one line, given the record before it, or the good record it holds."""
    rec = parse_line(line)
    if isinstance(rec, str):
        return f"truncated last line: {rec}" if not complete else rec
    seq = rec["seq"]
    if rec["hash"] != record_hash(rec):
        return f"hash mismatch: record seq {seq} was changed after it was written"
    if canonical(rec) != line.decode("utf-8"):
        return f"record seq {seq} is not in canonical form (re-serialised or edited)"
    assert isinstance(seq, int)
    if seq > expected_seq:
        missing = f"seq {expected_seq}" if seq == expected_seq + 1 else f"seqs {expected_seq}..{seq - 1}"
        return f"seq gap: expected seq {expected_seq}, found {seq} ({missing} deleted or moved)"
    if seq < expected_seq:
        return f"seq out of order: expected seq {expected_seq}, found {seq} (reordered, duplicated or inserted)"
    if rec["prev"] != prev_hash:
        if prev_hash == GENESIS:
            return f"broken link: record seq {seq} is first but its prev is not the genesis hash"
        return f"broken link: prev of seq {seq} is not the hash of the record before (deleted or reordered)"
    if not complete:
        return f"truncated last line: record seq {seq} has no line end (torn write?)"
    return rec


def _continuation(line: bytes) -> tuple[int, str] | None:
    """``(seq, hash)`` the record on ``line`` continues, if it is a well-formed reopen record."""
    rec = parse_line(line)
    if isinstance(rec, str) or rec.get("kind") != REOPENED:
        return None
    seq, prev, before = rec["seq"], rec["prev"], rec.get("previous_seq")
    if not isinstance(seq, int) or not isinstance(before, int) or isinstance(before, bool):
        return None
    if before != seq - 1 or rec.get("previous_hash") != prev or seq < 2:
        return None
    return before, str(prev)


def _lines(path: Path) -> Iterator[bytes]:
    if path.suffix == ".gz":
        with gzip.open(path, "rb") as packed:
            yield from packed
    else:
        with open(path, "rb") as f:
            yield from f


def verify_series(paths: Sequence[str | os.PathLike[str]]) -> VerifyReport:
    """Checks several files, oldest first, as one chain (a rotated log: ``audit.jsonl.2``,
    ``audit.jsonl.1``, ``audit.jsonl``); ``.gz`` files are read compressed. Each file after the
    first must continue the chain exactly where the file before it ended; an empty file adds
    nothing. Raises ``AuditError`` when a file cannot be read at all.
    """
    files = [Path(p) for p in paths]
    many = len(files) > 1
    expected_seq, prev_hash, records = 1, GENESIS, 0
    continues: tuple[int, str] | None = None
    for index, path in enumerate(files):
        name = os.fspath(path) if many else None
        before = (expected_seq - 1, prev_hash)
        try:
            for lineno, raw in enumerate(_lines(path), 1):
                complete = raw.endswith(b"\n")
                line = raw[:-1] if complete else raw
                if lineno == 1 and records == 0 and line:
                    continues = _continuation(line)
                    if continues is not None:
                        expected_seq, prev_hash = continues[0] + 1, continues[1]
                rec = _check(line, complete, expected_seq, prev_hash) if line else "empty line"
                if isinstance(rec, str) and lineno == 1 and records > 0:
                    rec = _link_problem(line, before, files[index - 1] if index else path) or rec
                if isinstance(rec, str):
                    head = None if records == 0 else prev_hash
                    return VerifyReport(False, records, lineno, rec, head, name, continues, index + 1)
                prev_hash, expected_seq, records = str(rec["hash"]), expected_seq + 1, records + 1
        except (OSError, EOFError, gzip.BadGzipFile) as err:
            text = getattr(err, "strerror", None) or err
            raise AuditError(f"cannot read audit log {os.fspath(path)}: {text}") from err
    return VerifyReport(True, records, None, None, prev_hash if records else None, None, continues, len(files))


def _link_problem(line: bytes, before: tuple[int, str], previous: Path) -> str | None:
    """Why the first record of a file does not continue the file before, in words."""
    rec = parse_line(line)
    if isinstance(rec, str):
        return None
    seq, last = before
    if rec["seq"] == 1 and rec["prev"] == GENESIS:
        return f"this file starts a new chain (seq 1) instead of continuing seq {last} of {previous}"
    go_on = _continuation(line)
    if go_on is not None and go_on != before:
        return (f"this file continues seq {go_on[0]} ({go_on[1][:16]}…) but {previous} ends at seq {seq} "
                f"({last[:16]}…): files missing or out of order")
    return None


def verify(path: str | os.PathLike[str]) -> VerifyReport:
    """Checks the whole chain of the log at ``path`` and reports its first problem.

    Raises ``AuditError`` when the file cannot be read at all; an empty file is an intact
    chain of 0 records.
    """
    return verify_series([path])
