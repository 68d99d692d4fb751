"""The events the proxy hands to ``AuditLog.append``, built in one place so every record agrees.

Three kinds of record:

- ``decision``: one per ``tools/call``, written *before* anything is forwarded. ``upstream`` is
  ``pending`` when the call is about to be forwarded, ``not-forwarded`` otherwise.
- ``outcome``: what the upstream did with a forwarded call, written when it answered (or
  failed); ``ref`` is the ``seq`` of its decision record.
- anything else (``ttl-stop``, ``upstream-restart``, ``state-error``...): a notice about the
  firewall's own work, with a free-form ``detail`` and extra fields. ``policy-reload`` marks
  each attempt to reload the policy (``ok``, ``old`` and ``new`` revisions or the ``error``,
  the ``files``; docs/reload.md).

The gateway adds ``policy`` to every record it writes (``sshwall.proxy.stages.audit.Recorder``):
the revision (``Policy.revision``) a decision and its outcome were decided under, the one in
force for a notice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from sshwall.audit.redact import NOT_AN_OBJECT, JsonValue, sanitize_fields
from sshwall.errors import UsageError

PENDING = "pending"
NOT_FORWARDED = "not-forwarded"
OUTCOMES = ("ok", "tool-error", "error", "timeout", "upstream-died", "cancelled")
"""The usual ``upstream`` values of an outcome record (others are allowed)."""


def _text(value: object) -> str:
    return str(getattr(value, "value", value))  # a Decision enum, or its string


def _as_object(arguments: object) -> object:
    """Arguments that are not a JSON object (malformed input) are kept under ``NOT_AN_OBJECT``."""
    return arguments if isinstance(arguments, Mapping) else {NOT_AN_OBJECT: arguments}


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
    forwarded: object = None,
    approval: str | None = None,
) -> dict[str, JsonValue]:
    """The event of one decision, redacted here: ``arguments`` with ``secret_names``, the key
    patterns and the text rules, and every secret found there also scrubbed from ``reasons``
    and the other fields (see ``sshwall.audit.redact``); ``latency_ms`` is the time sshwall took to decide; ``decision`` may be a
    ``Decision`` or its value. ``upstream`` defaults from the decision (see the module doc).
    ``forwarded``: the arguments as sshwall forwards them, when it changed them (a default
    interval, its run-time wrapper around a scheduled command); the decision was made on
    ``arguments``. Redacted the same way; absent when nothing changed. ``approval``: the
    approval request the call waited on (absent when none).
    """
    verdict = _text(decision)
    extra: dict[str, object] = {} if forwarded is None else {"forwarded": _as_object(forwarded)}
    if approval is not None:
        extra["approval"] = approval
    return sanitize_fields({
        "kind": "decision",
        "identity": identity,
        "request_id": request_id,
        "tool": tool,
        "arguments": _as_object(arguments),
        "decision": verdict,
        "rules": list(rules),
        "reasons": list(reasons),
        "latency_ms": None if latency_ms is None else round(latency_ms, 3),
        "upstream": upstream or (PENDING if verdict == "allow" else NOT_FORWARDED),
        **extra,
    }, secret_names)


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
