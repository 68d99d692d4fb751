"""Stage ``approve``: a call whose verdict is ``prompt`` waits for a human's answer to that
exact call (``sshwall.proxy.approvals``), then goes on allowed or denied. It runs after every
check that can deny (a call that would be denied anyway bothers nobody) and before the limits
(a waiting call holds no rate slot; an approved one is admitted like any other)."""

from __future__ import annotations

from sshwall.engine import Decision
from sshwall.proxy.approvals import ApprovalGuard
from sshwall.proxy.stages.context import Call
from sshwall.proxy.stages.pipeline import Stage


class Approve(Stage):
    """Turns ``prompt`` into allow or deny by the answer of an approver."""

    name = "approve"

    def __init__(self, guard: ApprovalGuard | None, shadow: bool = False) -> None:
        self.guard = guard
        # Shadow mode asks no one: the call stays `prompt`, is forwarded and recorded `would-prompt`.
        self.shadow = shadow

    async def before(self, call: Call) -> Call:
        if call.verdict.decision != Decision.PROMPT or self.shadow:
            return call
        if self.guard is None:
            return call.deny("approval.unavailable", "approval required, but this gateway has no one to ask")
        return await self.guard.settle(call)
