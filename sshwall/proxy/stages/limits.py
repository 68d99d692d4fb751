"""Stage ``limits``: rate caps and background-task caps (``sshwall.proxy.limitguard``).

``before`` admits the call (a background task is registered, rate slots are taken; a state
backend error denies). ``after`` settles the admission by the outcome: confirmed when the
upstream answered, undone when the call failed or was never sent, kept as maybe started when
it was sent and no answer came (the upstream may still run it); then the task registry follows
the stop calls that went through.
"""

from __future__ import annotations

from dataclasses import replace

from sshwall.engine import ToolCall
from sshwall.proxy.caller import Caller
from sshwall.proxy.limitguard import LimitGuard
from sshwall.proxy.stages.context import Call, Outcome
from sshwall.proxy.stages.pipeline import Stage


class LimitCheck(Stage):
    """The limits of one gateway: rate caps and background-task caps."""

    name = "limits"

    def __init__(self, guard: LimitGuard | None) -> None:
        self.guard = guard

    async def before(self, call: Call) -> Call:
        if self.guard is None or not isinstance(call.name, str):
            return call
        binding = call.where.binding
        who = Caller(call.caller.identity, call.caller.session, binding.host if binding else None)
        admission = await self.guard.admit(ToolCall(call.name, call.args), call.verdict, who, call.where.limits,
                                           interval_ms=call.interval_ms)
        return replace(call, verdict=admission.verdict, admission=admission)

    async def after(self, call: Call, outcome: Outcome) -> None:
        guard, admission = self.guard, call.admission
        if guard is None or admission is None:
            return
        if outcome.ok:
            guard.confirm(admission)
        elif outcome.maybe_ran:
            guard.unsure(admission, ToolCall(call.tool, call.args))
        else:
            await guard.undo(admission)
        if outcome.answered:
            await guard.after(ToolCall(call.tool, call.args), outcome.ok, outcome.result)
