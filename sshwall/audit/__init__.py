"""The audit trail: an append-only, hash-chained JSONL log of every decision, secrets redacted.

``AuditLog(path).append(decision_event(...))`` writes (and flushes) one record before the proxy
forwards a call; ``verify(path)`` checks the chain; ``tail(path)`` shows recent records. See
``docs/audit.md`` for the record format.
"""

from __future__ import annotations

from sshwall.audit.chain import VerifyReport, verify, verify_series
from sshwall.audit.events import decision_event, notice_event, outcome_event
from sshwall.audit.log import REOPENED, AuditLog
from sshwall.audit.record import GENESIS, AuditRecord, record_hash
from sshwall.audit.redact import (
    REDACTED,
    JsonValue,
    redact,
    sanitize,
    secret_argument_names,
)
from sshwall.audit.series import rotated_series
from sshwall.audit.tail import follow, format_record, tail
from sshwall.errors import AuditError

__all__ = [
    "GENESIS",
    "REDACTED",
    "REOPENED",
    "AuditError",
    "AuditLog",
    "AuditRecord",
    "JsonValue",
    "VerifyReport",
    "decision_event",
    "follow",
    "format_record",
    "notice_event",
    "outcome_event",
    "record_hash",
    "redact",
    "rotated_series",
    "sanitize",
    "secret_argument_names",
    "tail",
    "verify",
    "verify_series",
]
