"""Approval requests in the state backend: the queue an operator on another machine answers.

A request is created ``pending`` by the gateway whose call needs approval (docs/approval.md)
and ends in exactly one of:

- ``approved`` (then ``used`` once the call it unlocks goes on: a yes is used once, unless the
  policy lets it be reused for the identical call until ``reuse_until``),
- ``denied`` (an approver said no, or the client's user declined),
- ``expired`` (nobody answered in time), ``withdrawn`` (the client cancelled the call),
  ``void`` (the gateway that asked stopped or restarted).

Every change is one atomic compare-and-set on the backend (``transition``), so two approvers
answering at once, an answer racing the timeout, and a replayed yes each come out one way only.
The rules of who may answer are here once (``answer_problem``); each backend only stores.
``MemoryApprovals`` is the in-process backend; ``sshwall.limits.approvals_sqlite`` and
``approvals_redis`` share the queue across processes and machines.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal, get_args

from sshwall.errors import ApprovalError

ApprovalState = Literal["pending", "approved", "denied", "expired", "withdrawn", "void", "used"]
OPEN: frozenset[str] = frozenset({"pending"})
ENDED: frozenset[str] = frozenset({"denied", "expired", "withdrawn", "void", "used"})
POLL_S = 0.2
"""How often a waiter looks at a shared backend: an answer is seen within this (plus one read)."""


@dataclass(frozen=True)
class ApprovalRequest:
    """One request for approval of one exact call (see the module doc).

    ``key`` is the binding (``sshwall.proxy.approvalcall.approval_key``): identity, tool, canonical
    arguments, host, user, host key and policy revision; ``arguments`` are the call's arguments
    with secrets redacted, for the approver to read. Times are Unix seconds.
    """

    id: str
    key: str
    identity: str
    tool: str
    arguments: Mapping[str, Any]
    revision: str
    created: float
    expires: float
    host: str | None = None
    user: str | None = None
    port: int | None = None
    host_key: str | None = None
    command: str | None = None
    programs: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()
    approvers: tuple[str, ...] = ()
    reuse_s: float = 0.0
    gateway: str = ""
    state: ApprovalState = "pending"
    by: str | None = None
    channel: str | None = None
    answered: float | None = None
    note: str | None = None
    uses: int = 0
    reuse_until: float | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        """The request as one JSON object (what the shared backends store)."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @staticmethod
    def from_json(text: str | bytes) -> ApprovalRequest:
        """A request from ``to_json``'s text; ``ApprovalError`` when it is not one (not JSON, not
        an object, a field missing, unknown or of the wrong type)."""
        try:
            data = json.loads(text)
            if not isinstance(data, dict):
                raise TypeError(f"a JSON {type(data).__name__}, not an object")
            for name in _TUPLES:
                if not isinstance(data.get(name) or [], list):
                    raise TypeError(f"{name} is not a list")
                data[name] = tuple(data.get(name) or ())
            request = ApprovalRequest(**data)
            _check_types(request)
            return request
        except (ValueError, TypeError) as err:
            raise ApprovalError(f"a stored approval request cannot be read: {err}") from None

    def summary(self) -> dict[str, Any]:
        """What ``sshwall approvals list`` and ``GET /approvals`` show of it."""
        return {
            "id": self.id, "state": self.state, "identity": self.identity, "tool": self.tool,
            "host": self.host, "user": self.user, "command": self.command, "reasons": list(self.reasons),
            "created": self.created, "expires": self.expires, "by": self.by, "channel": self.channel,
        }


_TUPLES = ("programs", "reasons", "rules", "approvers")
_TEXT = ("id", "key", "identity", "tool", "revision", "gateway")
_NUMBERS = ("created", "expires", "reuse_s")
_MAYBE_TEXT = ("host", "user", "host_key", "command", "by", "channel", "note")
_MAYBE_NUMBERS = ("answered", "reuse_until")
_STATES = frozenset(get_args(ApprovalState))


def _check_types(request: ApprovalRequest) -> None:
    """``TypeError`` naming the first field of ``request`` (read from JSON) of the wrong type:
    the rules compare and do arithmetic on them, which must not fail halfway."""
    def number(value: object) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)

    def integer(value: object) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    wrong = (
        [n for n in _TEXT if not isinstance(getattr(request, n), str)]
        + [n for n in _NUMBERS if not number(getattr(request, n))]
        + [n for n in _MAYBE_TEXT if getattr(request, n) is not None and not isinstance(getattr(request, n), str)]
        + [n for n in _MAYBE_NUMBERS if getattr(request, n) is not None and not number(getattr(request, n))]
        + [n for n in _TUPLES if not all(isinstance(item, str) for item in getattr(request, n))]
        + [n for n in ("arguments", "extra") if not isinstance(getattr(request, n), dict)]
        + (["port"] if request.port is not None and not integer(request.port) else [])
        + (["uses"] if not integer(request.uses) else [])
        + (["state"] if request.state not in _STATES else [])
    )
    if wrong:
        raise TypeError(f"{wrong[0]} is {getattr(request, wrong[0])!r}")


KEEP_S = 7 * 86400.0
"""How long a shared backend keeps a request once it cannot matter any more (``kept_until``)."""


def kept_until(request: ApprovalRequest) -> float:
    """Until when a shared backend keeps ``request``: ``KEEP_S`` after its expiry or the end of
    its reuse, whichever is later (then it is deleted, so the queue does not grow forever)."""
    return max(request.expires, request.reuse_until or 0.0) + KEEP_S


def stored(request_id: str, body: str | bytes, where: str) -> ApprovalRequest:
    """The request a shared backend (``where``) holds under ``request_id``; ``ApprovalError``
    naming both when the body is not that request."""
    try:
        request = ApprovalRequest.from_json(body)
    except ApprovalError as err:
        raise ApprovalError(f"{where}: approval request {request_id}: {err}") from None
    if request.id != request_id:
        raise ApprovalError(f"{where}: approval request {request_id} holds the body of request {request.id}")
    return request


def answer_problem(request: ApprovalRequest, by: str, now: float) -> str | None:
    """Why ``by`` may not answer ``request`` now (None: they may). The one place of these rules:
    only a pending request, before it expires, by a listed approver, never the requester."""
    if request.state != "pending":
        return f"approval request {request.id} is {request.state}, not pending"
    if now >= request.expires:
        return f"approval request {request.id} expired at {_when(request.expires)}"
    if by == request.identity:
        return f"{by} asked for approval request {request.id} and cannot approve it itself"
    if not request.approvers:
        return f"the policy names no approvers, so nobody may answer approval request {request.id} from the queue"
    if by not in request.approvers:
        return f"{by} is not an approver of request {request.id} (the policy's approvers: {', '.join(request.approvers)})"
    return None


def use_problem(request: ApprovalRequest, key: str, now: float) -> str | None:
    """Why the call with ``key`` may not go on with ``request`` (None: it may)."""
    if request.key != key:
        return f"approval {request.id} was given for another call"
    if request.state == "used":
        return f"approval {request.id} was already used (a yes is used once)"
    if request.state != "approved":
        return f"approval request {request.id} is {request.state}, not approved"
    if request.uses and not _reusable(request, now):
        return f"approval {request.id} could be reused until {_when(request.reuse_until or 0)}; that has passed"
    return None


def _reusable(request: ApprovalRequest, now: float) -> bool:
    return request.reuse_until is not None and now < request.reuse_until


def answered(request: ApprovalRequest, approve: bool, by: str, channel: str, now: float,
             note: str | None = None) -> ApprovalRequest:
    """``request`` once ``by`` answered it through ``channel``."""
    reuse_until = now + request.reuse_s if approve and request.reuse_s > 0 else None
    return replace(request, state="approved" if approve else "denied", by=by, channel=channel, answered=now,
                   note=note, reuse_until=reuse_until)


def used(request: ApprovalRequest) -> ApprovalRequest:
    """``request`` once one more call went on with it: ``used`` unless it may be reused."""
    uses = request.uses + 1
    return replace(request, uses=uses, state="approved" if request.reuse_until is not None else "used")


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


class ApprovalStore:
    """Where approval requests live (the base of every backend).

    A backend implements ``create``, ``get``, ``list`` and ``transition`` (the atomic
    compare-and-set); the rules (``answer``, ``use``, ``close``) are written once, here, on top.
    ``shared``: other processes see the requests (``sshwall approvals`` can answer them).
    """

    shared = False
    where = "memory"

    async def create(self, request: ApprovalRequest) -> None:
        """Store a new request (its id is fresh)."""
        raise NotImplementedError

    async def get(self, request_id: str) -> ApprovalRequest | None:
        """The request with this id, None when there is none."""
        raise NotImplementedError

    async def list(self, states: Collection[str] | None = None) -> list[ApprovalRequest]:
        """Every request (in ``states``, when given), oldest first."""
        raise NotImplementedError

    async def transition(self, before: ApprovalRequest, after: ApprovalRequest) -> bool:
        """Replace ``before`` by ``after`` if the stored request still equals ``before``
        (atomic); False when it changed meanwhile."""
        raise NotImplementedError

    async def close(self) -> None:
        """Release the backend's connection."""

    async def _change(self, request_id: str, change: Any) -> ApprovalRequest:
        """Apply ``change(stored) -> new`` atomically, again on a lost race; ``change`` raises
        ``ApprovalError`` to refuse."""
        for _ in range(20):
            current = await self.get(request_id)
            if current is None:
                raise ApprovalError(f"there is no approval request {request_id}")
            new = change(current)
            if await self.transition(current, new):
                return new  # type: ignore[no-any-return]
        raise ApprovalError(f"approval request {request_id} keeps changing; try again")

    async def answer(self, request_id: str, approve: bool, by: str, channel: str, now: float | None = None,
                     note: str | None = None, *, check: bool = True) -> ApprovalRequest:
        """``by`` approves or denies a pending request; ``ApprovalError`` with the reason when
        they may not (``answer_problem``). ``check=False`` only for the elicitation channel,
        where the client's user, not a listed approver, answers."""
        moment = time.time() if now is None else now

        def change(current: ApprovalRequest) -> ApprovalRequest:
            if check:
                problem = answer_problem(current, by, moment)
            elif current.state != "pending":
                problem = f"approval request {current.id} is {current.state}, not pending"
            else:
                problem = None
            if problem is not None:
                raise ApprovalError(problem)
            return answered(current, approve, by, channel, moment, note)

        return await self._change(request_id, change)

    async def use(self, request_id: str, key: str, now: float | None = None) -> ApprovalRequest:
        """The call with ``key`` goes on under approval ``request_id``; ``ApprovalError`` when it
        may not (another call's approval, used already, not approved, reuse time passed)."""
        moment = time.time() if now is None else now

        def change(current: ApprovalRequest) -> ApprovalRequest:
            problem = use_problem(current, key, moment)
            if problem is not None:
                raise ApprovalError(problem)
            return used(current)

        return await self._change(request_id, change)

    async def end(self, request_id: str, state: Literal["expired", "withdrawn", "void"], note: str,
                  now: float | None = None) -> ApprovalRequest | None:
        """End a request still pending (it expired, its call was withdrawn, its gateway went);
        None when it was answered first (the answer stands)."""
        moment = time.time() if now is None else now

        def change(current: ApprovalRequest) -> ApprovalRequest:
            if current.state != "pending":
                raise _Answered()
            return replace(current, state=state, answered=moment, note=note)

        try:
            return await self._change(request_id, change)
        except _Answered:
            return None

    async def reusable(self, key: str, now: float | None = None) -> ApprovalRequest | None:
        """An approved request for ``key`` that may still be reused, if any."""
        moment = time.time() if now is None else now
        for request in await self.list(("approved",)):
            if request.key == key and use_problem(request, key, moment) is None and request.uses:
                return request
        return None

    async def wait(self, request_id: str, timeout: float) -> ApprovalRequest | None:
        """The request once it is no longer pending, or as it stands after ``timeout`` seconds
        (None: it is gone)."""
        deadline = time.monotonic() + timeout
        while True:
            current = await self.get(request_id)
            if current is None or current.state != "pending":
                return current
            left = deadline - time.monotonic()
            if left <= 0:
                return current
            await self._pause(request_id, min(POLL_S, left))

    async def _pause(self, request_id: str, seconds: float) -> None:
        """Sleep until the request may have changed (a backend may wake earlier)."""
        await asyncio.sleep(seconds)


class _Answered(Exception):
    """Private: ``end`` found the request answered (never leaves this module)."""


class MemoryApprovals(ApprovalStore):
    """Requests in this process only: answered through this gateway's own channels (the
    client's elicitation, the HTTP listener's ``/approvals``), never by ``sshwall approvals``."""

    def __init__(self) -> None:
        self._requests: dict[str, ApprovalRequest] = {}
        self._changed: dict[str, asyncio.Event] = {}

    async def create(self, request: ApprovalRequest) -> None:
        if request.id in self._requests:
            raise ApprovalError(f"approval request {request.id} exists already")
        self._requests[request.id] = request

    async def get(self, request_id: str) -> ApprovalRequest | None:
        return self._requests.get(request_id)

    async def list(self, states: Collection[str] | None = None) -> list[ApprovalRequest]:
        found = [r for r in self._requests.values() if states is None or r.state in states]
        return sorted(found, key=lambda r: (r.created, r.id))

    async def transition(self, before: ApprovalRequest, after: ApprovalRequest) -> bool:
        if self._requests.get(before.id) != before:
            return False
        self._requests[before.id] = after
        event = self._changed.pop(before.id, None)
        if event is not None:
            event.set()
        return True

    async def _pause(self, request_id: str, seconds: float) -> None:
        event = self._changed.setdefault(request_id, asyncio.Event())
        try:
            await asyncio.wait_for(event.wait(), seconds)
        except TimeoutError:
            pass


__all__ = [
    "ENDED", "KEEP_S", "OPEN", "POLL_S", "ApprovalRequest", "ApprovalState", "ApprovalStore", "MemoryApprovals",
    "answer_problem", "answered", "kept_until", "stored", "use_problem", "used",
]
