"""Stage ``connect``: a connect's host, user and port against the host rules (and the caller's
grant), then its host key, checked before it is forwarded (``TargetGuard.check_connect``).
Only for calls not yet denied (a call that needs approval is checked before anyone is asked):
a denied call costs no lookup."""

from __future__ import annotations

from dataclasses import replace

from sshwall.engine import Decision
from sshwall.proxy.stages.context import Call
from sshwall.proxy.stages.pipeline import Stage
from sshwall.proxy.targetguard import TargetGuard


class ConnectCheck(Stage):
    """Host rules and host keys of connects (resolving names, fetching keys: not pure)."""

    name = "connect"

    def __init__(self, targets: TargetGuard) -> None:
        self.targets = targets

    async def before(self, call: Call) -> Call:
        if call.verdict.decision == Decision.DENY:
            return call
        verdict = await self.targets.check_connect(call.tool, call.args, call.verdict, call.caller.identity)
        return replace(call, verdict=verdict)
