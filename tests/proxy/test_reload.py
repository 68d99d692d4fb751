"""Hot reload of the policy (docs/reload.md).

In process (the pattern of ``tests/proxy/test_stages.py``): a real firewall over a real audit
log and a memory state, a fake upstream that holds calls, and ``PolicyReloader`` on a real
policy file; many concurrent calls while the file changes. End to end: a real ``sshwall
serve`` (stdio, built-in backend, the session's real sshd) reloaded by SIGHUP and by a change
of its file, with a connection opened before the reloads.
"""

from __future__ import annotations

import asyncio
import os
import signal
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from sshwall.audit import AuditLog, verify
from sshwall.engine import load_checked
from sshwall.engine.examples import load_checked_layers
from sshwall.limits import open_state
from sshwall.limits.approvals import MemoryApprovals
from sshwall.proxy.bindings import Binding
from sshwall.proxy.firewall import Caller, Firewall
from sshwall.proxy.limitguard import LimitGuard
from sshwall.proxy.reload import PolicyReloader
from tests.proxy.gateway import RawGateway, Reply, audit_records, serve_argv, upstream_command
from tests.support.clock import FakeClock
from tests.support.sshd import SshdServer

CAP = 12


def policy_text(programs: str, *, hosts: str = "", examples: str = "", cap: int = CAP) -> str:
    """A policy: ``executeCommand`` runs the ``ops`` programs, at most ``cap`` per connection and
    hour; ``hosts``: a host group ``prod`` matching that address (none: no host rules)."""
    text = textwrap.dedent(f"""\
        version: 1
        profile: mcp-ssh
        default: deny
        tools:
          executeCommand:
            commands: ops
            limits: [{{counter: exec, window: hour, max: {cap}, scope: connection}}]
        commands:
          ops:
            programs: {{{programs}}}
        """)
    if hosts:
        text += f"hosts:\n  prod: {{match: [{hosts}]}}\n"
    return text + examples


A = policy_text("uptime: {}, df: {}")
B = policy_text("uptime: {}")
ALLOWS = {"A": {"uptime", "df"}, "B": {"uptime"}}


class HoldingUpstream:
    """A fake upstream that holds every call until ``release``."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.gate = asyncio.Event()

    async def __call__(self, method: str, params: Any, *, client_id: Any = None) -> Any:
        self.sent.append(params)
        await self.gate.wait()
        return {"content": [{"type": "text", "text": "ok"}], "isError": False}


class Rig:
    """A firewall on a policy file, with its reloader."""

    def __init__(self, tmp_path: Path, text: str) -> None:
        self.path = tmp_path / "policy.yaml"
        self.path.write_text(text)
        self.audit_path = tmp_path / "audit.jsonl"

    async def __aenter__(self) -> Rig:
        policy = load_checked(self.path)
        self.state = await open_state("memory://")
        self.audit = AuditLog(self.audit_path, fsync=False)
        self.upstream = HoldingUpstream()
        self.store = MemoryApprovals()
        self.firewall = Firewall(policy, self.upstream, self.audit, LimitGuard(policy, self.state, FakeClock()),
                                 approvals=self.store)
        self.reloader = PolicyReloader(self.firewall, self.path, load_checked_layers)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.audit.close()
        await self.state.close()

    async def call(self, request_id: int, command: str, conn: str = "cap") -> dict[str, Any]:
        params = {"name": "executeCommand", "arguments": {"connectionId": conn, "command": command}}
        return await self.firewall.call_tool(params, Caller("test"), request_id)

    def write(self, text: str) -> None:
        self.path.write_text(text)

    def records(self) -> list[dict[str, Any]]:
        self.audit.close()
        self.audit = AuditLog(self.audit_path, fsync=False)
        return audit_records(self.audit_path)


async def until(check: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.005)


def reloads(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if r["kind"] == "policy-reload"]


def test_a_reload_under_load_loses_no_call_mixes_no_policy_and_keeps_the_counters(tmp_path: Path) -> None:
    async def go() -> None:
        async with Rig(tmp_path, A) as rig:
            rev_a = rig.firewall.policy.revision
            # Under A: 8 calls on the capped connection, all let through and held upstream.
            first = [asyncio.create_task(rig.call(i, "uptime")) for i in range(8)]
            await until(lambda: len(rig.upstream.sent) == 8)
            rig.write(B)

            async def stream() -> list[asyncio.Task[dict[str, Any]]]:  # calls while the reload runs
                tasks = []
                for i in range(100, 160):
                    tasks.append(asyncio.create_task(rig.call(i, "df" if i % 2 else "uptime", conn=f"mix-{i}")))
                    await asyncio.sleep(0.001)
                return tasks

            mixed, swapped = await asyncio.gather(stream(), rig.reloader.reload("test"))
            assert swapped
            rev_b = rig.firewall.policy.revision
            assert rev_b != rev_a
            # Under B: 10 more on the capped connection; 4 slots are left of 12.
            after = [asyncio.create_task(rig.call(i, "uptime")) for i in range(200, 210)]
            await asyncio.sleep(0.05)
            rig.upstream.gate.set()
            results = await asyncio.gather(*first, *mixed, *after)

            assert len(results) == 8 + 60 + 10  # no call lost
            records = rig.records()
            assert verify(rig.audit_path).ok
            decisions = {r["request_id"]: r for r in records if r["kind"] == "decision"}
            assert sorted(decisions) == sorted([*range(8), *range(100, 160), *range(200, 210)])
            names = {rev_a: "A", rev_b: "B"}
            for rec in decisions.values():
                policy = names[rec["policy"]]  # every record names one of the two revisions
                command = rec["arguments"]["command"]
                if rec["decision"] == "allow":
                    assert command in ALLOWS[policy], rec
                else:  # denied by its own policy, or by the cap
                    assert command not in ALLOWS[policy] or "limits.exec" in rec["rules"], rec
            assert {decisions[i]["policy"] for i in range(8)} == {rev_a}
            assert {decisions[i]["policy"] for i in range(200, 210)} == {rev_b}
            # Each outcome names the revision its decision was made under (held across the swap).
            by_seq = {r["seq"]: r for r in records}
            outcomes = [r for r in records if r["kind"] == "outcome"]
            assert len(outcomes) == sum(1 for r in decisions.values() if r["decision"] == "allow")
            for out in outcomes:
                assert out["policy"] == by_seq[out["ref"]]["policy"]
            assert all(by_seq[o["ref"]]["policy"] == rev_a for o in outcomes if o["request_id"] in range(8))
            # The cap: exactly 12 on the capped connection, across both policies.
            capped = [decisions[i] for i in [*range(8), *range(200, 210)]]
            assert sum(r["decision"] == "allow" for r in capped) == CAP
            assert sum(r["decision"] == "allow" for r in capped if r["policy"] == rev_b) == CAP - 8
            sent_capped = [p for p in rig.upstream.sent if p["arguments"]["connectionId"] == "cap"]
            assert len(sent_capped) == CAP
            # The reload's record, between the two.
            (mark,) = reloads(records)
            assert mark["ok"] is True and mark["old"] == rev_a and mark["new"] == rev_b == mark["policy"]
            assert mark["files"][0] == str(rig.path) and any(f.endswith("mcp-ssh.yaml") for f in mark["files"])
            assert all(decisions[i]["seq"] > mark["seq"] for i in range(200, 210))

    asyncio.run(go())


def test_a_broken_policy_is_refused_and_the_old_one_keeps_deciding(tmp_path: Path) -> None:
    async def go() -> None:
        async with Rig(tmp_path, A) as rig:
            rig.upstream.gate.set()
            rev_a = rig.firewall.policy.revision
            failing = A + textwrap.dedent("""\
                examples:
                  - {tool: executeCommand, arguments: {connectionId: c1, command: df}, expect: deny}
                """)
            for broken in ("tools: [unclosed\n", B.replace("version: 1", "version: 1\nno_such_field: 1"), failing):
                rig.write(broken)
                assert rig.reloader.changed()
                assert not await rig.reloader.reload("test")
                assert not rig.reloader.changed()  # not tried again until it changes again
                assert rig.firewall.policy.revision == rev_a
                result = await rig.call(len(broken), "df")  # A still decides: df is allowed
                assert not result["isError"], result
            records = rig.records()
            refused = reloads(records)
            assert [r["ok"] for r in refused] == [False, False, False]
            assert all(r["policy"] == rev_a and r["error"] and "old" not in r for r in refused)
            assert "example" in refused[2]["error"]
            assert {r["policy"] for r in records if r["kind"] in ("decision", "outcome")} == {rev_a}
            rig.write(B)
            assert await rig.reloader.reload("fixed")
            assert (await rig.call(1, "df"))["isError"]
            assert verify(rig.audit_path).ok

    asyncio.run(go())


def test_the_watcher_reloads_when_the_file_changes(tmp_path: Path) -> None:
    async def go() -> None:
        async with Rig(tmp_path, A) as rig:
            rev_a = rig.firewall.policy.revision
            watcher = asyncio.create_task(rig.reloader.watch(every_s=0.05))
            try:
                await asyncio.sleep(0.2)
                assert rig.firewall.policy.revision == rev_a  # nothing changed, nothing reloaded
                rig.write(B)
                await until(lambda: rig.firewall.policy.revision != rev_a, timeout=2)
                replacement = rig.path.with_suffix(".new")  # an editor's rename over the file
                replacement.write_text(A)
                os.replace(replacement, rig.path)
                await until(lambda: rig.firewall.policy.revision == rev_a, timeout=2)
            finally:
                watcher.cancel()
            assert [r["reason"] for r in reloads(rig.records())] == ["file changed", "file changed"]

    asyncio.run(go())


def test_every_layer_is_watched(tmp_path: Path) -> None:
    async def go() -> None:
        base = tmp_path / "base.yaml"
        base.write_text(A)
        async with Rig(tmp_path, "extends: [./base.yaml]\n") as rig:
            rig.reloader = PolicyReloader(rig.firewall, rig.path, load_checked_layers,
                                          files=load_checked_layers(rig.path).files)
            assert base.resolve() in rig.reloader.watched
            rev_a = rig.firewall.policy.revision
            watcher = asyncio.create_task(rig.reloader.watch(every_s=0.05))
            try:
                base.write_text(B)  # the layer, not the file given to --rules
                await until(lambda: rig.firewall.policy.revision != rev_a, timeout=2)
                assert (await asyncio.wait_for(rig.call(1, "df"), 5))["isError"]
                layer2 = tmp_path / "more.yaml"  # a layer added is watched from then on
                layer2.write_text("tools: {executeCommand: {commands: ops}}\ncommands: {ops: {programs: {df: {}}}}\n")
                rig.write("extends: [./base.yaml, ./more.yaml]\n")
                await until(lambda: layer2.resolve() in rig.reloader.watched, timeout=2)
            finally:
                watcher.cancel()
            assert [r["ok"] for r in reloads(rig.records())] == [True, True]

    asyncio.run(go())


def test_state_carries_over_and_bindings_follow_the_new_host_rules(tmp_path: Path) -> None:
    async def go() -> None:
        async with Rig(tmp_path, policy_text("uptime: {}", hosts="10.0.0.1")) as rig:
            rig.upstream.gate.set()
            fw = rig.firewall
            fw.targets.bindings.bind(Binding("c-prod", "10.0.0.1", 22, "ops", "prod"))
            assert (await rig.call(1, "df", "c-prod"))["isError"]
            await rig.call(2, "uptime", "c-prod")  # builds the pipeline (and the approval guard)
            old = fw.current
            rig.write(policy_text("uptime: {}, df: {}", hosts="10.0.0.1"))
            assert await rig.reloader.reload("test")
            new = fw.current
            # State is the same objects; what holds only the policy is new.
            assert new.targets.bindings is old.targets.bindings and new.targets is not old.targets
            assert new.pure.terminal is old.pure.terminal and new.pure.decide is not old.pure.decide
            assert new.limits is not None and old.limits is not None and new.limits.state is old.limits.state
            assert new.approvals.store is old.approvals.store and new.approvals._waiting is old.approvals._waiting
            assert new.pipeline is not old.pipeline
            # The connection opened before is still bound, under the new commands.
            assert not (await rig.call(3, "df", "c-prod"))["isError"]
            # Host rules that no longer take its host: its calls are refused, not let through.
            rig.write(policy_text("uptime: {}, df: {}", hosts="10.0.0.2"))
            assert await rig.reloader.reload("test")
            refused = await rig.call(4, "uptime", "c-prod")
            assert refused["isError"] and "hosts.reloaded" in refused["content"][0]["text"]
            rig.write(policy_text("uptime: {}, df: {}", hosts="10.0.0.1"))
            assert await rig.reloader.reload("test")
            assert not (await rig.call(5, "uptime", "c-prod"))["isError"]

    asyncio.run(go())


def test_a_call_waiting_for_approval_goes_on_under_its_policy_after_a_reload(tmp_path: Path) -> None:
    gated = "approval: {channels: [queue], timeout: 10, approvers: [lead]}\n"
    async def go() -> None:
        async with Rig(tmp_path, policy_text("uptime: {}, reboot: {decision: prompt}") + gated) as rig:
            rig.upstream.gate.set()
            rig.firewall.approval_guard.queue_reachable = True  # as with an HTTP listener serving /approvals
            rev_a = rig.firewall.policy.revision
            waiting = asyncio.create_task(rig.call(1, "reboot"))
            await until(lambda: bool(rig.firewall.approval_guard._waiting))
            rig.write(policy_text("uptime: {}, df: {}, reboot: {decision: prompt}") + gated)
            assert await rig.reloader.reload("test")
            (request,) = await rig.store.list(("pending",))
            await rig.store.answer(request.id, True, "lead", "test")
            result = await asyncio.wait_for(waiting, 5)
            assert not result["isError"], result
            second = asyncio.create_task(rig.call(2, "reboot"))  # waits under the new policy...
            await until(lambda: bool(rig.firewall.approval_guard._waiting))
            assert await rig.firewall.void_pending() == 1  # ...and the gateway's stop voids it
            assert (await asyncio.wait_for(second, 5))["isError"]
            decisions = {r["request_id"]: r for r in rig.records() if r["kind"] == "decision"}
            assert decisions[1]["policy"] == rev_a and decisions[1]["decision"] == "allow"
            assert decisions[2]["policy"] == rig.firewall.policy.revision != rev_a

    asyncio.run(go())


# -- end to end ---------------------------------------------------------------------------------


def e2e_policy(sshd: SshdServer, programs: str) -> str:
    return textwrap.dedent(f"""\
        version: 1
        profile: mcp-ssh
        default: deny
        hosts:
          lab: {{match: [127.0.0.1], users: [{sshd.user}], ports: [{sshd.port}]}}
        tools:
          connect: allow
          executeCommand: {{commands: ops}}
        commands:
          ops:
            programs: {{{programs}}}
        """)


def same_size(a: str, b: str) -> tuple[str, str]:
    """``a`` and ``b`` padded (a comment) to one length."""
    n = max(len(a), len(b))
    return a.rstrip("\n") + "\n" + "#" * (n - len(a)) + "\n", b.rstrip("\n") + "\n" + "#" * (n - len(b)) + "\n"


def call(gw: RawGateway, name: str, arguments: dict[str, Any]) -> Reply:
    answer = gw.request("tools/call", {"name": name, "arguments": arguments}, timeout=60)
    result = answer["result"]
    text = "\n".join(c.get("text", "") for c in result.get("content", []) if isinstance(c, dict))
    return Reply(text, result.get("structuredContent"), bool(result.get("isError")))


def wait_record(path: Path, count: int, timeout: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        found = reloads(audit_records(path))
        if len(found) >= count:
            return found
        assert time.monotonic() < deadline, f"no policy-reload record #{count} within {timeout} s"
        time.sleep(0.05)


@pytest.mark.skipif(upstream_command() is not None, reason="runs the built-in backend")
def test_serve_reloads_on_sighup_and_on_a_file_change(sshd: SshdServer, upstream: list[str], tmp_path: Path) -> None:
    rules, audit = tmp_path / "policy.yaml", tmp_path / "audit.jsonl"
    text_a, text_b = same_size(e2e_policy(sshd, "uptime: {}, 'true': {}"), e2e_policy(sshd, "'true': {}"))
    rules.write_text(text_a)
    gw = RawGateway(serve_argv(rules, audit, upstream), tmp_path / "gateway.log")
    try:
        gw.initialize()
        conn = call(gw, "connect", {"host": "127.0.0.1", "port": sshd.port, "username": sshd.user,
                                    "privateKey": sshd.client_key_text}).find_id("connectionId")
        assert not call(gw, "executeCommand", {"connectionId": conn, "command": "uptime"}).is_error
        # B in place with A's size and times: only SIGHUP can tell the gateway.
        st = rules.stat()
        with rules.open("r+") as f:
            f.write(text_b)
        os.utime(rules, ns=(st.st_atime_ns, st.st_mtime_ns))
        time.sleep(1.5)
        assert reloads(audit_records(audit)) == []
        started = time.monotonic()
        os.kill(gw.proc.pid, signal.SIGHUP)
        (hup,) = wait_record(audit, 1, timeout=2)
        assert time.monotonic() - started < 2 and hup["ok"] and hup["reason"] == "SIGHUP"
        denied = call(gw, "executeCommand", {"connectionId": conn, "command": "uptime"})
        assert denied.denied and "hosts." not in denied.first_line  # B's commands, on a still-bound connection
        assert not call(gw, "executeCommand", {"connectionId": conn, "command": "true"}).is_error
        # A broken file: refused, B keeps deciding.
        rules.write_text("tools: [unclosed\n")
        refused = wait_record(audit, 2, timeout=2)[1]
        assert not refused["ok"] and refused["error"] and refused["policy"] == hup["new"]
        assert not call(gw, "executeCommand", {"connectionId": conn, "command": "true"}).is_error
        # A again, written normally: the watcher sees it within about a second.
        rules.write_text(text_a)
        started = time.monotonic()
        changed = wait_record(audit, 3, timeout=2.5)[2]
        assert time.monotonic() - started < 2.5
        assert changed["ok"] and changed["reason"] == "file changed" and changed["new"] == hup["old"]
        assert not call(gw, "executeCommand", {"connectionId": conn, "command": "uptime"}).is_error
    finally:
        gw.close()
    records = audit_records(audit)
    assert verify(audit).ok
    revs = [r["policy"] for r in records if r["kind"] == "decision"]
    assert revs == [hup["old"], hup["old"], hup["new"], hup["new"], hup["new"], changed["new"]]
    assert all("policy" in r for r in records)
