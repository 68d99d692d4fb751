"""One audit record: its canonical JSON form, its hash, and the link to the record before it.

Every record is a flat JSON object with at least ``seq``, ``time``, ``kind``, ``prev`` and
``hash``. ``hash`` is the SHA-256 (hex) of the canonical JSON of the record *without* its
``hash`` field; ``prev`` is the ``hash`` of the record before it (``GENESIS`` for the first).
Writer (``log.py``), checker (``verify.py``) and reader (``tail.py``) share these functions, so
the three can never disagree about what a record's hash is.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType

from sshwall.audit.redact import JsonValue

GENESIS = "0" * 64
"""The ``prev`` of the first record of a log."""

RESERVED = ("seq", "time", "prev", "hash")
"""Fields the log sets itself; an event must not carry them."""


def canonical(obj: Mapping[str, JsonValue]) -> str:
    """The one JSON text of a record that is hashed and written: sorted keys, no spaces, UTF-8."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def record_hash(record: Mapping[str, JsonValue]) -> str:
    """SHA-256 hex of the canonical JSON of ``record`` without its ``hash`` field."""
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256(canonical(body).encode("utf-8")).hexdigest()


def rfc3339(epoch_seconds: float) -> str:
    """``2025-01-02T03:04:05.678Z``: UTC, millisecond precision."""
    stamp = datetime.fromtimestamp(epoch_seconds, UTC)
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_line(line: bytes) -> dict[str, JsonValue] | str:
    """A record parsed from one line (without its line end), or a short description of why not.

    Only the shape is checked here (an object with an integer ``seq`` and string ``prev`` and
    ``hash``); whether the hash and the link are right is ``verify``'s job.
    """
    try:
        obj = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError as err:
        return f"not UTF-8 ({err.reason} at byte {err.start})"
    except ValueError as err:
        return f"not JSON ({err})"
    if not isinstance(obj, dict):
        return f"not a JSON object but {type(obj).__name__}"
    missing = [k for k in ("seq", "time", "prev", "hash") if k not in obj]
    if missing:
        return f"not an audit record: no {', '.join(missing)}"
    if isinstance(obj["seq"], bool) or not isinstance(obj["seq"], int):
        return "not an audit record: seq is not an integer"
    if not isinstance(obj["prev"], str) or not isinstance(obj["hash"], str):
        return "not an audit record: prev or hash is not a string"
    return obj


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One record as it was written: the chain fields, and every field read-only in ``fields``."""

    seq: int
    time: str
    prev: str
    hash: str
    fields: Mapping[str, JsonValue]

    @staticmethod
    def of(record: Mapping[str, JsonValue]) -> AuditRecord:
        """Wraps a complete record (as ``AuditLog.append`` builds it)."""
        seq, time_, prev, hash_ = (record[k] for k in RESERVED)
        assert isinstance(seq, int) and isinstance(time_, str)
        assert isinstance(prev, str) and isinstance(hash_, str)
        return AuditRecord(seq, time_, prev, hash_, MappingProxyType(dict(record)))

    @property
    def kind(self) -> str:
        """``decision``, ``outcome``, or the name of another event (``ttl-stop``...)."""
        return str(self.fields.get("kind", "decision"))

    def __getitem__(self, key: str) -> JsonValue:
        return self.fields[key]

    def get(self, key: str, default: JsonValue = None) -> JsonValue:
        """A field, or ``default`` when the record has no such field."""
        return self.fields.get(key, default)

    def line(self) -> str:
        """The line written to the file, without its line end."""
        return canonical(dict(self.fields))
