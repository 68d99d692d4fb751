"""Identities and grants, unit by unit: the pure grant narrowing, the id owner check, the
task-owner check of the limit guard (memory state), the policy's grant validation."""

from __future__ import annotations

import asyncio
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from sshwall.engine import Decision
from sshwall.errors import PolicyError
from sshwall.limits import open_state
from sshwall.policy import load_policy
from sshwall.proxy.bindings import Binding
from sshwall.proxy.firewall import Caller, Firewall
from sshwall.proxy.limitguard import LimitGuard

POLICY = """
    version: 1
    profile: mcp-ssh
    hosts:
      prod: {match: [10.0.0.1]}
      staging: {match: [10.0.0.2]}
    grants:
      narrow: {commands: tiny, tools: [executeCommand, stopBackground]}
      oncall: {hosts: [staging]}
      boss: {operator: true}
    tools:
      executeCommand: {commands: ops}
      backgroundExecute: {commands: ops, interval: {min: 1s}}
      stopBackground: allow
      listConnections: allow
      disconnect: allow
    commands:
      ops: {programs: {uptime: {}, echo: {}}}
      tiny: {programs: {uptime: {}}}
"""


def _policy(tmp_path: Path, text: str = POLICY) -> Any:
    path = tmp_path / "p.yaml"
    path.write_text(textwrap.dedent(text))
    return load_policy(path)


def _firewall(tmp_path: Path, shared: bool = True, limits: LimitGuard | None = None) -> tuple[Firewall, list[Any]]:
    sent: list[Any] = []

    async def forward(method: str, params: Any, *, client_id: Any = None) -> Any:
        sent.append(params)
        return {"content": [{"type": "text", "text": "ok"}]}

    fw = Firewall(_policy(tmp_path), forward, limits=limits)
    fw.identities.shared = shared
    b = fw.targets.bindings
    b.bind(Binding("c-prod", "10.0.0.1", 22, "u", "prod"))
    b.bind(Binding("c-stage", "10.0.0.2", 22, "u", "staging"))
    b.bind(Binding("c-old", "10.0.0.1", 22, "u", "prod"))  # re-learned: nobody's
    b.own("connection", "c-prod", "alice")
    b.own("connection", "c-stage", "oncall")
    b.bind_session("s1", "c-prod")  # its id could not be read: it is its connection's
    return fw, sent


def _call(fw: Firewall, who: str, tool: str, **arguments: Any) -> str:
    result = asyncio.run(fw.call_tool({"name": tool, "arguments": arguments}, Caller(who)))
    return "" if not result.get("isError") else result["content"][0]["text"]


def test_the_owner_uses_its_connection_and_nobody_else_does(tmp_path: Path) -> None:
    fw, sent = _firewall(tmp_path)
    assert _call(fw, "alice", "executeCommand", connectionId="c-prod", command="uptime") == ""
    refused = _call(fw, "bob", "executeCommand", connectionId="c-prod", command="uptime")
    assert refused.startswith("sshwall: denied (rule identity.not-owner)") and "`bob`" in refused
    assert "identity.not-owner" in _call(fw, "bob", "mcp_ssh_mcp_writeToTerminal", sessionId="s1", data="x")
    assert "identity.unowned" in _call(fw, "alice", "executeCommand", connectionId="c-old", command="uptime")
    assert len(sent) == 1


def test_an_operator_lists_and_stops_but_never_runs(tmp_path: Path) -> None:
    fw, _ = _firewall(tmp_path)
    assert _call(fw, "boss", "stopBackground", connectionId="c-prod") == ""
    assert _call(fw, "boss", "disconnect", connectionId="c-old") == ""
    assert _call(fw, "boss", "listConnections") == ""
    assert "identity.not-owner" in _call(fw, "boss", "executeCommand", connectionId="c-prod", command="uptime")
    assert "identity.upstream-wide" in _call(fw, "bob", "listConnections")
    assert "identity.not-owner" in _call(fw, "bob", "stopBackground", connectionId="c-prod")


def test_one_identity_gateway_refuses_nothing_on_ownership(tmp_path: Path) -> None:
    fw, _ = _firewall(tmp_path, shared=False)
    assert _call(fw, "local", "listConnections") == ""
    assert _call(fw, "local", "executeCommand", connectionId="c-old", command="uptime") == ""


def test_a_grant_narrows_tools_command_sets_and_host_groups(tmp_path: Path) -> None:
    fw, _ = _firewall(tmp_path, shared=False)
    policy = fw.policy
    wide = fw.decide("executeCommand", {"connectionId": "c", "command": "echo hi"}, identity="bob")
    assert wide.decision == Decision.ALLOW  # no grant: the policy for everyone
    narrow = fw.decide("executeCommand", {"connectionId": "c", "command": "echo hi"}, identity="narrow")
    assert narrow.decision == Decision.DENY and any(r.startswith("grants.narrow.commands:") for r in narrow.rules)
    assert fw.decide("executeCommand", {"connectionId": "c", "command": "uptime"}, identity="narrow").decision == Decision.ALLOW
    assert "grants.narrow.tools" in fw.decide("listConnections", {}, identity="narrow").rules
    assert policy.grants["oncall"].hosts == ("staging",)
    fw.targets.bindings.own("connection", "c-prod", "oncall")
    assert "grants.oncall.hosts" in _call(fw, "oncall", "executeCommand", connectionId="c-prod", command="uptime")
    assert _call(fw, "oncall", "executeCommand", connectionId="c-stage", command="uptime") == ""


def test_a_task_is_stopped_by_its_owner_or_an_operator(tmp_path: Path) -> None:
    async def run() -> list[str]:
        state = await open_state("memory://")
        policy = _policy(tmp_path)
        gov = LimitGuard(policy, state, time.time)
        fw, _ = _firewall(tmp_path, shared=False, limits=gov)
        out = []
        for who in ("alice", "bob", "boss"):
            start = await fw.call_tool({"name": "backgroundExecute", "arguments": {
                "connectionId": "c-old", "command": "uptime", "interval": 5000}}, Caller("alice"))
            assert not start.get("isError"), start
            # c-old is nobody's in the bindings (one identity gateway): the registry decides.
            stop = await fw.call_tool({"name": "stopBackground", "arguments": {"connectionId": "c-old"}}, Caller(who))
            out.append("" if not stop.get("isError") else stop["content"][0]["text"])
            if stop.get("isError"):  # clean up as its owner
                await fw.call_tool({"name": "stopBackground", "arguments": {"connectionId": "c-old"}}, Caller("alice"))
        await state.close()
        return out

    alice, bob, boss = asyncio.run(run())
    assert alice == "" and boss == ""
    assert "identity.task-owner" in bob  # the registry's identity, even on a one-identity gateway


@pytest.mark.parametrize("grant, needle", [
    ("{hosts: [nowhere]}", "unknown host groups"),
    ("{commands: nope}", "unknown command set"),
    ("{tools: [rmEverything]}", "neither the policy nor profile"),
    ("{operator: yes-please}", "operator"),
])
def test_a_bad_grant_does_not_load(tmp_path: Path, grant: str, needle: str) -> None:
    text = POLICY.replace("boss: {operator: true}", f"boss: {grant}")
    with pytest.raises(PolicyError) as err:
        _policy(tmp_path, text)
    assert needle in str(err.value)


def test_hide_denied_tools_hides_what_a_grant_leaves_out(tmp_path: Path) -> None:
    text = POLICY.replace("version: 1\n", "version: 1\n    hide_denied_tools: true\n", 1)
    fw = Firewall(_policy(tmp_path, text), None)  # type: ignore[arg-type]
    tools = [{"name": n} for n in ("executeCommand", "stopBackground", "listConnections", "disconnect")]
    assert [t["name"] for t in fw.visible_tools(tools, "narrow")] == ["executeCommand", "stopBackground"]
    assert len(fw.visible_tools(tools, "bob")) == 4 and len(fw.visible_tools(tools)) == 4
