"""Stage ``terminal``: the line a terminal session has typed so far.

A ``writeToTerminal``-like call is decided on its keystrokes replayed after the text typed
earlier on the same line (replayed once, here, and carried in the call); once the upstream took
the keystrokes, the line as they leave it continues in the session's next call.
"""

from __future__ import annotations

from dataclasses import replace

from sshwall.engine.keystrokes import replay
from sshwall.proxy.stages.context import Call, Outcome, TerminalInput
from sshwall.proxy.stages.pipeline import PureStage


class TerminalLine(PureStage):
    """Keeps, per terminal session, the text typed on its current line."""

    name = "terminal"

    def __init__(self) -> None:
        self.typed: dict[str, str] = {}  # terminal session -> text typed on its current line

    def check(self, call: Call) -> Call:
        plan = call.plan
        rule = plan.rule if plan is not None else None
        if plan is None or rule is None or rule.terminal is None:
            return call
        session, data = plan.value("session", call.args), plan.value("terminal-input", call.args)
        if not isinstance(session, str) or not isinstance(data, str):
            return call
        typed = self.typed.get(session, "")
        keys = replay(data, rule.terminal.allow_control, typed)
        return replace(call, terminal=TerminalInput(session, data, typed, keys))

    async def after(self, call: Call, outcome: Outcome) -> None:
        if outcome.ok and call.terminal is not None:
            self.typed[call.terminal.session] = call.terminal.keys.pending
