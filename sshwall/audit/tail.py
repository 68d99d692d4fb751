"""Reading an audit log as a person: one line per record, newest last.

``format_record`` makes one line of a record: time, seq, decision (ALLOW / DENY / PROMPT, or the
kind of a non-decision record), tool, a short argument summary (the command if there is one,
else ``key=value`` pairs), rule ids and the first reason. Everything shown came from an agent or
a remote host, so control characters, terminal escapes and bidi overrides are shown escaped,
never sent to the terminal.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping

from sshwall.audit.record import AuditRecord, parse_line
from sshwall.audit.redact import JsonValue
from sshwall.errors import AuditError

SUMMARY_WIDTH = 80
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_HIDDEN = {"seq", "time", "prev", "hash", "kind", "detail", "identity", "request_id", "policy"}


def _escape(match: re.Match[str]) -> str:
    ch = match.group()
    return _ESCAPES.get(ch) or (f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")


def safe(value: object, width: int = SUMMARY_WIDTH) -> str:
    """``value`` as printable text of at most ``width`` characters (``…`` marks a cut)."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    text = _UNSAFE.sub(_escape, text[: width * 4])
    return text if len(text) <= width else text[: width - 1] + "…"


def summarize(arguments: JsonValue) -> str:
    """The command if the arguments have one, else ``key=value`` pairs, clipped."""
    if isinstance(arguments, dict):
        command = arguments.get("command")
        if isinstance(command, str):
            return "$ " + safe(command, SUMMARY_WIDTH - 2)
        pairs = " ".join(f"{safe(k, 30)}={safe(v, 40)}" for k, v in arguments.items())
        return safe(pairs)
    return "" if arguments is None else safe(arguments)


def format_record(rec: Mapping[str, JsonValue] | AuditRecord) -> str:
    """One readable line for one record (any kind)."""
    fields = rec.fields if isinstance(rec, AuditRecord) else rec
    kind = str(fields.get("kind", "decision"))
    head = f"{safe(fields.get('time', '?'), 30)} #{safe(fields.get('seq', '?'), 20)}"
    parts: list[str] = []
    if kind == "decision":
        label = safe(str(fields.get("decision", "?")).upper(), 20)
        parts += [safe(fields.get("tool", "?"), 60), summarize(fields.get("arguments"))]
        rules, reasons = fields.get("rules"), fields.get("reasons")
        if isinstance(rules, list) and rules:
            parts.append("[" + safe(", ".join(map(str, rules)), 60) + "]")
        if isinstance(reasons, list) and reasons:
            parts.append("— " + safe(reasons[0], 120))
    elif kind == "outcome":
        label = "RESULT"
        parts += [safe(fields.get("tool", "?"), 60), "→ #" + safe(fields.get("ref", "?"), 20)]
        parts.append(safe(fields.get("upstream", "?"), 30))
        latency = fields.get("latency_ms")
        if isinstance(latency, (int, float)) and not isinstance(latency, bool):
            parts.append(f"{latency:.1f} ms")
    else:
        label = safe(kind.upper(), 30)
        extra: dict[str, JsonValue] = {k: v for k, v in fields.items() if k not in _HIDDEN and v is not None}
        if extra:
            parts.append(summarize(extra))
    detail = fields.get("detail")
    if kind != "decision" and detail:
        parts.append("— " + safe(detail, 120))
    if fields.get("identity"):
        parts.append("by " + safe(fields.get("identity"), 40))
    return " ".join([head, f"{label:<6}", *(p for p in parts if p)])


def _format_line(line: bytes) -> str:
    rec = parse_line(line)
    if isinstance(rec, str):
        return f"(unreadable line: {rec}: {safe(line.decode('utf-8', 'replace'), 60)})"
    return format_record(rec)


def _last_lines(fd: int, end: int, n: int) -> list[bytes]:
    pos, data = end, b""
    while pos > 0 and data.count(b"\n") <= n:
        step = min(65536, pos)
        pos -= step
        data = os.pread(fd, step, pos) + data
    lines = data.split(b"\n")
    if pos > 0:
        lines = lines[1:]  # the first piece may be the end of a longer line
    return [line for line in lines if line][-n:] if n > 0 else []


def tail(path: str | os.PathLike[str], n: int = 10) -> list[str]:
    """The last ``n`` records of the log at ``path``, formatted, oldest first."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as err:
        raise AuditError(f"cannot read audit log {os.fspath(path)}: {err.strerror or err}") from err
    try:
        return [_format_line(line) for line in _last_lines(fd, os.fstat(fd).st_size, n)]
    finally:
        os.close(fd)


def _replaced(path: str | os.PathLike[str], fd: int) -> bool:
    """Whether ``path`` now names a file other than the open ``fd`` (False if it names none)."""
    try:
        now, mine = os.stat(path), os.fstat(fd)
    except OSError:
        return False
    return (now.st_ino, now.st_dev) != (mine.st_ino, mine.st_dev)


def follow(
    path: str | os.PathLike[str],
    n: int = 10,
    *,
    interval: float = 0.5,
    stop: Callable[[], bool] | None = None,
) -> Iterator[str]:
    """The last ``n`` records, then each record as it is appended (``tail -f``), until ``stop()``.

    Only complete lines are shown; if the file shrinks (truncated), it is read again from its
    start; once the file was read to its end and the path names another file (rotated by
    rename, or deleted and created again), the new file is followed from its start
    (``tail -F``).
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as err:
        raise AuditError(f"cannot read audit log {os.fspath(path)}: {err.strerror or err}") from err
    try:
        offset = os.fstat(fd).st_size
        yield from (_format_line(line) for line in _last_lines(fd, offset, n))
        partial = b""
        while stop is None or not stop():
            size = os.fstat(fd).st_size
            if size < offset:
                offset, partial = 0, b""
            if size == offset:
                if _replaced(path, fd):
                    try:
                        new = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
                    except OSError:  # gone again: keep waiting
                        new = -1
                    if new >= 0:
                        os.close(fd)
                        fd, offset, partial = new, 0, b""
                        continue
                time.sleep(interval)
                continue
            chunk = os.pread(fd, size - offset, offset)
            offset += len(chunk)
            *lines, partial = (partial + chunk).split(b"\n")
            yield from (_format_line(line) for line in lines if line)
    finally:
        os.close(fd)
