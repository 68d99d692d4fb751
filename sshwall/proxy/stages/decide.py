"""Stage ``decide``: the policy's verdict on the call (the engine, pure), where it lands taken
into account: the host group's command set, the connection's folder and password facts, the
caller's grant; a call that lands nowhere it may (``locate``'s problem) is denied."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sshwall.engine import Decision, Hit, ToolCall, Verdict, evaluate
from sshwall.engine.grants import narrow
from sshwall.engine.keystrokes import Keystrokes
from sshwall.engine.rewrites import ConnectionFacts
from sshwall.engine.workdir import Workdir
from sshwall.policy import Policy
from sshwall.proxy.stages.context import Call
from sshwall.proxy.stages.pipeline import PureStage
from sshwall.proxy.targetguard import prompt_hit


def decide(policy: Policy, name: Any, arguments: Any, command_set: str | None = None, typed: str = "",
           connection: ConnectionFacts | None = None, workdir: Workdir | None = None,
           identity: str | None = None, upstream_home: str | None = None,
           keystrokes: Keystrokes | None = None) -> Verdict:
    """The policy's verdict on one call (pure); ``workdir``: the connection's folder and home;
    ``identity``: whose grant narrows it (``sshwall.engine.grants``); ``keystrokes``: its
    terminal input already replayed after ``typed`` (the ``terminal`` stage's)."""
    if not isinstance(name, str) or not name:
        return Verdict.of([Hit("input.malformed", Decision.DENY, "tools/call without a tool name")])
    call = ToolCall(name, {} if arguments is None else arguments)

    def under(commands: str | None) -> Verdict:
        return evaluate(policy, call, command_set=commands or command_set, typed=typed, connection=connection,
                        upstream_home=upstream_home, workdir=workdir, keystrokes=keystrokes)

    verdict = under(None)
    return verdict if identity is None else narrow(policy, identity, call, verdict, under)


class Decide(PureStage):
    """The engine's verdict, plus ``locate``'s problem."""

    name = "decide"

    def __init__(self, policy: Policy, upstream_home: str | None = None) -> None:
        self.policy = policy
        self.upstream_home = upstream_home

    def check(self, call: Call) -> Call:
        where, terminal = call.where, call.terminal
        verdict = decide(self.policy, call.name, call.arguments, where.command_set,
                         terminal.typed if terminal else "", where.facts,
                         where.binding.workdir if where.binding else None, call.caller.identity, self.upstream_home,
                         terminal.keys if terminal else None)
        group = self.policy.hosts.get(where.binding.group) if where.binding and where.binding.group else None
        if group is not None and group.decision == "prompt" and where.binding is not None:
            verdict = Verdict.of([*verdict.hits, prompt_hit(where.binding.group or "", group.reason)])
        call = replace(call, verdict=verdict)
        return call.deny(where.rule, where.problem) if where.problem is not None else call

