"""Checking an audit log: every line a record, every hash right, every link and seq in order.

``verify`` reads the file once, line by line (constant memory), and stops at the first problem:

- a line that is not JSON, not UTF-8, or not a record (no ``seq``/``prev``/``hash``/``time``),
- a hash mismatch: the record was edited after it was written,
- a record not in canonical form: re-serialised, or a duplicate key smuggled in,
- a seq gap (records deleted) or a seq going back (records swapped, duplicated, inserted),
- a broken link: ``prev`` is not the hash of the record before,
- a last line without its line end: a truncated file or a torn write.

What a chain cannot show on its own: records cut off the *end* of the file (the remaining
records still chain). Keep ``VerifyReport.head`` somewhere else to detect that.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from sshwall.audit.log import AuditError
from sshwall.audit.record import GENESIS, canonical, parse_line, record_hash
from sshwall.audit.redact import JsonValue


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """The result of ``verify``.

    ``records`` counts the good records before the first problem (all of them when ``ok``);
    ``first_bad_line`` is 1-based; ``head`` is the hash of the last good record (``None`` when
    there is none).
    """

    ok: bool
    records: int
    first_bad_line: int | None = None
    problem: str | None = None
    head: str | None = None

    def __str__(self) -> str:
        if self.ok:
            return f"ok: {self.records} records, chain intact"
        return f"broken at line {self.first_bad_line}: {self.problem}"


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


def verify(path: str | os.PathLike[str]) -> VerifyReport:
    """Checks the whole chain of the log at ``path`` and reports its first problem.

    Raises ``AuditError`` when the file cannot be read at all; an empty file is an intact
    chain of 0 records.
    """
    expected_seq, prev_hash, records = 1, GENESIS, 0
    try:
        with open(path, "rb") as f:
            for lineno, raw in enumerate(f, 1):
                complete = raw.endswith(b"\n")
                line = raw[:-1] if complete else raw
                rec = _check(line, complete, expected_seq, prev_hash) if line else "empty line"
                if isinstance(rec, str):
                    head = None if records == 0 else prev_hash
                    return VerifyReport(False, records, lineno, rec, head)
                prev_hash, expected_seq, records = str(rec["hash"]), expected_seq + 1, records + 1
    except OSError as err:
        raise AuditError(f"cannot read audit log {os.fspath(path)}: {err.strerror or err}") from err
    return VerifyReport(True, records, None, None, prev_hash if records else None)
