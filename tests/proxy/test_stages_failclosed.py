"""Stages fail closed whatever goes wrong inside them.

After a key-only connect the ``probe`` stage asks the upstream whether the connection holds a
password after all; until it answers, the binding says ``unknown`` (a concurrent call on the same
id is never decided as passwordless), and only a readable "no password" answer makes it ``none``.
A probe that gets no readable answer must count as holding one: an upstream error, a bug in sending (any exception) and a cancellation
all leave the binding at ``unknown``. And ``preview`` (what ``sshwall check`` decides by)
turns a pure stage that raises into a deny, never a crash.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from sshwall.engine import Decision, Hit, Verdict
from sshwall.errors import UpstreamTimeout
from sshwall.policy import load_policy
from sshwall.proxy.firewall import Caller
from sshwall.proxy.stages import Call, Outcome, PasswordProbe, Pipeline, PureStage, Recorder
from sshwall.proxy.targetguard import Location, TargetGuard

CONN = "8b7654d11f5a785e54182ebc7853d88c"  # what Mcp Ssh derives for root@127.0.0.1:42043
ARGS = {"host": "127.0.0.1", "port": 42043, "username": "root", "privateKey": "k"}
REPLY = (f"连接成功!\n\n🟢 n\nID: {CONN}\n主机: 127.0.0.1:42043\n用户名: root\n私钥认证: 是\n"
         "状态: 已连接\n当前目录: /root\n活跃度: 刚刚活跃\n")


def _bound(tmp_path: Path) -> TargetGuard:
    path = tmp_path / "p.yaml"
    path.write_text("version: 1\nprofile: mcp-ssh\nupstream_saved_passwords: none\ntools: {connect: allow}\n")
    guard = TargetGuard(load_policy(path))
    result = {"content": [{"type": "text", "text": REPLY}]}
    asyncio.run(guard.remember("connect", ARGS, result, Location()))
    binding = guard.bindings.of_connection(CONN)
    assert binding is not None and binding.password == "unknown"  # until the probe answers
    assert guard.password_probe("connect", ARGS) is not None
    return guard


def _probe(guard: TargetGuard, failure: BaseException) -> None:
    async def send(method: str, params: Any, *, client_id: Any = None) -> Any:
        raise failure

    probe = PasswordProbe(guard, send, Recorder(None))
    call = Call.start(guard.policy, {"name": "connect", "arguments": ARGS}, Caller())
    ok = {"content": [{"type": "text", "text": REPLY}]}
    asyncio.run(probe.after(call, Outcome("ok", True, ok, "ok")))


@pytest.mark.parametrize("failure", [UpstreamTimeout("no answer"), RuntimeError("a bug in sending")],
                         ids=["upstream-error", "bug"])
def test_a_probe_without_an_answer_counts_as_a_password(tmp_path: Path, failure: BaseException) -> None:
    guard = _bound(tmp_path)
    _probe(guard, failure)
    binding = guard.bindings.of_connection(CONN)
    assert binding is not None and binding.password == "unknown"


def test_only_a_readable_no_password_answer_makes_the_binding_passwordless(tmp_path: Path) -> None:
    guard = _bound(tmp_path)
    tool, args = guard.password_probe("connect", ARGS) or ("", {})
    assert guard.learn_password(tool, args, {"content": [{"type": "text", "text": REPLY}]}) is False
    binding = guard.bindings.of_connection(CONN)
    assert binding is not None and binding.password == "none"
    assert guard.password_probe("connect", ARGS) is None  # answered: no second probe


def test_a_cancelled_probe_counts_as_a_password_and_still_cancels(tmp_path: Path) -> None:
    guard = _bound(tmp_path)
    with pytest.raises(asyncio.CancelledError):
        _probe(guard, asyncio.CancelledError())
    binding = guard.bindings.of_connection(CONN)
    assert binding is not None and binding.password == "unknown"


class _Broken(PureStage):
    name = "broken"

    def check(self, call: Call) -> Call:
        raise KeyError("a bug in a pure stage")


def test_a_pure_stage_that_raises_denies_the_preview(tmp_path: Path) -> None:
    policy = _bound(tmp_path).policy
    call = Call.start(policy, {"name": "connect", "arguments": ARGS}, Caller())
    allowed = replace(call, verdict=Verdict.of([Hit("tools.connect", Decision.ALLOW, "allowed")]))
    previewed = Pipeline([_Broken()]).preview(allowed)
    assert previewed.verdict.decision == Decision.DENY and "engine.error" in previewed.verdict.rules
