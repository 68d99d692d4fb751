"""Shadow mode (``sshwall serve --mode shadow``, docs/shadow-replay.md).

In process: a real policy, a real audit log, the memory state, a small fake upstream; the
limit guard's injectable clock. Then a real ``sshwall serve --mode shadow`` process in front
of the fake stdio upstream (``tests/proxy/fake_upstream.py --record``), and the refusal of a
``shadow: never`` policy before anything starts.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from sshwall.audit import AuditLog, verify
from sshwall.engine import Decision, Hit, Verdict
from sshwall.errors import PolicyError, UsageError
from sshwall.limits import open_state
from sshwall.limits.approvals import MemoryApprovals
from sshwall.policy import load_policy
from sshwall.proxy.bindings import Binding
from sshwall.proxy.firewall import Caller, Firewall
from sshwall.proxy.limitguard import LimitGuard
from sshwall.proxy.stages import Call
from sshwall.proxy.stages.forward import shadow_sends
from tests.proxy.gateway import FAKE_UPSTREAM, audit_records, decisions, gateway_env, serve_argv, start_gateway
from tests.support.clock import FakeClock

POLICY = """
version: 1
profile: mcp-ssh
default: deny
%(extra)s
hosts:
  prod: {match: [10.0.0.1], commands: ops}
tools:
  executeCommand: {commands: ops, limits: [{counter: exec, window: minute, max: 3, scope: grant}]}
commands:
  ops:
    programs:
      uptime: {}
      echo: {}
      systemctl:
        subcommands:
          restart: {decision: prompt, reason: "restarts a service", flags: [], min_operands: 1, max_operands: 1}
"""
CONN = "c-prod"


def _write(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY % {"extra": extra})
    return path


class Upstream:
    """A fake upstream: records what it was sent, answers ``ok``."""

    def __init__(self) -> None:
        self.sent: list[Any] = []

    async def __call__(self, method: str, params: Any, *, client_id: Any = None) -> Any:
        self.sent.append(params)
        return {"content": [{"type": "text", "text": "ok"}], "isError": False}


class Rig:
    """A shadow (or enforcing) firewall over a memory state, an audit log, the fake upstream."""

    def __init__(self, tmp_path: Path, mode: str = "shadow", extra: str = "") -> None:
        self.policy = load_policy(_write(tmp_path, extra))
        self.audit_path = tmp_path / "audit.jsonl"
        self.mode = mode

    async def __aenter__(self) -> Rig:
        self.state = await open_state("memory://")
        self.audit = AuditLog(self.audit_path, fsync=False)
        self.upstream = Upstream()
        self.approvals = MemoryApprovals()
        self.limits = LimitGuard(self.policy, self.state, FakeClock())
        self.firewall = Firewall(self.policy, self.upstream, self.audit, self.limits, approvals=self.approvals,
                                 mode=self.mode)
        self.firewall.targets.bindings.bind(Binding(CONN, "10.0.0.1", 22, "ops", "prod"))
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.audit.close()
        await self.state.close()

    async def run(self, command: str) -> Any:
        params = {"name": "executeCommand", "arguments": {"connectionId": CONN, "command": command}}
        return await self.firewall.call_tool(params, Caller("test"))

    def records(self) -> list[dict[str, Any]]:
        return audit_records(self.audit_path)


def test_a_denied_call_is_forwarded_and_audited_would_deny(tmp_path: Path) -> None:
    async def go() -> None:
        async with Rig(tmp_path) as rig:
            denied = await rig.run("rm -rf /tmp/x")
            allowed = await rig.run("uptime")
            assert not denied["isError"] and not allowed["isError"]  # the upstream's own answers
            assert [p["arguments"]["command"] for p in rig.upstream.sent] == ["rm -rf /tmp/x", "uptime"]
            records = rig.records()
            assert all(r["mode"] == "shadow" for r in records)
            (d1, o1, d2, o2) = records
            assert (d1["kind"], d1["decision"], d1["upstream"], d1["would"]) == ("decision", "deny", "pending", "would-deny")
            assert d1["rules"] and all(rule.startswith(("ops", "default")) for rule in d1["rules"])
            assert (o1["kind"], o1["ref"], o1["upstream"]) == ("outcome", d1["seq"], "ok")
            assert (d2["decision"], d2["upstream"]) == ("allow", "pending") and "would" not in d2
            assert o2["ref"] == d2["seq"]
    asyncio.run(go())
    assert verify(tmp_path / "audit.jsonl").ok


def test_enforce_mode_is_unchanged(tmp_path: Path) -> None:
    async def go() -> None:
        async with Rig(tmp_path, mode="enforce") as rig:
            denied = await rig.run("rm -rf /tmp/x")
            assert denied["isError"] and rig.upstream.sent == []
            (record,) = rig.records()
            assert record["upstream"] == "not-forwarded" and "mode" not in record and "would" not in record
    asyncio.run(go())


def test_a_prompt_is_forwarded_without_asking(tmp_path: Path) -> None:
    async def go() -> None:
        async with Rig(tmp_path) as rig:
            result = await asyncio.wait_for(rig.run("systemctl restart nginx"), 5)
            assert not result["isError"] and len(rig.upstream.sent) == 1
            assert await rig.approvals.list() == []  # no one was asked
            decision = rig.records()[0]
            assert (decision["decision"], decision["would"], decision["upstream"]) == ("prompt", "would-prompt", "pending")
            assert "approval" not in decision
    asyncio.run(go())


def test_rate_caps_still_count(tmp_path: Path) -> None:
    async def go() -> None:
        async with Rig(tmp_path) as rig:
            for _ in range(4):
                await rig.run("uptime")
            assert len(rig.upstream.sent) == 4  # the fourth goes too: nothing is enforced
            made = [r for r in rig.records() if r["kind"] == "decision"]
            assert [r["decision"] for r in made] == ["allow", "allow", "allow", "deny"]
            assert made[3]["would"] == "would-deny" and made[3]["rules"] == ["limits.exec"]
    asyncio.run(go())


def test_what_shadow_cannot_forward_is_refused(tmp_path: Path) -> None:
    async def go() -> None:
        async with Rig(tmp_path) as rig:
            nameless = await rig.firewall.call_tool({"arguments": {}}, Caller("test"))
            odd = await rig.firewall.call_tool({"name": "executeCommand", "arguments": ["uptime"]}, Caller("test"))
            assert nameless["isError"] and odd["isError"] and rig.upstream.sent == []
            assert [r["upstream"] for r in rig.records()] == ["not-forwarded", "not-forwarded"]
            assert all("would" not in r for r in rig.records())
            rig.audit.close()  # no record, nothing sent
            result = await rig.run("uptime")
            assert "audit.unavailable" in result["content"][0]["text"] and rig.upstream.sent == []
    asyncio.run(go())


@pytest.mark.parametrize("rule", ["state.unavailable", "state.error", "input.malformed"])
def test_state_errors_are_never_forwarded(rule: str) -> None:
    policy = load_policy(Path(__file__).resolve().parents[2] / "rules" / "readonly-ops.yaml")
    call = Call.start(policy, {"name": "executeCommand", "arguments": {"command": "uptime"}}, Caller("test"))
    assert shadow_sends(call.deny("ops.rm", "not in the set"))
    assert not shadow_sends(call.deny("ops.rm", "not in the set").deny(rule, "down"))
    allowed = replace(call, verdict=Verdict(Decision.ALLOW, (Hit("x", Decision.ALLOW, "ok"),)))
    assert not shadow_sends(allowed.deny(rule, "down"))


def test_shadow_never_refuses_the_firewall_and_a_reload(tmp_path: Path) -> None:
    never = load_policy(_write(tmp_path, "shadow: never"))
    assert never.shadow == "never" and load_policy(_write(tmp_path)).shadow == "allowed"
    with pytest.raises(UsageError, match="shadow: never"):
        Firewall(never, Upstream(), mode="shadow")
    Firewall(never, Upstream())  # enforcing is fine
    shadow = Firewall(load_policy(_write(tmp_path)), Upstream(), mode="shadow")
    with pytest.raises(PolicyError, match="shadow: never"):
        shadow.reload(never)
    assert shadow.policy.shadow == "allowed"


def test_serve_refuses_shadow_never_before_anything_starts(tmp_path: Path) -> None:
    rules = _write(tmp_path, "shadow: never")
    audit = tmp_path / "audit.jsonl"
    marker = tmp_path / "upstream-started"
    argv = serve_argv(rules, audit, ["--mode", "shadow", "--", sys.executable, "-c",
                                     f"open({str(marker)!r}, 'w').close()"])
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=gateway_env(), stdin=subprocess.DEVNULL)
    assert done.returncode == 2, done.stderr
    assert "shadow: never" in done.stderr
    assert not audit.exists() and not marker.exists()


def test_a_real_shadow_gateway_forwards_and_says_so(tmp_path: Path) -> None:
    rules = tmp_path / "policy.yaml"
    rules.write_text("version: 1\nprofile: mcp-ssh\ndefault: deny\ntools:\n  executeCommand: {commands: ops}\n"
                     "commands:\n  ops:\n    programs: {echo: {}}\n")
    audit, log, sent = tmp_path / "audit.jsonl", tmp_path / "gateway.log", tmp_path / "sent.jsonl"
    argv = serve_argv(rules, audit, ["--mode", "shadow", "--", sys.executable, str(FAKE_UPSTREAM), "--record", str(sent)])
    with start_gateway("stdio", "legacy", argv, audit, log) as gw:
        assert gw.call("executeCommand", {"connectionId": "c1", "command": "echo hi"}).text.startswith("hi")
        forbidden = gw.call("executeCommand", {"connectionId": "c1", "command": "echo $(id)"})
        assert not forbidden.denied
        banner = gw.log_text()
    assert "SHADOW MODE: NOTHING IS ENFORCED" in banner
    frames = [json.loads(line) for line in sent.read_text().splitlines() if line.startswith("{")]
    commands = [f["params"]["arguments"]["command"] for f in frames if f.get("method") == "tools/call"]
    assert commands == ["echo hi", "echo $(id)"]
    made = decisions(audit)
    assert [(r["decision"], r.get("would"), r["mode"]) for r in made] == [("allow", None, "shadow"),
                                                                          ("deny", "would-deny", "shadow")]
    assert all(r.get("mode") == "shadow" for r in audit_records(audit))
    assert verify(audit).ok
