"""Stage ``forward``: a denied call gets its denial, an allowed one goes upstream.

The denial is a tool result with ``isError: true`` whose first line reads ``sshwall: denied
(rule ID): reason``, so the agent can read why; the upstream's result goes back unchanged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from dataclasses import replace
from typing import Any, Protocol

from sshwall.engine import Decision, Hit, Verdict
from sshwall.proxy.jsonrpc import tool_error
from sshwall.proxy.stages.context import Answer, Call
from sshwall.proxy.stages.pipeline import Stage


class Send(Protocol):
    """Sends one request upstream; ``client_id`` lets a client's cancellation follow it."""

    def __call__(self, method: str, params: Any, *, client_id: Any = None) -> Awaitable[Any]: ...


def denial_text(verdict: Verdict) -> str:
    """The text a denied call returns: first line ``sshwall: denied (rule ID): reason``."""
    hits = verdict.deciding or (Hit("default", Decision.DENY, "denied"),)
    what = "denied" if verdict.decision == Decision.DENY else "denied: approval required"
    lines = [f"sshwall: {what} (rule {hits[0].rule}): {hits[0].reason}"]
    lines += [f"also (rule {h.rule}): {h.reason}" for h in hits[1:]]
    return "\n".join(lines)


UNFORWARDABLE = frozenset({"input.malformed", "state.unavailable", "state.error", "audit.unavailable"})
"""Rules whose denial even shadow mode keeps: a call sshwall cannot forward (malformed) or
whose state it cannot keep (rate counters, task registry unavailable)."""


def shadow_sends(call: Call) -> bool:
    """In shadow mode, whether ``call`` goes upstream whatever its verdict: yes, unless it is
    malformed (no tool name, arguments not an object) or a rule of ``UNFORWARDABLE`` denied it."""
    if not isinstance(call.name, str) or not call.name:
        return False
    if call.arguments is not None and not isinstance(call.arguments, Mapping):
        return False
    return not any(h.rule in UNFORWARDABLE for h in call.verdict.hits if h.decision == Decision.DENY)


def forwards(call: Call, shadow: bool = False) -> bool:
    """Whether the forward stage sends ``call`` upstream (the audit stage records the same)."""
    return call.allowed or (shadow and shadow_sends(call))


class Forward(Stage):
    """Answers the denial, or sends the call and answers the upstream's result; with
    ``shadow``, a denied call is sent too (``shadow_sends``; docs/shadow-replay.md)."""

    name = "forward"
    sends = True

    def __init__(self, send: Send, shadow: bool = False) -> None:
        self.send = send
        self.shadow = shadow

    async def before(self, call: Call) -> Call:
        if not forwards(call, self.shadow):
            data = call.verdict.to_json() | ({"approval": call.approval} if call.approval else {})
            return replace(call, answer=Answer(tool_error(denial_text(call.verdict), {"sshwall": data}), "denied"))
        result = await self.send("tools/call", call.forwarded, client_id=call.request_id)
        failed = isinstance(result, Mapping) and bool(result.get("isError"))
        return replace(call, answer=Answer(result, "tool-error" if failed else "ok"))
