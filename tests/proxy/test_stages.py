"""The firewall's stage pipeline, in process: a real policy, a real audit log, a real state
backend (memory), a small fake upstream and the limit guard's injectable clock.

Each failure branch of a call (audit failure, upstream error, cancellation, tool error, a bug)
is driven here and the test looks at what was undone, kept and recorded; the decision record
is checked on disk at the moment the upstream receives the call. The end-to-end runs against
real sshd are in ``tests/proxy/test_gateway_*.py`` and ``tests/governance``.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from sshwall.audit import AuditLog, verify
from sshwall.engine import Decision, Hit, Verdict
from sshwall.errors import UpstreamTimeout
from sshwall.limits import open_state
from sshwall.policy import load_policy
from sshwall.policy.model import Policy
from sshwall.proxy.bindings import Binding
from sshwall.proxy.firewall import Caller, Firewall
from sshwall.proxy.limitguard import LimitGuard
from sshwall.proxy.stages import Audit, Call, Forward, Outcome, Pipeline, Recorder, Stage
from tests.support.clock import FakeClock

POLICY = """
version: 1
profile: mcp-ssh
default: deny
hosts:
  prod: {match: [10.0.0.1], commands: tiny}
tools:
  executeCommand: {commands: ops, limits: [{counter: exec, window: minute, max: 3, scope: grant}]}
  stopBackground: allow
  backgroundExecute:
    commands: ops
    interval: {min: 30s, default: 60s}
    background: {max_active: 1, ttl: 10m}
commands:
  ops:
    programs: {uptime: {}, df: {}, sleep: {}}
  tiny:
    programs: {uptime: {}}
"""
CONN = "c-prod"


def _policy(tmp_path: Path) -> Policy:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    return load_policy(path)




class Upstream:
    """A fake upstream: records what it was sent (and the audit log as it stood then)."""

    def __init__(self, audit_path: Path | None) -> None:
        self.audit_path = audit_path
        self.sent: list[dict[str, Any]] = []
        self.seen_records: list[list[dict[str, Any]]] = []
        self.fail: BaseException | None = None
        self.tool_error = False
        self.hold: asyncio.Event | None = None
        self.entered = asyncio.Event()

    async def __call__(self, method: str, params: Any, *, client_id: Any = None) -> Any:
        self.sent.append(params)
        self.seen_records.append(_records(self.audit_path) if self.audit_path else [])
        self.entered.set()
        if self.hold is not None:
            await self.hold.wait()
        if self.fail is not None:
            raise self.fail
        name = params["name"]
        if name == "backgroundExecute":
            args = params["arguments"]
            text = f"已在后台启动命令: {args['command']}\n间隔: {args['interval'] / 1000:g}秒"
        else:
            text = "ok"
        return {"content": [{"type": "text", "text": text}], "isError": self.tool_error}


def _records(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class Rig:
    """A firewall over a memory state, an audit log in ``tmp_path`` and the fake upstream."""

    def __init__(self, tmp_path: Path, audit_path: str | None = None) -> None:
        self.tmp_path = tmp_path
        self.policy = _policy(tmp_path)
        self.audit_path = Path(audit_path) if audit_path else tmp_path / "audit.jsonl"
        self.clock = FakeClock()

    async def __aenter__(self) -> Rig:
        self.state = await open_state("memory://")
        self.audit = AuditLog(self.audit_path, fsync=False)
        self.upstream = Upstream(self.audit_path if self.audit_path.is_file() else None)
        self.limits = LimitGuard(self.policy, self.state, self.clock)
        self.firewall = Firewall(self.policy, self.upstream, self.audit, self.limits)
        self.firewall.targets.bindings.bind(Binding(CONN, "10.0.0.1", 22, "ops", "prod"))
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.audit.close()
        await self.state.close()

    async def call(self, tool: str, request_id: Any = None, **arguments: Any) -> dict[str, Any]:
        return await self.firewall.call_tool({"name": tool, "arguments": arguments}, Caller("test"), request_id)

    async def start(self, request_id: Any = None, **extra: Any) -> dict[str, Any]:
        return await self.call("backgroundExecute", request_id, connectionId=CONN, command="uptime", **extra)

    async def tasks(self) -> list[str]:
        return [t.connection_id for t in await self.state.tasks.active()]

    def records(self) -> list[dict[str, Any]]:
        return _records(self.audit_path)


def _text(result: dict[str, Any]) -> str:
    return str(result["content"][0]["text"])


def test_the_decision_record_is_on_disk_when_the_upstream_gets_the_call(tmp_path: Path) -> None:
    async def go() -> None:
        async with Rig(tmp_path) as rig:
            result = await rig.call("executeCommand", 7, connectionId=CONN, command="uptime")
            assert _text(result) == "ok"
            (seen,) = rig.upstream.seen_records
            assert [(r["kind"], r["request_id"], r["upstream"]) for r in seen] == [("decision", 7, "pending")]
            kinds = [(r["kind"], r.get("ref"), r["upstream"]) for r in rig.records()]
            assert kinds == [("decision", None, "pending"), ("outcome", 1, "ok")]
    asyncio.run(go())
    assert verify(tmp_path / "audit.jsonl").ok


def test_a_denied_call_is_recorded_and_never_sent(tmp_path: Path) -> None:
    async def go() -> None:
        async with Rig(tmp_path) as rig:
            # `df` is in the tool's set, not in the host group's: the group's set decides.
            result = await rig.call("executeCommand", connectionId=CONN, command="df -h")
            assert result["isError"] and _text(result).startswith("sshwall: denied (rule tiny.")
            assert rig.upstream.sent == []
            assert [(r["kind"], r["upstream"]) for r in rig.records()] == [("decision", "not-forwarded")]
    asyncio.run(go())


def test_an_audit_failure_denies_sends_nothing_and_undoes_the_task(tmp_path: Path) -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")

    async def go() -> None:
        async with Rig(tmp_path, "/dev/full") as rig:
            result = await rig.start()
            assert result["isError"] and _text(result).startswith("sshwall: denied (rule audit.unavailable)")
            assert rig.upstream.sent == []
            assert await rig.tasks() == []  # the task the limit guard registered is forgotten
    asyncio.run(go())


def test_a_closed_audit_log_denies_too(tmp_path: Path) -> None:
    async def go() -> None:
        async with Rig(tmp_path) as rig:
            rig.audit.close()
            result = await rig.start()
            assert _text(result).startswith("sshwall: denied (rule audit.unavailable)")
            assert rig.upstream.sent == [] and await rig.tasks() == []
    asyncio.run(go())


def test_a_tool_error_undoes_the_task(tmp_path: Path) -> None:
    async def go() -> None:
        async with Rig(tmp_path) as rig:
            rig.upstream.tool_error = True
            result = await rig.start()
            assert result["isError"] and len(rig.upstream.sent) == 1
            assert await rig.tasks() == []
            assert rig.records()[-1]["upstream"] == "tool-error"
    asyncio.run(go())


def test_an_upstream_error_keeps_the_task_as_maybe_started(tmp_path: Path) -> None:
    async def go() -> None:
        async with Rig(tmp_path) as rig:
            rig.upstream.fail = UpstreamTimeout("upstream did not answer tools/call within 1 s")
            with pytest.raises(UpstreamTimeout):
                await rig.start()
            assert await rig.tasks() == [CONN]  # it may run: it still counts
            assert CONN in rig.limits.unsettled
            last = rig.records()[-1]
            assert (last["kind"], last["upstream"]) == ("outcome", "timeout")
    asyncio.run(go())


def test_a_cancelled_call_keeps_its_task_and_records_the_cancellation(tmp_path: Path) -> None:
    async def go() -> None:
        async with Rig(tmp_path) as rig:
            rig.upstream.hold = asyncio.Event()
            call = asyncio.create_task(rig.start(request_id=9))
            await rig.upstream.entered.wait()
            call.cancel()
            with pytest.raises(asyncio.CancelledError):
                await call
            assert await rig.tasks() == [CONN]
            mine = [(r["kind"], r["upstream"]) for r in rig.records() if r.get("request_id") == 9]
            assert mine == [("decision", "pending"), ("outcome", "cancelled")]
    asyncio.run(go())


def test_a_bug_in_the_forward_undoes_nothing_it_may_have_sent_and_is_recorded(tmp_path: Path) -> None:
    async def go() -> None:
        async with Rig(tmp_path) as rig:
            rig.upstream.fail = RuntimeError("boom")
            with pytest.raises(RuntimeError):
                await rig.start()
            assert await rig.tasks() == [CONN]  # sent: the upstream may run it
            assert rig.records()[-1]["upstream"] == "error" and "boom" in rig.records()[-1]["detail"]
    asyncio.run(go())


def test_the_default_interval_is_worked_out_once_and_the_ttl_runs_on_the_clock(tmp_path: Path) -> None:
    async def go() -> None:
        async with Rig(tmp_path) as rig:
            assert _text(await rig.start()).startswith("已在后台启动命令")
            assert rig.upstream.sent[-1]["arguments"]["interval"] == 60_000  # injected, in the argument's unit
            (task,) = await rig.state.tasks.active()
            assert task.interval_ms == 60_000 and task.expires_ms == task.started_ms + 600_000
            decision = next(r for r in rig.records() if r["kind"] == "decision")
            assert "interval" not in decision["arguments"] and decision["forwarded"]["interval"] == 60_000

            rig.clock.advance(599_000)
            assert await rig.firewall.reap_expired() == 0
            rig.clock.advance(1_000)
            assert await rig.firewall.reap_expired() == 1
            assert rig.upstream.sent[-1] == {"name": "stopBackground", "arguments": {"connectionId": CONN}}
            assert await rig.tasks() == []
            assert rig.records()[-1]["kind"] == "ttl-stop"
    asyncio.run(go())


def test_a_given_interval_below_the_minimum_is_denied_before_any_state(tmp_path: Path) -> None:
    async def go() -> None:
        async with Rig(tmp_path) as rig:
            result = await rig.start(interval=10_000)
            assert "below the minimum" in _text(result)
            assert await rig.tasks() == [] and rig.upstream.sent == []
    asyncio.run(go())


def test_a_rate_cap_denies_once_used_up(tmp_path: Path) -> None:
    async def go() -> None:
        async with Rig(tmp_path) as rig:
            for _ in range(3):
                assert not (await rig.call("executeCommand", connectionId=CONN, command="uptime")).get("isError")
            fourth = await rig.call("executeCommand", connectionId=CONN, command="uptime")
            assert _text(fourth).startswith("sshwall: denied (rule limits.exec)")
            rig.clock.advance(60_000)
            assert not (await rig.call("executeCommand", connectionId=CONN, command="uptime")).get("isError")
    asyncio.run(go())


def test_preview_decides_like_call_tool_and_changes_nothing(tmp_path: Path) -> None:
    async def go() -> None:
        async with Rig(tmp_path) as rig:
            fw = rig.firewall
            params = {"name": "executeCommand", "arguments": {"connectionId": CONN, "command": "df -h"}}
            previewed = fw.preview(params, Caller("test"))
            assert previewed.decision == Decision.DENY and previewed.rules[0].startswith("tiny.")
            # Bare evaluation (the tool's own set) would allow it: the host group's set decides.
            assert fw.decide("executeCommand", params["arguments"]).decision == Decision.ALLOW
            unknown = fw.preview({"name": "executeCommand", "arguments": {"connectionId": "elsewhere", "command": "uptime"}},
                                 Caller("test"))
            assert unknown.rules == ["hosts.unknown-connection"]
            start = {"name": "backgroundExecute", "arguments": {"connectionId": CONN, "command": "uptime"}}
            for _ in range(5):
                assert fw.preview(start, Caller("test")).decision == Decision.ALLOW
            assert rig.upstream.sent == [] and await rig.tasks() == [] and rig.records() == []
            denied = await rig.call("executeCommand", connectionId=CONN, command="df -h")
            assert json.loads(json.dumps(denied["structuredContent"]["sshwall"]))["rules"] == previewed.rules
    asyncio.run(go())


class Failing(Stage):
    """A stage whose after step raises; it must not keep the others from theirs."""

    name = "failing"

    def __init__(self, seen: list[str]) -> None:
        self.seen = seen

    async def after(self, call: Call, outcome: Outcome) -> None:
        self.seen.append(f"failing:{outcome.kind}")
        raise RuntimeError("after step bug")


class Note(Stage):
    name = "note"

    def __init__(self, seen: list[str]) -> None:
        self.seen = seen

    async def before(self, call: Call) -> Call:
        self.seen.append("before")
        return call

    async def after(self, call: Call, outcome: Outcome) -> None:
        self.seen.append(f"after:{outcome.kind}:{outcome.sent}")


def test_the_pipeline_refuses_to_send_before_auditing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="audits must come before"):
        Pipeline([Forward(Upstream(None)), Audit(_policy(tmp_path), Recorder(None))])


def test_every_stage_that_ran_gets_the_outcome_even_when_one_after_fails(tmp_path: Path) -> None:
    policy = _policy(tmp_path)
    seen: list[str] = []

    async def go() -> Any:
        allow = Verdict.of([Hit("test", Decision.ALLOW, "allowed for the test")])

        class Allow(Stage):
            async def before(self, call: Call) -> Call:
                from dataclasses import replace
                return replace(call, verdict=allow)

        upstream = Upstream(None)
        pipe = Pipeline([Allow(), Failing(seen), Note(seen), Audit(policy, Recorder(None)), Forward(upstream)])
        result = await pipe.run(Call.start(policy, {"name": "executeCommand", "arguments": {}}, Caller()))
        upstream.fail = UpstreamTimeout("slow")
        with pytest.raises(UpstreamTimeout):
            await pipe.run(Call.start(policy, {"name": "executeCommand", "arguments": {}}, Caller()))
        return result

    assert _text(asyncio.run(go())) == "ok"
    assert seen == ["before", "failing:ok", "after:ok:True", "before", "failing:upstream-error", "after:upstream-error:True"]


def test_verdict_with_deny_makes_it_stricter() -> None:
    allow = Verdict.of([Hit("a", Decision.ALLOW, "fine")])
    denied = allow.with_deny("b", "not fine")
    assert denied.decision == Decision.DENY and denied.rules == ["b"] and allow.decision == Decision.ALLOW
    assert denied.hits[0] == allow.hits[0]


def test_audit_writes_run_on_one_writer_thread_in_order(tmp_path: Path) -> None:
    threads: set[str] = set()

    def clock() -> float:
        threads.add(threading.current_thread().name)
        return 1_700_000_000.0

    path = tmp_path / "a.jsonl"

    async def go() -> None:
        with AuditLog(path, fsync=False, clock=clock) as log:
            records = await asyncio.gather(*(log.append_async({"kind": "note", "n": i}) for i in range(50)))
            assert [r.seq for r in records] == list(range(1, 51))
            log.append({"kind": "note", "n": 50})  # the synchronous append still works beside it

    asyncio.run(go())
    assert [r["n"] for r in _records(path)] == list(range(51))
    assert verify(path).ok
    assert any(t.startswith("sshwall-audit") for t in threads) and threading.main_thread().name in threads


def test_terminal_keystrokes_are_replayed_once_per_call(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    evaluate_module = importlib.import_module("sshwall.engine.evaluate")  # the package exports a function of that name
    terminal_stage = importlib.import_module("sshwall.proxy.stages.terminal")
    from sshwall.engine.keystrokes import replay

    path = tmp_path / "p.yaml"
    path.write_text("version: 1\ntools:\n  mcp_ssh_mcp_writeToTerminal: {terminal: {commands: t, allow_control: [backspace]}}\n"
                    "commands:\n  t: {programs: {ls: {}}, protected_paths: [/etc/shadow]}\n")
    replays: list[str] = []

    def counted(data: str, allowed: Any, pending: str = "") -> Any:
        replays.append(data)
        return replay(data, allowed, pending)

    monkeypatch.setattr(evaluate_module, "replay", counted)
    monkeypatch.setattr(terminal_stage, "replay", counted)
    upstream = Upstream(None)
    fw = Firewall(load_policy(path), upstream)
    fw.targets.bindings.bind(Binding("c1", "h", 22, "u", None))
    fw.targets.bindings.bind_session("s1", "c1")

    def type_(data: str) -> bool:
        params = {"name": "mcp_ssh_mcp_writeToTerminal", "arguments": {"sessionId": "s1", "data": data}}
        return not asyncio.run(fw.call_tool(params, Caller())).get("isError")

    assert type_("ls -x")
    assert type_("\x7fl\n")  # the line carried from the first call, edited: `ls -l`
    assert not type_("cat /etc/shadow\n")
    assert replays == ["ls -x", "\x7fl\n", "cat /etc/shadow\n"]
    assert [p["arguments"]["data"] for p in upstream.sent] == ["ls -x", "\x7fl\n"]


class _Slow(dict):  # type: ignore[type-arg]
    """A notice whose sanitising waits for ``gate``: it holds the writer thread up meanwhile."""

    def __init__(self, gate: threading.Event) -> None:
        super().__init__(kind="note")
        self.gate = gate

    def items(self) -> Any:
        self.gate.wait(10)
        return super().items()

    def __iter__(self) -> Any:
        self.gate.wait(10)
        return super().__iter__()


def test_a_call_cancelled_while_its_decision_is_written_is_not_sent_and_is_recorded(tmp_path: Path) -> None:
    async def go() -> None:
        async with Rig(tmp_path) as rig:
            gate = threading.Event()
            blocker = rig.audit.submit(_Slow(gate))  # the writer thread is busy until the gate opens
            call = asyncio.create_task(rig.start(request_id=5))
            for _ in range(50):
                await asyncio.sleep(0.01)
            call.cancel()
            with pytest.raises(asyncio.CancelledError):
                await call
            gate.set()
            await asyncio.wrap_future(blocker)
            for _ in range(200):
                mine = [(r["kind"], r["upstream"], r.get("detail")) for r in rig.records() if r.get("request_id") == 5]
                if len(mine) == 2:
                    break
                await asyncio.sleep(0.01)
            assert mine == [("decision", "pending", None),
                            ("outcome", "cancelled", "cancelled by the client before it was forwarded")]
            assert rig.upstream.sent == [] and await rig.tasks() == []
    asyncio.run(go())
