"""The approval stage in process: a real policy, a real audit log, the memory queue, a fake
upstream. An operator's answer is given through the store (what ``sshwall approvals`` and
``POST /approvals`` do); the end-to-end runs through a gateway process, the CLI, SQLite and Redis
are in ``test_approval_queue_e2e.py`` and the elicitation ones in ``test_elicitation.py``.

What is checked: the binding (a yes unlocks only the exact call: not one byte changed, not
another identity, host or policy), use once and replay, reuse windows, timeouts, withdrawal on
cancel, the approver rules, the audit records (chained), and that a waiting call holds no rate
slot.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from sshwall.audit import AuditLog, verify
from sshwall.errors import ApprovalError
from sshwall.limits import open_state
from sshwall.limits.approvals import ApprovalRequest, MemoryApprovals
from sshwall.policy import load_policy
from sshwall.policy.model import Policy
from sshwall.proxy.approvalcall import approval_key
from sshwall.proxy.bindings import Binding
from sshwall.proxy.caller import Caller, Question
from sshwall.proxy.firewall import Firewall
from sshwall.proxy.limitguard import LimitGuard

POLICY = """
version: 1
profile: mcp-ssh
default: deny
approval: {channels: [queue], timeout: %(timeout)s, approvers: [lead], reuse: %(reuse)s}
hosts:
  prod: {match: [10.0.0.1, 10.0.0.2], users: [ops]}
  gated: {match: [10.0.0.9], decision: prompt, reason: "the payments host"}
tools:
  executeCommand:
    commands: ops
    limits: [{counter: exec, window: minute, max: 2, scope: grant}]
commands:
  ops:
    operators: [and]
    programs:
      uptime: {}
      systemctl:
        subcommands:
          restart: {decision: prompt, reason: "restarts a service", flags: [], min_operands: 1, max_operands: 1}
"""


def _policy(tmp_path: Path, timeout: float = 5, reuse: float = 0, extra: str = "") -> Policy:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY % {"timeout": timeout, "reuse": reuse} + extra)
    return load_policy(path)


class Upstream:
    """Records what reaches it."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def __call__(self, method: str, params: Any, *, client_id: Any = None) -> Any:
        self.sent.append(params)
        return {"content": [{"type": "text", "text": "ok"}], "isError": False}


class Rig:
    def __init__(self, tmp_path: Path, policy: Policy, store: MemoryApprovals | None = None) -> None:
        self.tmp_path = tmp_path
        self.policy = policy
        self.store = store or MemoryApprovals()
        self.audit_path = tmp_path / "audit.jsonl"

    async def __aenter__(self) -> Rig:
        self.state = await open_state("memory://")
        self.audit = AuditLog(self.audit_path, fsync=False)
        self.upstream = Upstream()
        self.firewall = Firewall(self.policy, self.upstream, self.audit, LimitGuard(self.policy, self.state, time.time),
                                 approvals=self.store)
        self.firewall.approval_guard.queue_reachable = True  # as with an HTTP listener serving /approvals
        for cid, host in (("c1", "10.0.0.1"), ("c2", "10.0.0.2"), ("c9", "10.0.0.9")):
            self.firewall.targets.bindings.bind(Binding(cid, host, 22, "ops", "gated" if host.endswith(".9") else "prod"))
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.audit.close()
        await self.state.close()

    async def call(self, command: str, conn: str = "c1", identity: str = "agent") -> dict[str, Any]:
        params = {"name": "executeCommand", "arguments": {"connectionId": conn, "command": command}}
        return await self.firewall.call_tool(params, Caller(identity))  # type: ignore[no-any-return]

    async def pending(self) -> ApprovalRequest:
        for _ in range(200):
            found = await self.store.list(("pending",))
            if found:
                return found[-1]
            await asyncio.sleep(0.01)
        raise AssertionError("no approval request appeared")

    async def answer_next(self, approve: bool = True, by: str = "lead") -> ApprovalRequest:
        request = await self.pending()
        return await self.store.answer(request.id, approve, by, "test")

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.audit_path.read_text().splitlines()]


def _text(result: dict[str, Any]) -> str:
    return str(result["content"][0]["text"])


def test_an_approved_call_goes_on_and_every_step_is_in_the_chained_audit(tmp_path: Path) -> None:
    async def go() -> None:
        async with Rig(tmp_path, _policy(tmp_path)) as rig:
            result, answered = await asyncio.gather(rig.call("systemctl restart nginx"), rig.answer_next())
            assert _text(result) == "ok" and len(rig.upstream.sent) == 1
            kinds = [r["kind"] for r in rig.records()]
            assert kinds == ["approval-requested", "approval-approved", "decision", "outcome"]
            decision = rig.records()[2]
            assert decision["approval"] == answered.id and decision["decision"] == "allow"
            assert "approval.granted" in decision["rules"]
            assert rig.records()[1]["approver"] == "lead"
            assert (await rig.store.get(answered.id)).state == "used"  # type: ignore[union-attr]
    asyncio.run(go())
    assert verify(tmp_path / "audit.jsonl").ok


def test_a_denied_approval_denies_with_who_and_why_and_nothing_is_sent(tmp_path: Path) -> None:
    async def go() -> None:
        async with Rig(tmp_path, _policy(tmp_path)) as rig:
            result, answered = await asyncio.gather(rig.call("systemctl restart nginx"), rig.answer_next(False))
            assert result["isError"] and rig.upstream.sent == []
            assert f"(rule approval.denied): lead declined approval request {answered.id}" in _text(result)
            assert result["structuredContent"]["sshwall"]["approval"] == answered.id
            assert [r["kind"] for r in rig.records()] == ["approval-requested", "approval-denied", "decision"]
    asyncio.run(go())


@pytest.mark.parametrize("other", [
    {"command": "systemctl restart nginx "},  # one byte more
    {"command": "systemctl restart nginy"},  # one byte changed
    {"identity": "agent2"},
    {"conn": "c2"},  # another host of the same group
])
def test_a_yes_is_for_the_exact_call_only(tmp_path: Path, other: dict[str, str]) -> None:
    async def go() -> None:
        async with Rig(tmp_path, _policy(tmp_path, timeout=0.5, reuse=60)) as rig:
            first, _ = await asyncio.gather(rig.call("systemctl restart nginx"), rig.answer_next())
            assert _text(first) == "ok"
            # The reuse window lets the identical call through at once...
            again = await rig.call("systemctl restart nginx")
            assert _text(again) == "ok" and "approval.reused" in rig.records()[-2]["rules"]
            # ...and nothing else: the changed call asks anew (and times out unanswered).
            args = {"command": "systemctl restart nginx", "conn": "c1", "identity": "agent"} | other
            changed = await rig.call(args["command"], args["conn"], args["identity"])
            assert changed["isError"] and "(rule approval.timeout)" in _text(changed)
            assert len(rig.upstream.sent) == 2
    asyncio.run(go())


def test_the_key_covers_every_part_and_the_policy_revision(tmp_path: Path) -> None:
    base = ("agent", "executeCommand", {"command": "x", "connectionId": "c1"}, "h", "u", 22, "SHA256:k", "sha256:r")
    key = approval_key(*base)
    assert key == approval_key("agent", "executeCommand", {"connectionId": "c1", "command": "x"}, *base[3:])
    for i in range(len(base)):
        changed = list(base)
        changed[i] = {"command": "y", "connectionId": "c1"} if i == 2 else (23 if i == 5 else str(base[i]) + "!")
        assert approval_key(*changed) != key, i
    one = _policy(tmp_path)
    two = _policy(tmp_path, extra="description: one more line\n")
    assert one.revision.startswith("sha256:") and one.revision != two.revision
    assert one.revision == _policy(tmp_path).revision


def test_an_approval_under_one_policy_does_not_unlock_the_call_under_another(tmp_path: Path) -> None:
    async def go() -> None:
        store = MemoryApprovals()
        async with Rig(tmp_path, _policy(tmp_path, reuse=60), store) as rig:
            first, _ = await asyncio.gather(rig.call("systemctl restart nginx"), rig.answer_next())
            assert _text(first) == "ok"
        changed = _policy(tmp_path, timeout=0.3, reuse=60, extra="description: reviewed\n")
        async with Rig(tmp_path, changed, store) as rig:  # the same queue, a changed policy
            again = await rig.call("systemctl restart nginx")
            assert again["isError"] and "(rule approval.timeout)" in _text(again)
            assert rig.upstream.sent == []
    asyncio.run(go())


def test_a_used_approval_cannot_be_replayed(tmp_path: Path) -> None:
    async def go() -> None:
        async with Rig(tmp_path, _policy(tmp_path, timeout=0.3)) as rig:
            first, answered = await asyncio.gather(rig.call("systemctl restart nginx"), rig.answer_next())
            assert _text(first) == "ok"
            with pytest.raises(ApprovalError, match="is used, not pending"):
                await rig.store.answer(answered.id, True, "lead", "test")
            with pytest.raises(ApprovalError, match="already used"):
                await rig.store.use(answered.id, answered.key)
            again = await rig.call("systemctl restart nginx")  # reuse 0: it asks anew
            assert again["isError"] and "(rule approval.timeout)" in _text(again)
            assert len(rig.upstream.sent) == 1
    asyncio.run(go())


def test_a_timeout_denies_expires_the_request_and_names_the_unlock_command(tmp_path: Path) -> None:
    async def go() -> None:
        async with Rig(tmp_path, _policy(tmp_path, timeout=0.2)) as rig:
            result = await rig.call("systemctl restart nginx")
            (request,) = await rig.store.list()
            assert request.state == "expired"
            assert f"sshwall approvals approve {request.id}" in _text(result)
            assert [r["kind"] for r in rig.records()] == ["approval-requested", "approval-expired", "decision"]
            with pytest.raises(ApprovalError, match="expired"):
                await rig.store.answer(request.id, True, "lead", "test")
    asyncio.run(go())


@pytest.mark.parametrize("who, why", [("agent", "cannot approve it itself"), ("mallory", "is not an approver")])
def test_only_a_listed_approver_other_than_the_requester_may_answer(tmp_path: Path, who: str, why: str) -> None:
    async def go() -> None:
        async with Rig(tmp_path, _policy(tmp_path, timeout=0.5)) as rig:
            async def try_answer() -> None:
                request = await rig.pending()
                with pytest.raises(ApprovalError, match=why):
                    await rig.store.answer(request.id, True, who, "test")
            result, _ = await asyncio.gather(rig.call("systemctl restart nginx"), try_answer())
            assert result["isError"] and rig.upstream.sent == []
    asyncio.run(go())


def test_a_cancelled_call_withdraws_its_request(tmp_path: Path) -> None:
    async def go() -> None:
        async with Rig(tmp_path, _policy(tmp_path)) as rig:
            task = asyncio.create_task(rig.call("systemctl restart nginx"))
            request = await rig.pending()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert (await rig.store.get(request.id)).state == "withdrawn"  # type: ignore[union-attr]
            assert rig.records()[-1]["kind"] == "approval-withdrawn"
            with pytest.raises(ApprovalError, match="withdrawn"):
                await rig.store.answer(request.id, True, "lead", "test")
    asyncio.run(go())


def test_a_stopping_gateway_voids_what_its_calls_wait_on(tmp_path: Path) -> None:
    async def go() -> None:
        async with Rig(tmp_path, _policy(tmp_path)) as rig:
            task = asyncio.create_task(rig.call("systemctl restart nginx"))
            request = await rig.pending()
            assert await rig.firewall.void_pending() == 1
            result = await task
            assert result["isError"] and "(rule approval.void)" in _text(result) and "the gateway stopped" in _text(result)
            assert (await rig.store.get(request.id)).state == "void"  # type: ignore[union-attr]
    asyncio.run(go())


def test_a_waiting_call_holds_no_rate_slot_and_an_approved_one_is_counted(tmp_path: Path) -> None:
    async def go() -> None:
        async with Rig(tmp_path, _policy(tmp_path)) as rig:  # the cap: 2 executeCommand a minute
            waiting = asyncio.create_task(rig.call("systemctl restart nginx"))
            await rig.pending()
            assert _text(await rig.call("uptime")) == "ok"
            assert _text(await rig.call("uptime")) == "ok"  # both slots, while one call waits
            await rig.answer_next()
            result = await waiting
            # Approved, then admitted like any call: the cap is full, so it is rate-denied.
            assert result["isError"] and _text(result).startswith("sshwall: denied (rule limits.exec): rate limit exec")
            assert result["structuredContent"]["sshwall"]["approval"]
            assert len(rig.upstream.sent) == 2
    asyncio.run(go())


def test_a_host_group_can_put_every_call_behind_approval(tmp_path: Path) -> None:
    async def go() -> None:
        async with Rig(tmp_path, _policy(tmp_path)) as rig:
            result, answered = await asyncio.gather(rig.call("uptime", conn="c9"), rig.answer_next())
            assert _text(result) == "ok"
            assert answered.reasons == ("the payments host",) and answered.host == "10.0.0.9"
            assert "hosts.gated.prompt" in answered.rules
    asyncio.run(go())
    assert load_policy(tmp_path / "policy.yaml").hosts["gated"].decision == "prompt"


def test_the_client_is_asked_first_when_it_can_be_and_its_no_denies(tmp_path: Path) -> None:
    asked: list[Question] = []

    async def ask(question: Question) -> dict[str, Any]:
        asked.append(question)
        return {"action": "decline"}

    async def go() -> None:
        policy = _policy(tmp_path, extra="")
        policy = policy.model_copy(update={"approval": policy.approval.model_copy(update={"channels": ("elicitation", "queue")})})
        async with Rig(tmp_path, policy) as rig:
            params = {"name": "executeCommand", "arguments": {"connectionId": "c1", "command": "systemctl restart nginx"}}
            result = await rig.firewall.call_tool(params, Caller("agent", ask=ask))
            assert result["isError"] and "(rule approval.denied)" in _text(result) and "chose decline" in _text(result)
            (question,) = asked
            assert "systemctl restart nginx" in question.message and "restarts a service" in question.message
            assert "systemctl restart" in question.message and "ops@10.0.0.1" in question.message
            assert question.schema["required"] == ["approve"]
    asyncio.run(go())


def test_no_reachable_channel_denies_at_once_and_says_why(tmp_path: Path) -> None:
    async def go() -> None:
        async with Rig(tmp_path, _policy(tmp_path)) as rig:
            rig.firewall.approval_guard.queue_reachable = False
            result = await rig.call("systemctl restart nginx")
            assert result["isError"] and "(rule approval.unreachable)" in _text(result)
            assert "visible to this process only" in _text(result)
    asyncio.run(go())


def test_a_restarted_gateway_voids_the_requests_of_the_one_that_is_gone(tmp_path: Path) -> None:
    async def go() -> None:
        store = MemoryApprovals()
        async with Rig(tmp_path, _policy(tmp_path), store) as rig:
            guard = rig.firewall.approval_guard
            host = guard.gateway.rpartition(":")[0]
            dead = ApprovalRequest("dead1", "k", "agent", "executeCommand", {}, "r", 0.0, 1e12, gateway=f"{host}:999999999")
            mine = ApprovalRequest("mine1", "k", "agent", "executeCommand", {}, "r", 0.0, 1e12, gateway=guard.gateway)
            other = ApprovalRequest("away1", "k", "agent", "executeCommand", {}, "r", 0.0, 1e12, gateway="elsewhere:1")
            for request in (dead, mine, other):
                await store.create(request)
            assert await guard.void_stale() == 1
            states = {r.id: r.state for r in await store.list()}
            assert states == {"dead1": "void", "mine1": "pending", "away1": "pending"}
            assert rig.records()[-1]["kind"] == "approval-void"
    asyncio.run(go())
