"""Stage ``identities``: every id the call names belongs to the caller's identity
(``sshwall.proxy.identityguard``)."""

from __future__ import annotations

from sshwall.proxy.identityguard import IdentityGuard
from sshwall.proxy.stages.context import Call
from sshwall.proxy.stages.pipeline import PureStage


class IdentityCheck(PureStage):
    """Denies a call on ids another identity opened."""

    name = "identities"

    def __init__(self, guard: IdentityGuard) -> None:
        self.guard = guard

    def check(self, call: Call) -> Call:
        refusal = self.guard.check(call.tool, call.args, call.caller.identity)
        return call if refusal is None else call.deny(refusal.rule, refusal.reason)
