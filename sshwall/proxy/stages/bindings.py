"""Stage ``bindings``: what a successful call's reply teaches about ids (``TargetGuard.remember``):
the connection a connect opened (bound to its host, owned by the caller), the terminal
sessions and tunnels opened on it, the ids deleted, the folder a reply states."""

from __future__ import annotations

from sshwall.engine import Decision
from sshwall.proxy.stages.context import Call, Outcome
from sshwall.proxy.stages.pipeline import Stage
from sshwall.proxy.targetguard import TargetGuard


class Bind(Stage):
    """Binds what a successful call opened, forgets what it deleted."""

    name = "bindings"

    def __init__(self, targets: TargetGuard) -> None:
        self.targets = targets

    async def after(self, call: Call, outcome: Outcome) -> None:
        # A denied call reaches the upstream only in shadow mode: it binds nothing, so the calls
        # after it are decided as an enforcing gateway would decide them (docs/shadow-replay.md).
        if outcome.ok and call.verdict.decision != Decision.DENY:
            await self.targets.remember(call.tool, call.args, outcome.result, call.where, call.caller.identity)
