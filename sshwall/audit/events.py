"""The events the proxy hands to ``AuditLog.append``, built in one place so every record agrees.

Three kinds of record:

- ``decision``: one per ``tools/call``, written *before* anything is forwarded. ``upstream`` is
  ``pending`` when the call is about to be forwarded, ``not-forwarded`` otherwise.
- ``outcome``: what the upstream did with a forwarded call, written when it answered (or
  failed); ``ref`` is the ``seq`` of its decision record.
- anything else (``ttl-stop``, ``upstream-restart``, ``state-error``...): a notice about the
  firewall's own work, with a free-form ``detail`` and extra fields.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sshwall.audit.redact import redact
from sshwall.errors import UsageError

PENDING = "pending"
NOT_FORWARDED = "not-forwarded"
OUTCOMES = ("ok", "tool-error", "error", "timeout", "upstream-died", "cancelled")
"""The usual ``upstream`` values of an outcome record (others are allowed)."""


def _text(value: object) -> str:
    return str(getattr(value, "value", value))  # a Decision enum, or its string


def decision_event(
    *,
    tool: str,
    arguments: object,
    decision: str,
    rules: Sequence[str] = (),
    reasons: Sequence[str] = (),
    identity: str | None = None,
    latency_ms: float | None = None,
    upstream: str | None = None,
    secret_names: Iterable[str] = (),
    request_id: str | int | None = None,
) -> dict[str, object]:
    """The event of one decision. ``arguments`` are redacted here (with ``secret_names`` and the
    key patterns); ``latency_ms`` is the time sshwall took to decide; ``decision`` may be a
    ``Decision`` or its value. ``upstream`` defaults from the decision (see the module doc).
    """
    verdict = _text(decision)
    return {
        "kind": "decision",
        "identity": identity,
        "request_id": request_id,
        "tool": tool,
        "arguments": redact(arguments, secret_names),
        "decision": verdict,
        "rules": list(rules),
        "reasons": list(reasons),
        "latency_ms": None if latency_ms is None else round(latency_ms, 3),
        "upstream": upstream or (PENDING if verdict == "allow" else NOT_FORWARDED),
    }


def outcome_event(
    *,
    ref: int,
    tool: str,
    upstream: str,
    latency_ms: float | None = None,
    detail: str | None = None,
    identity: str | None = None,
    request_id: str | int | None = None,
) -> dict[str, object]:
    """The event of an upstream's answer to the call decided in record ``ref``.

    ``upstream`` is one of ``OUTCOMES`` as a rule; ``latency_ms`` is the upstream's time.
    """
    return {
        "kind": "outcome",
        "ref": ref,
        "identity": identity,
        "request_id": request_id,
        "tool": tool,
        "upstream": upstream,
        "latency_ms": None if latency_ms is None else round(latency_ms, 3),
        "detail": detail,
    }


def notice_event(kind: str, *, detail: str | None = None, **fields: object) -> dict[str, object]:
    """The event of something the firewall did or saw that is not a decision.

    ``notice_event("ttl-stop", detail="background task past its ttl", connectionId="c1")``.
    """
    if kind in ("decision", "outcome"):
        raise UsageError(f"{kind!r} records are built with {kind}_event")
    return {"kind": kind, "detail": detail, **fields}
